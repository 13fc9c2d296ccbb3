"""The JSON API described as OpenAPI 3.1, served at /api/openapi.json.

Written by hand next to the views it describes; tests check it is valid and that every API
route appears in it, so the two cannot drift apart silently.
"""

from __future__ import annotations

from typing import Any

from web.search import FACETS, MODES, SORTS

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_ARTICLE_ID = {
    "name": "article_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}


def _query(
    name: str, description: str, schema: dict[str, Any], *, repeated: bool = False
) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "query", "description": description}
    if repeated:
        parameter |= {
            "schema": {"type": "array", "items": schema},
            "style": "form",
            "explode": True,
        }
    else:
        parameter["schema"] = schema
    return parameter


SEARCH_PARAMETERS = [
    _query(
        "q",
        'simple_query_string syntax: "phrase", -word, a | b (or OR), prefix*',
        {"type": "string", "maxLength": 1000},
    ),
    _query("page", "1-based page", {"type": "integer", "minimum": 1}),
    _query("size", "hits per page", {"type": "integer", "minimum": 1, "maximum": 100}),
    _query(
        "mode", "hybrid (default), keyword or semantic", {"type": "string", "enum": list(MODES)}
    ),
    _query(
        "sort",
        "relevance (with a recency boost), newest or oldest",
        {"type": "string", "enum": list(SORTS)},
    ),
    _query("from", "published on or after", {"type": "string", "format": "date"}),
    _query("to", "published on or before", {"type": "string", "format": "date"}),
    _query(
        "after", "next_after of the previous page (keyword paging past 10,000)", {"type": "string"}
    ),
    *[
        _query(
            name,
            f"facet filter on {field}; repeat for any of several values",
            {"type": "string"},
            repeated=True,
        )
        for name, field in FACETS.items()
    ],
]

HIT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "title": {"type": ["string", "null"]},
        "title_html": {"type": ["string", "null"], "description": "escaped, <mark> around matches"},
        "url": {"type": ["string", "null"]},
        "source": {"type": ["string", "null"]},
        "authors": {"type": "array", "items": {"type": "string"}},
        "published_at": {"type": ["string", "null"]},
        "language": {"type": ["string", "null"]},
        "dateline": {"type": ["object", "null"]},
        "word_count": {"type": ["integer", "null"]},
        "score": {"type": ["number", "null"]},
        "snippet": {"type": "string", "description": "escaped HTML, <mark> around matches"},
    },
    "required": ["id", "snippet"],
}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Newsroom search API",
            "version": "1",
            "description": (
                "Search, read and export enriched news articles. "
                "Errors are application/problem+json."
            ),
        },
        "paths": {
            "/api/search": {
                "get": {
                    "summary": "Search articles, with facets and a timeline",
                    "parameters": SEARCH_PARAMETERS,
                    "responses": {
                        "200": {
                            "description": "Results",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/SearchResults"}
                                }
                            },
                        },
                        "400": _PROBLEM,
                        "503": _PROBLEM,
                    },
                }
            },
            "/api/export": {
                "get": {
                    "summary": "Every article matching a search, streamed",
                    "parameters": [
                        _query(
                            "format",
                            "csv (lists joined by '; ') or ndjson",
                            {"type": "string", "enum": ["csv", "ndjson"]},
                        ),
                        *SEARCH_PARAMETERS,
                    ],
                    "responses": {
                        "200": {
                            "description": "The file",
                            "content": {
                                "text/csv": {"schema": {"type": "string"}},
                                "application/x-ndjson": {"schema": {"type": "string"}},
                            },
                        },
                        "400": _PROBLEM,
                    },
                }
            },
            "/api/articles/{article_id}": {
                "get": {
                    "summary": "One enriched article",
                    "parameters": [_ARTICLE_ID],
                    "responses": {
                        "200": {
                            "description": "The article",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "404": _PROBLEM,
                        "503": _PROBLEM,
                    },
                }
            },
            "/api/articles/{article_id}/related": {
                "get": {
                    "summary": "Related stories and the same story from other outlets",
                    "parameters": [_ARTICLE_ID],
                    "responses": {
                        "200": {
                            "description": "related: more_like_this; same_story: its cluster",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "related": {"type": "array", "items": HIT},
                                            "same_story": {"type": "array", "items": HIT},
                                        },
                                    }
                                }
                            },
                        },
                        "404": _PROBLEM,
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1"}},
                }
            },
        },
        "components": {
            "schemas": {
                "Hit": HIT,
                "SearchResults": {
                    "type": "object",
                    "properties": {
                        "mode": {"type": "string", "enum": list(MODES)},
                        "total": {"type": "integer"},
                        "total_relation": {"type": "string", "enum": ["eq", "gte"]},
                        "hits": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
                        "next_after": {"type": ["string", "null"]},
                        "did_you_mean": {
                            "type": ["string", "null"],
                            "description": "the query with words no article contains corrected",
                        },
                        "facets": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "value": {"type": "string"},
                                        "count": {"type": ["integer", "null"]},
                                        "selected": {"type": "boolean"},
                                    },
                                },
                            },
                        },
                        "timeline": {"type": "object"},
                    },
                    "required": ["total", "hits"],
                },
                "Problem": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "integer"},
                        "title": {"type": "string"},
                        "detail": {"type": "string"},
                        "parameter": {"type": "string"},
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
