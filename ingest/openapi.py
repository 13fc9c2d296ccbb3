"""The ingest API described as OpenAPI 3.1, served at /openapi.json.

The article schema is generated from ``ArticleIn`` (pydantic emits JSON Schema 2020-12, which
OpenAPI 3.1 uses as is), so the description follows the validation; tests check the document
is valid and that every route of the app appears in it.
"""

from __future__ import annotations

from typing import Any

from ingest.parsing import HTML_TYPES, JSON_TYPES, NDJSON_TYPES, TEXT_QUERY_FIELDS, TEXT_TYPES
from shared.article import ARTICLE_ID_PATTERN
from shared.http import PROBLEM_RESPONSE, PROBLEM_SCHEMA
from shared.schema import ArticleIn
from shared.tasks import ARTICLE_QUEUES

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_JSON = "application/json"

# What the validators add to the generated schema, so that the description accepts and refuses
# what the service does (tests/test_fuzz_api.py checks both ways with generated requests).
# Strings are stripped first (str_strip_whitespace): pydantic-core strips Unicode White_Space.
_SPACE = r"\t-\r\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{_SPACE}]"
# ArticleIn._http_url: blank, or an absolute http(s) URL.
HTTP_URL = f"^[{_SPACE}]*([Hh][Tt][Tt][Pp][Ss]?://[^/?#{_SPACE}]|$)"
# ArticleIn._lower_language strips with str.strip() (which also takes \x1c-\x1f) and
# lower-cases before the pattern applies.
_PY_SPACE = _SPACE.replace(r"\x20", r"\x1c-\x20")
LANGUAGE = f"^[{_PY_SPACE}]*[A-Za-z]{{2,3}}[{_PY_SPACE}]*$"


def _string_branch(field: dict[str, Any]) -> dict[str, Any]:
    """The string schema of an optional field (pydantic writes ``anyOf: [string, null]``)."""
    return next((s for s in field.get("anyOf", [field]) if s.get("type") == "string"), field)


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
    properties = schema["properties"]
    for field in ("body", "html"):
        _string_branch(properties[field])["pattern"] = NOT_BLANK
    _string_branch(properties["url"])["pattern"] = HTTP_URL
    _string_branch(properties["language"])["pattern"] = LANGUAGE
    # Present and not null: ArticleIn._text_or_page treats a null body as a missing one.
    schema["anyOf"] = [
        {"required": [field], "properties": {field: {"type": "string"}}}
        for field in ("body", "html")
    ]
    return schema


def _text_body(description: str) -> dict[str, Any]:
    schema = {"type": "string", "minLength": 1, "pattern": NOT_BLANK, "description": description}
    return {"schema": schema}


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
            "listed in `rejected`; when none is valid the answer is 422. An article an "
            "admin took down is refused the same way, with the takedown's reason (`rejected` "
            "items with `id` and `taken_down`), until the takedown is lifted; when every valid "
            "article was taken down the answer is 409."
        ),
        "parameters": [
            {
                "name": "queue",
                "in": "query",
                "description": "live (default) or bulk: archive loads go to the bulk queue, so "
                "articles posted as they happen never wait behind them",
                "schema": {"type": "string", "enum": list(ARTICLE_QUEUES)},
            },
            *(
                {
                    "name": field,
                    "in": "query",
                    "description": f"{field} of a text/plain or text/html post",
                    # Validated as the Article's field; several authors: one ';'-separated string.
                    "schema": (
                        {"type": "string"}
                        if field == "authors"
                        else _string_branch(article_schema()["properties"][field])
                    ),
                }
                for field in TEXT_QUERY_FIELDS
            ),
        ],
        "requestBody": {"required": True, "content": content},
        "responses": {
            "202": {
                "description": "Queued",
                "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Accepted"}}},
            },
            **dict.fromkeys(
                ("400", "401", "403", "409", "413", "415", "422", "429", "503"), _PROBLEM
            ),
        },
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Newsroom ingest API",
            "version": "1",
            "description": "Post articles; follow each one until it is searchable. "
            "Errors are application/problem+json.\n\n"
            "Every operation but `/`, `/healthz` and `/openapi.json` needs an API token "
            "(`Authorization: Bearer <token>`): an ingest token, or the token of an editor "
            "or an admin. Only a local run with no ingest token and no shared key, outside "
            'production, is open to anonymous requests (`/healthz` says `"auth": "open"`).',
        },
        "security": [{"bearer": []}, {"apiKey": []}],
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
                            "schema": {"type": "string", "pattern": ARTICLE_ID_PATTERN},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "queued, indexed or failed (with the reason)",
                            "content": {
                                _JSON: {"schema": {"$ref": "#/components/schemas/ArticleState"}}
                            },
                        },
                        # 410: taken down by an admin (the reason in `detail`).
                        **dict.fromkeys(("400", "401", "403", "404", "410", "503"), _PROBLEM),
                    },
                }
            },
            "/articles/status": {
                "post": {
                    "summary": "The states of many accepted articles at once",
                    "description": (
                        "Up to 1000 ids per request. An article whose status record has "
                        "expired is `indexed` when the index holds it; ids neither recorded "
                        "nor indexed are listed under `unknown`. `newsroom ingest --wait` "
                        "follows its articles with this."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {
                            _JSON: {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "ids": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": 1000,
                                            "items": {
                                                "type": "string",
                                                "pattern": ARTICLE_ID_PATTERN,
                                            },
                                        }
                                    },
                                    "required": ["ids"],
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The states found, in the order asked",
                            "content": {
                                _JSON: {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "articles": {
                                                "type": "array",
                                                "items": {
                                                    "$ref": "#/components/schemas/ArticleState"
                                                },
                                            },
                                            "unknown": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                            },
                                        },
                                        "required": ["articles", "unknown"],
                                    }
                                }
                            },
                        },
                        **dict.fromkeys(("400", "401", "403", "503"), _PROBLEM),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics of the whole pipeline",
                    "description": (
                        "Text exposition format 0.0.4. The counters and histograms are "
                        "pipeline-wide (kept in Redis by every ingest and web process and every "
                        "worker), so web's /metrics shows the same ones: scrape one of them for "
                        "those. Gauges (queue depth, workers, dead letters, index size) are "
                        "read on each scrape. Needs a token like every other operation "
                        "(Prometheus: `authorization: {credentials_file: ...}`)."
                    ),
                    "responses": {
                        "200": {
                            "description": "The metrics",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **dict.fromkeys(("401", "403", "503"), _PROBLEM),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Whether Redis and Elasticsearch answer, and whether requests "
                    "need credentials (`auth`: required or open)",
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
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token, shown once when created (`newsroom tokens "
                    "add`): an ingest client's, or an editor's or an admin's (a reader's "
                    "gets 403). Revoked tokens are refused at once.",
                },
                "apiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "Deprecated: the shared key NEWSROOM_INGEST_API_KEY (also "
                    "accepted as a bearer token), while it is set; answers carry a "
                    "`Deprecation` header. Use a token.",
                },
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
                "Problem": PROBLEM_SCHEMA,
            },
            "responses": {"Problem": PROBLEM_RESPONSE},
        },
    }
