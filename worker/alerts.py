"""Saved-search alerts: run every saved search against a freshly indexed batch, record the
matches, and build the webhook deliveries. The Celery tasks in worker/tasks.py call these.

Elasticsearch's core distribution has no percolator, so the batch is matched the other way
round: each saved search's stored query, narrowed to the batch's ids, all in one ``_msearch``.
That costs one round trip per batch, whatever the size of the index.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import redis
from elasticsearch import Elasticsearch

from shared import accounts, rising, takedown
from shared import saved_searches as store
from shared.settings import Settings
from worker import webhook_guard as guard
from worker.webhooks import Delivered, DeliveryError, parse_url, post_json, sign

log = logging.getLogger(__name__)

# Saved searches per _msearch request (the service keeps at most alerts_max_saved).
MSEARCH_CHUNK = 100
# Ids per evaluation; a task's batch is at most 500 (ingest_task_batch_size).
IDS_CHUNK = 500
WEBHOOK_EVENT = "saved_search.matches"
SPIKE_EVENT = "saved_search.spike"
SEEN_AT = "seen_at"


@dataclass(frozen=True)
class Alert:
    search: store.SavedSearch
    articles: list[dict[str, Any]]  # newly matched, as store.match_record, oldest first


def match_body(
    search: store.SavedSearch,
    vector: Sequence[float] | None,
    ids: Sequence[str],
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """One ``_msearch`` body: which of ``ids`` the saved search matches. Keyword searches match
    by words (and filters); semantic ones by meaning (a kNN hit from the search's cosine
    similarity up); hybrid ones by either, as the search page does."""
    only_these = {"ids": {"values": list(ids)}}
    body: dict[str, Any] = {
        "size": len(ids),
        "_source": list(store.MATCH_FIELDS),
        "track_total_hits": False,
    }
    if timeout_s is not None:  # a stored query that turns out slow answers with what it found
        body["timeout"] = f"{int(timeout_s * 1000)}ms"
    by_meaning = vector is not None and search.mode in ("semantic", "hybrid")
    if not by_meaning or search.mode == "hybrid":
        body["query"] = {"bool": {"must": [search.query], "filter": [only_these]}}
    if by_meaning:
        # Filtered to a few ids, the kNN search is exact: it compares each one.
        body["knn"] = {
            "field": "embedding",
            "query_vector": list(vector or ()),
            "k": len(ids),
            "num_candidates": len(ids),
            "similarity": search.similarity,
            "filter": [*search.knn_filter, only_these],
        }
    return body


def _make_visible(es: Elasticsearch, alias: str, ids: Sequence[str]) -> None:
    """Searches see an indexed article only after a refresh (every second by default). When
    the batch is not visible yet, refresh: the evaluation runs in its own task, so this never
    holds up indexing, and a refresh with nothing new to publish costs next to nothing."""
    visible = es.count(index=alias, query={"ids": {"values": list(ids)}})["count"]
    if visible < len(ids):
        es.indices.refresh(index=alias)


def _published(article: Mapping[str, Any]) -> str:
    return str(article.get("published_at") or "")


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def owner_active(search: store.SavedSearch, disabled: set[str]) -> bool:
    """A disabled user's saved searches send nothing (a user who left, docs/SECURITY.md);
    those saved before accounts have no owner and go on, as before."""
    return search.owner is None or search.owner not in disabled


def evaluate_batch(
    article_ids: Sequence[str],
    *,
    es: Elasticsearch,
    redis_client: redis.Redis,
    settings: Settings,
) -> list[Alert]:
    """Match the newly indexed ``article_ids`` against every saved search; record each
    search's new matches; return them (those to announce). A saved search whose query fails is
    logged and skipped, never failing the others. Unreachable services raise, for a retry:
    recording is idempotent, so a replayed batch announces nothing twice."""
    ids = list(dict.fromkeys(article_ids))
    if not ids:
        return []
    prefix = settings.index_prefix
    disabled = {user.name for user in accounts.list_users(redis_client, settings) if user.disabled}
    searches = [
        (search, vector)
        for search, vector in store.with_vectors(redis_client, prefix)
        if owner_active(search, disabled)
    ]
    if not searches:
        return []
    alias = settings.articles_alias
    alerts: list[Alert] = []
    for id_chunk in _chunks(ids, IDS_CHUNK):
        _make_visible(es, alias, id_chunk)
        for chunk in _chunks(searches, MSEARCH_CHUNK):
            lines: list[Mapping[str, Any]] = []
            for search, vector in chunk:
                lines += [{}, match_body(search, vector, id_chunk, settings.search_timeout_s)]
            responses = es.msearch(index=alias, searches=lines)["responses"]
            for (search, _), response in zip(chunk, responses, strict=True):
                if "error" in response:
                    log.warning(
                        "saved search failed",
                        extra={"saved_search": search.id, "error": str(response["error"])[:500]},
                    )
                    continue
                matched = sorted(
                    (
                        store.match_record(hit.get("_source") or {}, hit["_id"])
                        for hit in response["hits"]["hits"]
                    ),
                    key=_published,
                )
                new = set(
                    store.record_matches(
                        redis_client,
                        prefix,
                        search.id,
                        matched,
                        keep=settings.alerts_max_matches,
                        max_per_hour=settings.alerts_max_matches_per_hour,
                    )
                )
                if len(new) < len(matched):
                    log.info(
                        "matches already recorded or over the hourly limit",
                        extra={"saved_search": search.id, "skipped": len(matched) - len(new)},
                    )
                if new:
                    alerts.append(Alert(search, [a for a in matched if a["id"] in new]))
    # A takedown that landed while these were matched removed the article from the matches
    # recorded by then, not from those recorded after it: checked after recording (as the
    # pipeline checks after its writes), so in either order nothing of it stays or is sent.
    gone = takedown.taken_down_ids(redis_client, settings, ids)
    if gone:
        store.forget_matches(redis_client, prefix, sorted(gone))
        kept = [Alert(a.search, [m for m in a.articles if m["id"] not in gone]) for a in alerts]
        alerts = [alert for alert in kept if alert.articles]
    return alerts


def webhook_payload(alert: Alert, event: str = WEBHOOK_EVENT) -> dict[str, Any]:
    """What the webhook receives: the saved search, and the articles it newly matched."""
    urls = alert.search.urls
    return {
        "event": event,
        "saved_search": {
            "id": alert.search.id,
            "name": alert.search.name,
            "feed_url": urls.get("atom"),
            "json_feed_url": urls.get("json"),
            "page_url": urls.get("page"),
        },
        "articles": [
            {
                "id": article["id"],
                "title": article.get("title"),
                "url": article.get("url"),
                "published_at": article.get("published_at"),
                "source": article.get("source"),
            }
            for article in alert.articles
        ],
    }


# --- spike alerts (issue 17) ------------------------------------------------------------------


@dataclass(frozen=True)
class Spike:
    alert: Alert  # the batch's new matches that set it off
    score: rising.Score
    span: rising.Windows


def spike_body(search: store.SavedSearch, span: rising.Windows) -> dict[str, Any]:
    """One ``_msearch`` body: the saved search's matches in the recent window and in the
    baseline, by ``seen_at``, in one request (filter context, two filter aggregations). Counted
    by its words and filters (its stored query): matches by meaning alone are a ranking, not a
    count."""
    return rising.count_request(
        [search.query, span.whole_range(SEEN_AT)],
        {
            "recent": {"filter": span.recent_range(SEEN_AT)},
            "baseline": {"filter": span.baseline_range(SEEN_AT)},
        },
    )


def evaluate_spikes(
    alerts: Sequence[Alert],
    *,
    es: Elasticsearch,
    redis_client: redis.Redis,
    settings: Settings,
    now: datetime | None = None,
) -> list[Spike]:
    """The spikes among saved searches with spike alerts that matched in this batch: their
    recent matches scored against the baseline (shared/rising.py, the settings' thresholds),
    each at most once per ``alerts_spike_cooldown_s`` (claimed in Redis, so one worker sends
    it). A saved search whose count fails is logged and skipped."""
    asking = [alert for alert in alerts if alert.search.spike_alerts]
    if not asking:
        return []
    span = rising.windows(
        now or datetime.now(UTC), settings.rising_recent_hours, settings.rising_baseline_days
    )
    prefix = settings.index_prefix
    spikes: list[Spike] = []
    for chunk in _chunks(asking, MSEARCH_CHUNK):
        lines: list[Mapping[str, Any]] = []
        for alert in chunk:
            lines += [{}, spike_body(alert.search, span)]
        responses = es.msearch(index=settings.articles_alias, searches=lines)["responses"]
        for alert, response in zip(chunk, responses, strict=True):
            if "error" in response:
                log.warning(
                    "spike count failed",
                    extra={"saved_search": alert.search.id, "error": str(response["error"])[:500]},
                )
                continue
            counts = response.get("aggregations", {})
            found = rising.score(
                int(counts.get("recent", {}).get("doc_count", 0)),
                int(counts.get("baseline", {}).get("doc_count", 0)),
                window_ratio=span.ratio,
                min_count=settings.rising_min_count,
                min_score=settings.rising_min_score,
            )
            if not found.rising:
                continue
            if not store.claim_spike(
                redis_client, prefix, alert.search.id, settings.alerts_spike_cooldown_s
            ):
                log.info("spike within the cool-down", extra={"saved_search": alert.search.id})
                continue
            spike = Spike(alert, found, span)
            store.set_spike(redis_client, prefix, alert.search.id, spike_fields(spike))
            spikes.append(spike)
    return spikes


def spike_fields(spike: Spike) -> dict[str, Any]:
    return {
        **spike.score.as_dict(),
        "recent_hours": spike.span.recent_hours,
        "baseline_days": spike.span.baseline_days,
    }


def spike_payload(spike: Spike) -> dict[str, Any]:
    """What the webhook receives when a saved search's matches spike: the saved search, the
    counts and score (``shared.rising``), the windows, and the batch's new matches."""
    payload = webhook_payload(spike.alert, SPIKE_EVENT)
    windows = spike.span.as_dict()
    payload["spike"] = {
        **spike_fields(spike),
        "recent_window": windows["recent"],
        "baseline_window": windows["baseline"],
    }
    return payload


def deliver(
    search: store.SavedSearch,
    payload: Mapping[str, Any],
    delivery_id: str,
    *,
    settings: Settings,
) -> Delivered:
    """POST one delivery to the saved search's webhook. The same ``delivery_id`` goes with every
    retry, so a receiver can drop a repeat. Raises worker.webhooks.DeliveryError."""
    if not search.webhook_url:
        raise DeliveryError("the saved search has no webhook any more", permanent=True)
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    event = str(payload.get("event") or WEBHOOK_EVENT)
    headers = {"X-Newsroom-Event": event, "X-Newsroom-Delivery": delivery_id}
    if search.webhook_secret:
        headers["X-Newsroom-Signature"] = sign(search.webhook_secret, body)
    return post_json(
        search.webhook_url,
        body,
        headers=headers,
        timeout_s=settings.alerts_webhook_timeout_s,
        deadline_s=settings.alerts_webhook_deadline_s,
        allow_private=settings.alerts_webhook_allow_private,
    )


def new_delivery_id() -> str:
    return uuid.uuid4().hex


# --- one delivery, within the destination's limits --------------------------------------------

# Times a delivery may find its destination's slots all taken (each time queued again a few
# seconds later, not counted as an attempt) before that counts as a failed attempt: a delivery
# waits at most this many times per attempt, so its life stays bounded by the retry budget.
MAX_SLOT_WAITS = 30
# A slot outlives the longest delivery by this much before another worker may take it.
SLOT_LEASE_MARGIN_S = 15.0


@dataclass(frozen=True)
class DeliveryOutcome:
    """What to do with a delivery after one run: ``delivered`` / ``failed`` (done: recorded
    on the saved search), ``retrying`` (an attempt failed; again after ``countdown_s``) or
    ``waiting`` (no free slot; again after ``countdown_s``, the attempt not used).
    ``attempt`` / ``slot_waits``: what the next run carries."""

    state: Literal["delivered", "failed", "retrying", "waiting"]
    detail: str
    countdown_s: float = 0.0
    attempt: int = 1
    slot_waits: int = 0


def backoff_s(attempt: int) -> float:
    """Seconds before attempt ``attempt + 1``: 2, 4, 8 ... 300."""
    return float(min(2**attempt, 300))


def run_delivery(
    search: store.SavedSearch,
    payload: Mapping[str, Any],
    delivery_id: str,
    *,
    attempt: int,
    slot_waits: int,
    redis_client: redis.Redis,
    settings: Settings,
) -> DeliveryOutcome:
    """Attempt ``attempt`` (1-based) of one delivery, if its destination lets it: a free slot
    (at most ``alerts_webhook_max_per_host`` at once) and a closed circuit breaker. An open
    breaker counts the attempt without contacting the receiver and waits at least the rest of
    the cool-down. A failed attempt past ``alerts_webhook_max_retries`` retries, or a
    permanent failure (4xx, a refused address), ends the delivery as ``failed``. Records the
    state on the saved search (the page shows it), except while waiting for a slot."""
    prefix = settings.index_prefix
    if not search.webhook_url:
        return DeliveryOutcome("failed", "the saved search has no webhook any more")
    try:
        host = parse_url(search.webhook_url).key
    except DeliveryError as bad_url:
        return _give_up(redis_client, prefix, search.id, f"attempt {attempt}: {bad_url}")
    lease_s = settings.alerts_webhook_deadline_s + SLOT_LEASE_MARGIN_S
    admission = guard.admit(
        redis_client, prefix, host, limit=settings.alerts_webhook_max_per_host, lease_s=lease_s
    )
    wait_s = 0.0
    result: Delivered | DeliveryError
    if admission.verdict == "busy":
        if slot_waits < MAX_SLOT_WAITS:
            # A slot frees within a deadline; jittered, so waiting deliveries spread out.
            upper = max(2.0, settings.alerts_webhook_deadline_s / 2)
            countdown = random.uniform(1.0, upper)  # noqa: S311 -- jitter, not a secret
            return DeliveryOutcome(
                "waiting",
                f"{host} has {settings.alerts_webhook_max_per_host} deliveries under way",
                countdown,
                attempt,
                slot_waits + 1,
            )
        result = DeliveryError(f"no free slot for {host} after {slot_waits} waits", permanent=False)
    elif admission.verdict == "open":
        wait_s = admission.wait_s
        result = DeliveryError(
            f"not contacted: {host} failed {settings.alerts_webhook_breaker_failures} times in"
            f" a row (circuit open for {wait_s:.0f} s more)",
            permanent=False,
        )
    else:
        result = _attempt(
            search, payload, delivery_id, host, admission.token, redis_client, settings
        )
    if isinstance(result, Delivered):
        detail = f"attempt {attempt}: HTTP {result.status}"
        store.set_delivery(redis_client, prefix, search.id, "delivered", detail)
        return DeliveryOutcome("delivered", detail, attempt=attempt)
    detail = f"attempt {attempt}: {result}"
    if result.permanent or attempt > settings.alerts_webhook_max_retries:
        return _give_up(redis_client, prefix, search.id, detail)
    store.set_delivery(redis_client, prefix, search.id, "retrying", detail)
    countdown = max(backoff_s(attempt), wait_s)
    return DeliveryOutcome("retrying", detail, countdown, attempt + 1, 0)


def _attempt(
    search: store.SavedSearch,
    payload: Mapping[str, Any],
    delivery_id: str,
    host: str,
    token: str,
    redis_client: redis.Redis,
    settings: Settings,
) -> Delivered | DeliveryError:
    """POST with the slot ``token`` held; give it back and tell the breaker how it went."""
    outcome: guard.Outcome = "neutral"
    try:
        delivered = deliver(search, payload, delivery_id, settings=settings)
        outcome = "up"
        return delivered
    except DeliveryError as failed:
        # An answer, even a 4xx, says the receiver is up; a refused address says nothing.
        outcome = "down" if not failed.permanent else "up" if failed.status else "neutral"
        return failed
    finally:
        finished = guard.finish(
            redis_client,
            settings.index_prefix,
            host,
            token,
            outcome,
            threshold=settings.alerts_webhook_breaker_failures,
            cooldown_s=settings.alerts_webhook_breaker_cooldown_s,
        )
        if finished is not None and finished.opened:
            log.warning(
                "webhook destination failing: circuit open",
                extra={"host": host, "failures": finished.failures},
            )


def _give_up(
    redis_client: redis.Redis, prefix: str, search_id: str, detail: str
) -> DeliveryOutcome:
    store.set_delivery(redis_client, prefix, search_id, "failed", detail)
    log.warning("webhook not delivered", extra={"saved_search": search_id, "why": detail})
    return DeliveryOutcome("failed", detail)
