"""The JSON API described as OpenAPI 3.1, served at /api/openapi.json.

Written by hand next to the views it describes; tests check it is valid and that every API
route appears in it, so the two cannot drift apart silently.
"""

from __future__ import annotations

from typing import Any

from shared.article import ARTICLE_ID_PATTERN
from shared.http import PROBLEM_RESPONSE, PROBLEM_SCHEMA
from shared.settings import Settings
from shared.stories import STORY_ID_PATTERN
from shared.suggest import KINDS as SUGGEST_KINDS
from web.audit_views import OPENAPI_PATHS as AUDIT_PATHS
from web.entities import KINDS as ENTITY_KINDS
from web.entities import MAX_NAME_CHARS as ENTITY_MAX_NAME_CHARS
from web.facets import FACETS
from web.params import MAX_FILTER_CHARS, MAX_FILTER_VALUES
from web.pipeline import OPENAPI_PATHS as PIPELINE_PATHS
from web.rising_views import OPENAPI_PATHS as RISING_PATHS
from web.search import MAX_QUERY_PREFIXES, MAX_RESULT_WINDOW, MODES, SORTS
from web.stories import MAX_ARTICLES as STORY_MAX_ARTICLES
from web.suggest import MAX_PREFIX_CHARS as SUGGEST_MAX_PREFIX_CHARS
from web.suggest import MAX_SIZE as SUGGEST_MAX_SIZE
from web.takedown_views import OPENAPI_PATHS as TAKEDOWN_PATHS

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_ARTICLE_ID = {
    "name": "article_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": ARTICLE_ID_PATTERN},
}
# No control character (Unicode category Cc) anywhere, and at least one character that is
# neither a control character nor one str.strip() removes.
_NOT_CONTROL = r"[^\x00-\x1f\x7f-\x9f]"
_NOT_CONTROL_OR_SPACE = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
ENTITY_NAME_PATTERN = f"^{_NOT_CONTROL}*{_NOT_CONTROL_OR_SPACE}{_NOT_CONTROL}*$"


# web.search.query_problem: at most MAX_QUERY_PREFIXES asterisks anywhere in q.
_FEW_PREFIXES = f"^[^*]*(?:[*][^*]*){{0,{MAX_QUERY_PREFIXES}}}$"


def _query(
    name: str,
    description: str,
    schema: dict[str, Any],
    *,
    repeated: bool = False,
    max_items: int | None = None,
) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "query", "description": description}
    if repeated:
        array = {"type": "array", "items": schema}
        parameter |= {
            "schema": array if max_items is None else array | {"maxItems": max_items},
            "style": "form",
            "explode": True,
        }
    else:
        parameter["schema"] = schema
    return parameter


SEARCH_PARAMETERS = [
    _query(
        "q",
        'simple_query_string syntax: "phrase", -word, a | b (or OR), prefix*. At most '
        f"{MAX_QUERY_PREFIXES} '*' (prefix operators: each expands to every word it starts); "
        "more is refused (400, Query too expensive)",
        {"type": "string", "maxLength": 1000, "pattern": _FEW_PREFIXES},
    ),
    _query("page", "1-based page", {"type": "integer", "minimum": 1, "maximum": MAX_RESULT_WINDOW}),
    _query("size", "hits per page", {"type": "integer", "minimum": 1, "maximum": 100}),
    _query(
        "mode", "hybrid (default), keyword or semantic", {"type": "string", "enum": list(MODES)}
    ),
    _query(
        "sort",
        "relevance (with a recency boost), newest or oldest",
        {"type": "string", "enum": list(SORTS)},
    ),
    _query(
        "from",
        "published on or after this day; a time of day is taken too (2025-09-30T14:00Z, UTC "
        "without an offset). Any date filter leaves out the articles without a date",
        {"type": "string", "format": "date"},
    ),
    _query(
        "to",
        "published on or before this day (the whole day); or a time, as for 'from'",
        {"type": "string", "format": "date"},
    ),
    _query(
        "when",
        "published in the past 24 hours, week (7 days), month (30 days) or year (365 days), "
        "from now to the minute; with 'from', the later bound applies",
        {"type": "string", "enum": ["24h", "week", "month", "year", ""]},
    ),
    _query(
        "undated",
        "1: only the articles without a publication date (with a date filter too: none)",
        {"type": "string", "enum": ["", "0", "1", "true", "false", "on", "off"]},
    ),
    _query(
        "exact",
        "1: the words as typed: no spelling correction, no relaxing to most of the words",
        {"type": "string", "enum": ["", "0", "1", "true", "false", "on", "off"]},
    ),
    _query(
        "after",
        "next_after of the previous page (keyword paging past 10,000; pages ungrouped)",
        {"type": "string"},
    ),
    _query(
        "group",
        "on (default): a story's matching articles listed as one hit (its story.matches), "
        "and near-duplicate copies as one (its copies and copy_sources; the articles without "
        "a story are grouped by copies alone); copies: only copies grouped; off: every article",
        {"type": "string", "enum": ["on", "copies", "off"]},
    ),
    *[
        _query(
            name,
            f"facet filter on {facet.field}; repeat for any of several values (blanks and repeats "
            "are dropped)",
            {"type": "string", "maxLength": MAX_FILTER_CHARS},
            repeated=True,
            max_items=MAX_FILTER_VALUES,
        )
        for name, facet in FACETS.items()
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
        "copies": {
            "type": ["integer", "null"],
            "description": "grouped: how many near-duplicate copies (this one included) the "
            "entry stands for; null when copies are not grouped (group=off)",
        },
        "copy_sources": {
            "type": ["integer", "null"],
            "description": "grouped: from how many distinct sources those copies come",
        },
        "story": {
            "description": "the article's story (its page: /stories/{id}); null for an article "
            "indexed before stories",
            "anyOf": [
                {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "title": {"type": ["string", "null"]},
                        "matches": {
                            "type": ["integer", "null"],
                            "description": "group=on: the story's matching articles the hit "
                            "stands for (itself included)",
                        },
                    },
                    "required": ["id"],
                },
                {"type": "null"},
            ],
        },
    },
    "required": ["id", "snippet"],
}


