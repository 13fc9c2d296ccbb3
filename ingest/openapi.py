"""The ingest API described as OpenAPI 3.1, served at /openapi.json.

The article schema is generated from ``ArticleIn`` (pydantic emits JSON Schema 2020-12, which
OpenAPI 3.1 uses as is), so the description follows the validation; tests check the document
is valid and that every route of the app appears in it.
"""

from __future__ import annotations

from typing import Any

from ingest.parsing import HTML_TYPES, JSON_TYPES, NDJSON_TYPES, TEXT_QUERY_FIELDS, TEXT_TYPES
from shared.schema import ArticleIn

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_JSON = "application/json"


def article_schema() -> dict[str, Any]:
    schema = ArticleIn.model_json_schema()
    schema["description"] = (
        "One article. `body` (plain text) or `html` (a whole page; its main text is extracted) "
        "is required. Any other field is kept as `metadata`."
    )
    # A single author may be sent as a string ("A; B" splits into two).
    schema["properties"]["authors"] = {
        "anyOf": [schema["properties"]["authors"], {"type": "string"}],
        "title": "Authors",
    }
    schema["anyOf"] = [{"required": ["body"]}, {"required": ["html"]}]
    return schema


def _text_body(description: str) -> dict[str, Any]:
    return {"schema": {"type": "string", "minLength": 1, "description": description}}


def _post_articles() -> dict[str, Any]:
    article = {"$ref": "#/components/schemas/Article"}
    content: dict[str, Any] = {}
    for mimetype in sorted(JSON_TYPES):
        content[mimetype] = {
            "schema": {"oneOf": [article, {"type": "array", "items": article, "minItems": 1}]}
        }
    for mimetype in sorted(NDJSON_TYPES):
        content[mimetype] = _text_body("one Article object per line; blank lines are ignored")
    for mimetype in sorted(TEXT_TYPES):
        content[mimetype] = _text_body(
            "the body; an optional first line `date ...` gives the publication date"
        )
    for mimetype in sorted(HTML_TYPES):
        content[mimetype] = _text_body("a whole page; the charset is detected when not declared")
    return {
        "summary": "Accept articles for enrichment and indexing",
        "description": (
            "Valid articles are queued durably before the answer (202); each gets a "
            "deterministic id (from the canonical URL, else source, title and body), so "
            "posting the same article again gives the same id. Invalid items of a batch are "
            "listed in `rejected`; when none is valid the answer is 422."
        ),
        "parameters": [
            {
                "name": field,
                "in": "query",
                "description": f"{field} of a text/plain or text/html post",
                "schema": {"type": "string"},
            }
            for field in TEXT_QUERY_FIELDS
        ],
        "requestBody": {"required": True, "content": content},
        "responses": {
            "202": {
                "description": "Queued",
                "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Accepted"}}},
            },
            **dict.fromkeys(("400", "401", "413", "415", "422", "429", "503"), _PROBLEM),
        },
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Newsroom ingest API",
            "version": "1",
            "description": "Post articles; follow each one until it is searchable. "
            "Errors are application/problem+json.",
        },
        # The key is optional when the service runs without one (local runs).
        "security": [{}, {"bearer": []}, {"apiKey": []}],
        "paths": {
            "/": {
                "get": {
                    "summary": "What this service offers",
                    "security": [{}],
                    "responses": {"200": {"description": "A short index of the endpoints"}},
                }
            },
            "/articles": {"post": _post_articles()},
            "/articles/{article_id}": {
                "get": {
                    "summary": "The state of one accepted article",
                    "parameters": [
                        {
                            "name": "article_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "queued, indexed or failed (with the reason)",
                            "content": {
                                _JSON: {"schema": {"$ref": "#/components/schemas/ArticleState"}}
                            },
                        },
                        **dict.fromkeys(("400", "401", "404", "503"), _PROBLEM),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Whether Redis and Elasticsearch answer",
                    "security": [{}],
                    "responses": {
                        "200": {"description": "Both answer"},
                        "503": {"description": "One does not"},
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [{}],
                    "responses": {"200": {"description": "OpenAPI 3.1"}},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "schemas": {
                "Article": article_schema(),
                "Accepted": {
                    "type": "object",
                    "properties": {
                        "accepted": {"type": "integer"},
                        "articles": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "string"},
                                    "state": {"const": "queued"},
                                    "status_url": {"type": "string", "format": "uri"},
                                },
                                "required": ["id", "state", "status_url"],
                            },
                        },
                        "rejected": {
                            "type": "array",
                            "description": "invalid items: `index` (JSON array, from 0) or "
                            "`line` (NDJSON, from 1) and the errors per field",
                            "items": {"type": "object"},
                        },
                    },
                    "required": ["accepted", "articles", "rejected"],
                },
                "ArticleState": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "state": {"type": "string", "enum": ["queued", "indexed", "failed"]},
                        "updated_at": {"type": ["string", "null"]},
                        "error": {"type": "string"},
                    },
                    "required": ["id", "state"],
                },
                "Problem": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "integer"},
                        "title": {"type": "string"},
                        "detail": {"type": "string"},
                    },
                    "required": ["status", "title", "detail"],
                },
            },
            "responses": {
                "Problem": {
                    "description": "What is wrong",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                }
            },
        },
    }
