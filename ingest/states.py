"""``POST /articles/status``: where many articles stand, in two round trips whatever their
number (one Redis pipeline, then one ``_mget`` for those whose status record has expired).

`newsroom ingest --wait` follows thousands of articles with it instead of one GET each.
"""

from __future__ import annotations

from typing import Any

import redis
from elasticsearch import ApiError as ESApiError
from elasticsearch import Elasticsearch

from shared.article import is_article_id
from shared.http import ApiError
from shared.status import get_states

MAX_IDS = 1000


def parse_ids(body: Any) -> list[str]:
    """The ids of a ``{"ids": [...]}`` body, each once, in order; ``ApiError(400)`` otherwise."""
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids:
        raise ApiError(400, "Invalid body", 'send a JSON object {"ids": ["<article id>", ...]}')
    if len(ids) > MAX_IDS:
        raise ApiError(400, "Too many ids", f"at most {MAX_IDS} ids per request")
    bad = [
        i for i, value in enumerate(ids) if not isinstance(value, str) or not is_article_id(value)
    ]
    if bad:
        raise ApiError(
            400,
            "Invalid id",
            f"ids[{bad[0]}]: an article id is 32 lowercase hexadecimal characters",
            index=bad[0],
        )
    return list(dict.fromkeys(ids))


def lookup_states(
    ids: list[str], *, redis_client: redis.Redis, es: Elasticsearch, prefix: str, alias: str
) -> dict[str, Any]:
    """``{"articles": [{id, state, updated_at, error?}], "unknown": [ids]}``. Like
    ``GET /articles/<id>``, an article whose status record expired is ``indexed`` when the
    index holds it; one neither recorded nor indexed is ``unknown``."""
    found: dict[str, dict[str, Any]] = {}
    for article_id, record in zip(ids, get_states(redis_client, prefix, ids), strict=True):
        if record:
            entry: dict[str, Any] = {
                "id": article_id,
                "state": record.get("state", "queued"),
                "updated_at": record.get("updated_at") or None,
            }
            if record.get("error"):
                entry["error"] = record["error"]
            found[article_id] = entry
    missing = [article_id for article_id in ids if article_id not in found]
    if missing:
        try:
            docs = es.mget(index=alias, ids=missing, source=False)["docs"]
        except ESApiError as error:
            if error.meta.status != 404:  # 404: no index yet, so none of them is indexed
                raise
            docs = []
        for doc in docs:
            if doc.get("found"):
                found[doc["_id"]] = {"id": doc["_id"], "state": "indexed", "updated_at": None}
    return {
        "articles": [found[i] for i in ids if i in found],
        "unknown": [i for i in ids if i not in found],
    }