_NAME_COUNTS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "count": {"type": "integer"}},
        "required": ["name", "count"],
    },
}
_STORY_ARTICLE = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "title": {"type": ["string", "null"]},
        "url": {"type": ["string", "null"]},
        "source": {"type": ["string", "null"]},
        "published_at": {"type": ["string", "null"]},
        "seen_at": {"type": ["string", "null"], "description": "when its news happened"},
        "cluster_id": {"type": ["string", "null"], "description": "its near-duplicate cluster"},
        "added": {
            "type": "object",
            "description": "the people, places and quotes none of the earlier articles had",
            "properties": {
                "people": {"type": "array", "items": {"type": "string"}},
                "places": {"type": "array", "items": {"type": "string"}},
                "quotes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "speaker": {"type": ["string", "null"]},
                            "text": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
    "required": ["id", "added"],
}
# GET /api/stories/{story_id} (web/story_views.py, web/stories.py).
STORY = {
    "summary": "A story: its articles over time, by source and near-duplicate cluster",
    "description": (
        "One event reported over days by several outlets (issue 17). The articles are those "
        "of the index now (oldest first, by seen_at), the story's own and those of the stories "
        "merged into it; the lists, places and what each article added cover the first "
        f"{STORY_MAX_ARTICLES} (truncated says when there were more). An id merged into "
        "another story answers with the live story: its id in id, the id asked for in "
        "requested."
    ),
    "parameters": [
        {
            "name": "story_id",
            "in": "path",
            "required": True,
            "description": "s followed by the id of the article that started the story",
            "schema": {"type": "string", "pattern": STORY_ID_PATTERN},
        }
    ],
    "responses": {
        "200": {
            "description": "The story",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "requested": {"type": ["string", "null"]},
                            "title": {"type": ["string", "null"]},
                            "first_seen": {"type": ["string", "null"]},
                            "last_updated": {"type": ["string", "null"]},
                            "article_count": {"type": "integer"},
                            "sources": _NAME_COUNTS,
                            "source_count": {
                                "type": "integer",
                                "description": "every source (sources names the 20 most frequent)",
                            },
                            "merged": {"type": "array", "items": {"type": "string"}},
                            "coverage": {
                                "type": "object",
                                "properties": {
                                    "interval": {"type": "string"},
                                    "sources": {"type": "array", "items": {"type": "string"}},
                                    "buckets": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "date": {"type": "string"},
                                                "count": {"type": "integer"},
                                                "sources": _NAME_COUNTS,
                                            },
                                        },
                                    },
                                    "other": {"type": "array", "items": {"type": "integer"}},
                                },
                            },
                            "first_report": {"anyOf": [_STORY_ARTICLE, {"type": "null"}]},
                            "groups": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "cluster_id": {"type": ["string", "null"]},
                                        "articles": {"type": "array", "items": _STORY_ARTICLE},
                                    },
                                },
                            },
                            "quoted": _NAME_COUNTS,
                            "places": {"type": "array", "items": {"type": "object"}},
                            "articles_read": {"type": "integer"},
                            "truncated": {"type": "boolean"},
                        },
                        "required": ["id", "article_count", "groups", "truncated"],
                    }
                }
            },
        },
        "404": _PROBLEM,
        "503": _PROBLEM,
    },
}
ENTITY_PROFILE = {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "enum": list(ENTITY_KINDS)},
        "name": {"type": "string"},
        "total": {"type": "integer", "description": "articles naming it"},
        "stories_total": {
            "type": ["integer", "null"],
            "description": "their near-duplicate clusters (approximate above 3,000)",
        },
        "first_published": {"type": ["string", "null"], "format": "date"},
        "last_published": {"type": ["string", "null"], "format": "date"},
        "also_written_as": {**_NAME_COUNTS, "description": "shorter names merged (people)"},
        "longer_names": {**_NAME_COUNTS, "description": "people whose names end with this one"},
        "search": {
            "type": "object",
            "description": "facet filters for /api/search that give the same articles",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "timeline": {"type": "object"},
        "stories": {
            "type": "array",
            "description": (
                "newest first, one per near-duplicate cluster: copies (the group's size, "
                "this one included) and copy_sources (its distinct sources)"
            ),
            "items": {"$ref": "#/components/schemas/Hit"},
        },
        "cooccurring": {
            "type": "object",
            "description": "people, organisations and places named in the same articles",
            "additionalProperties": _NAME_COUNTS,
        },
        "quotes": {
            "type": "object",
            "description": "people only: quotes attributed to them, newest articles first",
            "properties": {
                "total": {"type": "integer"},
                "articles": {"type": "integer"},
                "stories": {
                    "type": ["integer", "null"],
                    "description": "the articles' near-duplicate clusters",
                },
                "items": {
                    "type": "array",
                    "description": "a quote repeated by copies of one story is listed once "
                    "(copies: the other articles)",
                    "items": {"type": "object"},
                },
            },
        },
        "locations": {
            "type": "array",
            "description": "places only: where the name points in the stories listed",
            "items": {"type": "object"},
        },
    },
    "required": ["kind", "name", "total", "timeline", "stories", "cooccurring", "search"],
}


# web.saved.check_webhook_url: blank (none), or an http(s) URL with a host, no credentials,
# a valid port and no space or control character (a private address is refused unless
# NEWSROOM_ALERTS_WEBHOOK_ALLOW_PRIVATE is on).
_PY_SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_SPACE_OR_CONTROL = r"\x00-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_URL_CHAR = f"[^{_SPACE_OR_CONTROL}]"
_HOST_CHAR = f"[^{_SPACE_OR_CONTROL}/?#@:\\[\\]]"
_WEBHOOK_URL = {
    "type": "string",
    "maxLength": 2000,
    "pattern": (
        f"^(?:[{_PY_SPACE}]*|[Hh][Tt][Tt][Pp][Ss]?://{_HOST_CHAR}+(?::[0-9]{{1,4}})?"
        f"(?:[/?#]{_URL_CHAR}*)?)$"
    ),
}
_BODY_DATE = {
    "anyOf": [
        {"type": "string", "format": "date"},
        {"type": "string", "pattern": f"^[{_PY_SPACE}]*$", "description": "blank: none"},
        {"type": "null"},
    ]
}
_FACET_VALUES = {
    "anyOf": [
        {"type": "string", "maxLength": MAX_FILTER_CHARS},
        {
            "type": "array",
            "items": {"type": "string", "maxLength": MAX_FILTER_CHARS},
            "maxItems": MAX_FILTER_VALUES,
        },
    ],
    "description": "one value or several (any of them)",
}
_SAVED_ID = {
    "name": "saved_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
}
_SEARCH_PARAMS_SCHEMA = {
    "type": "object",
    "properties": {
        "q": {"type": "string"},
        "mode": {"type": "string", "enum": list(MODES)},
        "filters": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "from": {"type": ["string", "null"], "format": "date"},
        "to": {"type": ["string", "null"], "format": "date"},
    },
}
SAVED_SEARCH = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "params": _SEARCH_PARAMS_SCHEMA,
        "mode": {
            "type": "string",
            "enum": list(MODES),
            "description": "how new articles are matched: keyword (words and filters), "
            "semantic (meaning, cosine similarity from 0.4) or hybrid (either); a search "
            "without words matches by keyword",
        },
        "created_at": {"type": "string", "format": "date-time"},
        "owner": {
            "type": ["string", "null"],
            "description": "the user who saved it (null: saved before accounts; admins only)",
        },
        "shared": {
            "type": "boolean",
            "description": "seen by every reader; else only by its owner and admins",
        },
        "may_change": {
            "type": "boolean",
            "description": "whether the asker may change or delete it (its owner, admins)",
        },
        "urls": {
            "type": "object",
            "properties": {
                "page": {"type": "string"},
                "atom": {"type": "string"},
                "json": {"type": "string"},
                "api": {"type": "string"},
            },
        },
        "webhook": {
            "type": ["object", "null"],
            "description": "only the webhook's host is shown",
            "properties": {
                "host": {"type": "string"},
                "last_delivery": {
                    "type": ["object", "null"],
                    "properties": {
                        "state": {"type": "string", "enum": ["delivered", "retrying", "failed"]},
                        "at": {"type": "string", "format": "date-time"},
                        "detail": {"type": "string"},
                    },
                },
            },
        },
        "email_alerts": {
            "type": "boolean",
            "description": "new matches are emailed to its owner's own address",
        },
        "email_delivery": {
            "type": ["object", "null"],
            "description": "the last email (one saved search's detail, with email alerts on)",
            "properties": {
                "state": {"type": "string", "enum": ["delivered", "retrying", "failed"]},
                "at": {"type": "string", "format": "date-time"},
                "detail": {"type": "string"},
            },
        },
        "spike_alerts": {
            "type": "boolean",
            "description": "its webhook (and email) is told when its matches spike "
            "(saved_search.spike events), not of every batch's matches",
        },
        "last_spike": {
            "type": ["object", "null"],
            "description": "the last spike alert (one saved search's detail, with spike alerts "
            "on): at, recent, baseline, expected, ratio, score",
            "additionalProperties": {"type": "string"},
        },
        "private_feed": {
            "type": ["object", "null"],
            "description": "its private feed URLs, which a feed reader follows without a "
            "session (one saved search's detail, for its owner and admins only)",
            "properties": {"atom": {"type": "string"}, "json": {"type": "string"}},
        },
        "match_count": {"type": "integer"},
    },
    "required": ["id", "name", "params", "mode", "created_at", "urls", "webhook"],
}
_MATCH = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "title": {"type": ["string", "null"]},
        "url": {"type": ["string", "null"]},
        "source": {"type": ["string", "null"]},
        "authors": {"type": ["array", "null"], "items": {"type": "string"}},
        "published_at": {"type": ["string", "null"]},
        "language": {"type": ["string", "null"]},
        "summary": {"type": ["string", "null"]},
        "matched_at": {"type": "string", "format": "date-time"},
    },
    "required": ["id", "matched_at"],
}
# web.saved.read_input and change: null is the same as leaving out.
_BODY_NAME = {"type": ["string", "null"], "maxLength": 100}
_BODY_WEBHOOK_URL = {"anyOf": [_WEBHOOK_URL, {"type": "null"}]}
_SHARED = {
    "type": ["boolean", "null"],
    "description": "true: every reader sees it; false or null: only its owner and admins",
}
_EMAIL_ALERTS = {
    "type": ["boolean", "null"],
    "description": "true: email new matches to the owner's own address (refused, 400, when "
    "the service sends no email or the owner has no address: `newsroom users set-email`)",
}
_SPIKE_ALERTS = {
    "type": ["boolean", "null"],
    "description": "true: after a batch it matched, its matches in the last "
    "NEWSROOM_RISING_RECENT_HOURS (by seen_at, counted by its words and filters) are scored "
    "against the NEWSROOM_RISING_BASELINE_DAYS before (shared/rising.py); a spike is POSTed to "
    "the webhook as {event: saved_search.spike, saved_search, spike: {recent, baseline, "
    "expected, ratio, score, windows}, articles}, at most once per "
    "NEWSROOM_ALERTS_SPIKE_COOLDOWN_S (and emailed, with email_alerts); the webhook and email "
    "then tell of spikes only",
}
# Writes need an account: an API token (Authorization: Bearer) or a logged-in session.
_NEEDS_ACCOUNT: list[dict[str, list[str]]] = [{"bearerToken": []}, {"session": []}]
SECURITY_SCHEMES = {
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "a user's API token (`newsroom tokens add`); its owner's role "
        "applies; an unknown, revoked or disabled one is a 401 on any route",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "session",
        "description": "a browser session from /login; its writes also send the page's "
        "csrf-token in X-CSRFToken",
    },
}
# A saved search as created or changed: with its new webhook's secret, shown only then.
_WITH_SECRET = {
    "application/json": {
        "schema": {
            "allOf": [
                SAVED_SEARCH,
                {"type": "object", "properties": {"webhook_secret": {"type": "string"}}},
            ]
        }
    }
}
_SAVED_SEARCH_PATHS: dict[str, Any] = {
    "/api/saved-searches": {
        "post": {
            "summary": "Save a search; new articles that match are alerted",
            "description": (
                "Needs an editor (a bearer token, or a logged-in session with X-CSRFToken). "
                "Private to its owner (and admins) unless shared; each user keeps at most "
                "NEWSROOM_SAVED_SEARCHES_PER_USER. "
                "Every batch of newly indexed articles is matched against each saved search; "
                "matches go to its feeds (urls.atom, urls.json) and, with a webhook_url, are "
                "POSTed there as JSON {event, saved_search: {id, name, feed_url, "
                "json_feed_url, page_url}, articles: [{id, title, url, published_at, "
                "source}]}, signed with X-Newsroom-Signature: sha256=HMAC-SHA256(body, "
                "webhook_secret), retried with backoff on 5xx, 429 and timeouts. With "
                "email_alerts, they are also emailed to the owner's own address. Each saved "
                "search has private feed URLs for its owner (private_feed in its detail). "
                "Send a JSON "
                "object, or /api/search's query parameters plus name and webhook_url. Needs "
                "words or a facet filter."
            ),
            "parameters": [
                _query(
                    "name",
                    "what to call it (at most 100 chars)",
                    {"type": "string", "maxLength": 100},
                ),
                _query("webhook_url", "http(s) URL to POST matches to", _WEBHOOK_URL),
                _query(
                    "shared",
                    "1, on, true or yes: every reader sees it (default: only you and admins)",
                    {"type": "string", "maxLength": 10},
                ),
                _query(
                    "email_alerts",
                    "1, on, true or yes: email new matches to your own address",
                    {"type": "string", "maxLength": 10},
                ),
                _query(
                    "spike_alerts",
                    "1, on, true or yes: tell the webhook (and email) when the matches spike, not "
                    "of every match",
                    {"type": "string", "maxLength": 10},
                ),
                *[p for p in SEARCH_PARAMETERS if p["name"] in ("q", "mode", "from", "to")],
                *[p for p in SEARCH_PARAMETERS if p["name"] in FACETS],
            ],
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                # web.saved.read_input: null is the same as leaving out.
                                "name": _BODY_NAME,
                                "q": {
                                    "type": ["string", "null"],
                                    "maxLength": 1000,
                                    "pattern": _FEW_PREFIXES,
                                },
                                "mode": {"enum": [*MODES, None]},
                                "from": _BODY_DATE,
                                "to": _BODY_DATE,
                                "filters": {
                                    "type": ["object", "null"],
                                    "propertyNames": {"enum": list(FACETS)},
                                    "additionalProperties": _FACET_VALUES,
                                },
                                # Facets may also stand at the top level.
                                **dict.fromkeys(FACETS, _FACET_VALUES),
                                "webhook_url": _BODY_WEBHOOK_URL,
                                "shared": _SHARED,
                                "email_alerts": _EMAIL_ALERTS,
                                "spike_alerts": _SPIKE_ALERTS,
                            },
                            "additionalProperties": False,
                        }
                    }
                },
            },
            "security": _NEEDS_ACCOUNT,
            "responses": {
                "201": {
                    "description": "Saved. The webhook secret is shown only in this answer.",
                    "content": _WITH_SECRET,
                },
                "400": _PROBLEM,
                "401": _PROBLEM,
                "403": _PROBLEM,
                "409": _PROBLEM,
                "503": _PROBLEM,
            },
        },
        "get": {
            "summary": "The saved searches you may see (yours and the shared ones; admins: "
            "all), newest first",
            "responses": {
                "200": {
                    "description": "The saved searches",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "saved_searches": {"type": "array", "items": SAVED_SEARCH}
                                },
                            }
                        }
                    },
                },
                "503": _PROBLEM,
            },
        },
    },
    "/api/saved-searches/{saved_id}": {
        "get": {
            "summary": "One saved search with its newest matches",
            "parameters": [_SAVED_ID],
            "responses": {
                "200": {
                    "description": "The saved search",
                    "content": {
                        "application/json": {
                            "schema": {
                                "allOf": [
                                    SAVED_SEARCH,
                                    {
                                        "type": "object",
                                        "properties": {
                                            "matches": {"type": "array", "items": _MATCH}
                                        },
                                    },
                                ]
                            }
                        }
                    },
                },
                "404": _PROBLEM,
                "503": _PROBLEM,
            },
        },
        "patch": {
            "summary": "Rename, share or unshare a saved search, change its webhook, or turn "
            "its email or spike alerts on or off (its owner or an admin)",
            "parameters": [_SAVED_ID],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "name": _BODY_NAME,
                                "shared": _SHARED,
                                "webhook_url": _BODY_WEBHOOK_URL,
                                "email_alerts": _EMAIL_ALERTS,
                                "spike_alerts": _SPIKE_ALERTS,
                            },
                            "additionalProperties": False,
                        }
                    }
                },
            },
            "security": _NEEDS_ACCOUNT,
            "responses": {
                "200": {
                    "description": "Changed; a new webhook's secret is shown only here",
                    "content": _WITH_SECRET,
                },
                "400": _PROBLEM,
                "401": _PROBLEM,
                "403": _PROBLEM,
                "404": _PROBLEM,
                "503": _PROBLEM,
            },
        },
        "delete": {
            "summary": "Delete a saved search (its owner or an admin)",
            "parameters": [_SAVED_ID],
            "security": _NEEDS_ACCOUNT,
            "responses": {
                "204": {"description": "Deleted"},
                "401": _PROBLEM,
                "403": _PROBLEM,
                "404": _PROBLEM,
                "503": _PROBLEM,
            },
        },
    },
    "/api/saved-searches/{saved_id}/feed-key": {
        "post": {
            "summary": "A new private feed URL for a saved search (its owner or an admin)",
            "description": (
                "Each saved search has private feed URLs (/saved/{id}/feed/{key}.atom and "
                ".json) that a feed reader follows without a session: the key, 256 random "
                "bits, is the credential. This replaces the key: the old URLs answer 404 "
                "from now on."
            ),
            "parameters": [_SAVED_ID],
            "security": _NEEDS_ACCOUNT,
            "responses": {
                "200": {
                    "description": "The new private feed URLs",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "private_feed": {
                                        "type": "object",
                                        "properties": {
                                            "atom": {"type": "string"},
                                            "json": {"type": "string"},
                                        },
                                        "required": ["atom", "json"],
                                    }
                                },
                                "required": ["private_feed"],
                            }
                        }
                    },
                },
                "401": _PROBLEM,
                "403": _PROBLEM,
                "404": _PROBLEM,
                "503": _PROBLEM,
            },
        }
    },
}


_DEFAULT_EXPORT_MAX_ROWS: int = Settings.model_fields["export_max_rows"].default


def openapi_document(export_max_rows: int = _DEFAULT_EXPORT_MAX_ROWS) -> dict[str, Any]:
    """The document; ``export_max_rows`` is the running service's NEWSROOM_EXPORT_MAX_ROWS."""
    return _with_auth(_with_rate_limits(_document(export_max_rows)))


# The operations web/limits.py limits, and the setting of each one's limit.
RATE_LIMITED = {
    ("/api/search", "get"): "NEWSROOM_RATE_LIMIT_SEARCH",
    ("/api/export", "get"): "NEWSROOM_RATE_LIMIT_EXPORT",
    ("/api/suggest", "get"): "NEWSROOM_RATE_LIMIT_SUGGEST",
    ("/api/saved-searches", "post"): "NEWSROOM_RATE_LIMIT_SAVED",
}
_TOO_MANY: dict[str, Any] = {
    "description": "Over a rate limit, counted per user (logged in or by token) and per client "
    "address: wait the Retry-After seconds",
    "headers": {
        "Retry-After": {
            "description": "seconds until the limit's window ends",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    "content": PROBLEM_RESPONSE["content"],
}


def _with_rate_limits(document: dict[str, Any]) -> dict[str, Any]:
    """429 on the rate-limited operations (web/limits.py), each naming its setting."""
    document["components"]["responses"]["TooManyRequests"] = _TOO_MANY
    for (path, method), setting in RATE_LIMITED.items():
        operation = document["paths"][path][method]
        operation["description"] = (
            operation.get("description", "") + f" Rate limited: {setting} per user and per "
            "client address (429 with Retry-After over it)."
        ).lstrip()
        operation["responses"]["429"] = {"$ref": "#/components/responses/TooManyRequests"}
    return document


def _with_auth(document: dict[str, Any]) -> dict[str, Any]:
    """Reading is open (unless NEWSROOM_ANONYMOUS_READING is off) or by token or session; every
    operation but this document's may answer 401 (no account when one is needed, or a bad
    token), and those that need a role (``security`` of their own) 403."""
    document["security"] = [{}, *_NEEDS_ACCOUNT]
    document["components"]["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if path == "/api/openapi.json":
                operation["security"] = [{}]
                continue
            operation["responses"].setdefault("401", _PROBLEM)
            if "security" in operation:
                operation["responses"].setdefault("403", _PROBLEM)
    return document


def _document(export_max_rows: int) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Newsroom search API",
            "version": "1",
            "description": (
                "Search, read and export enriched news articles. "
                "Errors are application/problem+json. A blank number or date query parameter "
                "(page, size, limit, from, to) counts as absent, as an empty form field does. "
                "Reading needs no account unless the service turns anonymous reading off; "
                "saving searches needs an editor, the pipeline an admin: send a user's API "
                "token as Authorization: Bearer <token>."
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
                            "csv (lists joined by '; '; a cell that a spreadsheet would run as a "
                            "formula, starting with = + - @ tab or a line break, gets a ' "
                            "before it) or ndjson",
                            {"type": "string", "enum": ["csv", "ndjson"]},
                        ),
                        _query(
                            "limit",
                            "write only the first this many rows (in the search's sort). "
                            "Without it, a search matching more rows than an export writes "
                            "(the maximum here, NEWSROOM_EXPORT_MAX_ROWS; also the "
                            "X-Export-Max-Rows header) is refused: 400 Export too large",
                            {"type": "integer", "minimum": 1, "maximum": export_max_rows},
                        ),
                        *SEARCH_PARAMETERS,
                    ],
                    "responses": {
                        "200": {
                            "description": "The file, streamed. Should a page of it time out "
                            "midway, the transfer is cut off rather than the file left short.",
                            "headers": {
                                "X-Export-Rows": {
                                    "description": "rows the file holds, as matched when it "
                                    "started",
                                    "schema": {"type": "integer"},
                                },
                                "X-Export-Max-Rows": {
                                    "description": "most rows an export writes",
                                    "schema": {"type": "integer"},
                                },
                            },
                            "content": {
                                "text/csv": {"schema": {"type": "string"}},
                                "application/x-ndjson": {"schema": {"type": "string"}},
                            },
                        },
                        "400": _PROBLEM,
                        "503": _PROBLEM,
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
                        "410": _PROBLEM,  # taken down by an admin: the reason in `detail`
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
                            "description": (
                                "related: words, meaning and shared entities fused, one per "
                                "near-duplicate cluster (copies, copy_sources: the members "
                                "found and their distinct sources); "
                                "same_story: the article's own cluster"
                            ),
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "related": {
                                                "type": "array",
                                                "items": {
                                                    "allOf": [
                                                        HIT,
                                                        {
                                                            "type": "object",
                                                            "properties": {
                                                                "copies": {"type": "integer"},
                                                                "copy_sources": {"type": "integer"},
                                                            },
                                                        },
                                                    ]
                                                },
                                            },
                                            "same_story": {"type": "array", "items": HIT},
                                        },
                                    }
                                }
                            },
                        },
                        "404": _PROBLEM,
                        "410": _PROBLEM,
                    },
                }
            },
            "/api/suggest": {
                "get": {
                    "summary": "Autocomplete: titles and names completing a prefix",
                    "description": (
                        "Matches the start of a title or name, or of any later word in it "
                        "(one typo forgiven from 4 characters on). A title opens its article; "
                        "a name is meant to be searched as a phrase."
                    ),
                    "parameters": [
                        _query(
                            "q",
                            "what has been typed; empty or blank gives no suggestions",
                            {"type": "string", "maxLength": SUGGEST_MAX_PREFIX_CHARS},
                        ),
                        _query(
                            "size",
                            "most suggestions",
                            {"type": "integer", "minimum": 1, "maximum": SUGGEST_MAX_SIZE},
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "Suggestions, best first",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Suggestions"}
                                }
                            },
                        },
                        "400": _PROBLEM,
                        "503": _PROBLEM,
                    },
                }
            },
            "/api/entities/{kind}/{name}": {
                "get": {
                    "summary": "A person, organisation or place: stories, timeline, quotes",
                    "description": (
                        "Every article naming the entity (its exact name; for a person also "
                        "a shorter form of the name, such as the surname, when no other "
                        "indexed person has it: also_written_as), newest first, with a "
                        "timeline, the entities named beside it, a person's quotes and where "
                        "a place is. search: the search filters that give the same stories."
                    ),
                    "parameters": [
                        {
                            "name": "kind",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": list(ENTITY_KINDS)},
                        },
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "description": "exactly as the article's entity lists write it",
                            # web.entities.invalid_name: no control characters, not blank.
                            "schema": {
                                "type": "string",
                                "maxLength": ENTITY_MAX_NAME_CHARS,
                                "pattern": ENTITY_NAME_PATTERN,
                            },
                        },
                        _query(
                            "size",
                            "how many of the newest stories to list",
                            {"type": "integer", "minimum": 1, "maximum": 100},
                        ),
                        _query(
                            "group",
                            "on (default): copies of a story (one near-duplicate cluster) "
                            "listed once, with copies and copy_sources; off: every copy",
                            {"type": "string", "enum": ["on", "off"]},
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "The profile",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/EntityProfile"}
                                }
                            },
                        },
                        "400": _PROBLEM,
                        "404": _PROBLEM,
                        "503": _PROBLEM,
                    },
                }
            },
            **_SAVED_SEARCH_PATHS,
            **PIPELINE_PATHS,
            **AUDIT_PATHS,
            **TAKEDOWN_PATHS,
            **RISING_PATHS,
            "/api/stories/{story_id}": {"get": STORY},
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
                        "total_words": {
                            "type": "integer",
                            "description": "of the total, the articles that match the words",
                        },
                        "total_meaning_only": {
                            "type": "integer",
                            "description": "of the total, the articles found by meaning alone "
                            "(hybrid, semantic): they keep the query's phrases and exclusions",
                        },
                        "pages": {
                            "type": "integer",
                            "description": "how many pages hold hits; every page up to it "
                            "answers (hybrid and semantic list the best FUSION_DEPTH)",
                        },
                        "grouped": {
                            "type": "boolean",
                            "description": "near-duplicate copies listed as one hit",
                        },
                        "by_story": {
                            "type": "boolean",
                            "description": "a story's articles listed as one hit too (group=on)",
                        },
                        "hits": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
                        "next_after": {
                            "type": ["string", "null"],
                            "description": "cursor to the next page (keyword); the pages it "
                            "leads to list every copy (Elasticsearch's collapse cannot page by "
                            "cursor)",
                        },
                        "timed_out": {
                            "type": "boolean",
                            "description": "Elasticsearch ran out of time "
                            "(NEWSROOM_SEARCH_TIMEOUT_S): hits and counts may be incomplete",
                        },
                        "did_you_mean": {
                            "type": ["string", "null"],
                            "description": "the query with words no article contains corrected",
                        },
                        "corrected": {
                            "type": ["object", "null"],
                            "description": "fewer than 3 articles matched the words as typed "
                            "('from') and the spelling correction ('to') matched more: these "
                            "are its results (exact=1 searches the words as typed)",
                            "properties": {
                                "from": {"type": "string"},
                                "to": {"type": "string"},
                            },
                            "required": ["from", "to"],
                        },
                        "relaxed": {
                            "type": ["object", "null"],
                            "description": "fewer than 3 articles matched all the words "
                            "('all_words_total'): these results match most of the plain "
                            "words ('minimum_should_match', Elasticsearch's syntax: all of up "
                            "to 2, else 75%); phrases, -exclusions, +required words and "
                            "prefixes stay required (exact=1: all the words)",
                            "properties": {
                                "from": {"type": "string", "enum": ["all words"]},
                                "to": {"type": "string", "enum": ["most words"]},
                                "words": {"type": "array", "items": {"type": "string"}},
                                "minimum_should_match": {"type": "string"},
                                "all_words_total": {"type": "integer"},
                            },
                            "required": ["from", "to", "words"],
                        },
                        "exact": {"type": "boolean"},
                        "when": {
                            "type": ["string", "null"],
                            "enum": ["24h", "week", "month", "year", None],
                        },
                        "undated": {
                            "type": "boolean",
                            "description": "only the articles without a publication date",
                        },
                        "date_from": {
                            "type": ["string", "null"],
                            "description": "the lower date bound applied (a preset's as a time)",
                        },
                        "date_to": {"type": ["string", "null"]},
                        "facets": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "value": {"type": "string"},
                                        "label": {
                                            "type": "string",
                                            "description": "places: the name of the place "
                                            "whose GeoNames id is the value",
                                        },
                                        "count": {"type": ["integer", "null"]},
                                        "selected": {"type": "boolean"},
                                    },
                                },
                            },
                        },
                        "timeline": {
                            "type": "object",
                            "properties": {
                                "interval": {"type": "string"},
                                "buckets": {"type": "array"},
                                "without_date": {
                                    "type": ["integer", "null"],
                                    "description": "matches without a publication date, which "
                                    "no bar holds (undated=1 lists them); null under a date "
                                    "filter, which leaves them out",
                                },
                            },
                        },
                    },
                    "required": ["total", "hits"],
                },
                "Suggestions": {
                    "type": "object",
                    "properties": {
                        "query": {"type": "string"},
                        "suggestions": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "text": {"type": "string"},
                                    "kind": {"type": "string", "enum": list(SUGGEST_KINDS)},
                                    "article_id": {
                                        "type": "string",
                                        "description": "only for kind title",
                                    },
                                },
                                "required": ["text", "kind"],
                            },
                        },
                    },
                    "required": ["query", "suggestions"],
                },
                "EntityProfile": ENTITY_PROFILE,
                "Problem": PROBLEM_SCHEMA,
            },
            "responses": {"Problem": PROBLEM_RESPONSE},
        },
    }
