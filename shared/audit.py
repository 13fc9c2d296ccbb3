"""The audit log: who changed what, when and from where (issue 16, item 7).

Writes and admin actions of every service (web, ingest, CLI) append one event each to a Redis
stream, ``<prefix>:audit``. Redis is the store for the same reason as accounts
(shared/accounts.py): it is already the durable store every process shares (append-only file,
``appendfsync everysec``), so events survive restarts and are covered by the same drills with no
second database to run; a stream keeps them in order with ids that sort by time, and ``XADD ...
MAXLEN ~`` caps it at ``Settings.audit_max_events`` (the oldest go first; Redis trims whole
macro nodes, so it may hold a few more). Events are never edited or deleted one by one.

Every field is bounded before it is written (``MAX_*`` below: long values are cut and end with
"…", a detail keeps at most ``MAX_DETAIL_KEYS`` keys), so hostile input (a huge saved-search
name, a forged address) cannot bloat the log: one event takes at most a few KB.

``record`` raises ``redis.RedisError`` when Redis refuses (down, or at ``maxmemory``): each caller
decides. The web's helper (``web/audit_views.audit``) logs the event instead and never fails the
request for it; the CLI reports it as a warning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TypedDict

import redis
from redis.typing import EncodableT, FieldT

from shared.settings import Settings

DetailValue = str | int | bool | None

MAX_ACTOR_CHARS = 200
MAX_ACTION_CHARS = 64
MAX_TARGET_CHARS = 500
MAX_ADDRESS_CHARS = 64
MAX_DETAIL_KEYS = 20
MAX_DETAIL_KEY_CHARS = 64
MAX_DETAIL_VALUE_CHARS = 500
# Most events one read returns, and most entries one filtered read looks through (a filter
# matching little of a large log stops there; ``read_page``'s ``next_before`` goes on).
MAX_READ = 1000
MAX_SCAN = 20_000
_SCAN_BATCH = 500

# A stream id: "<milliseconds>-<sequence>", each part below 2**64.
EVENT_ID_PATTERN = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")
_MAX_PART = 2**64 - 1


class AuditEvent(TypedDict):
    id: str
    at: str  # ISO 8601, UTC
    actor: str
    action: str
    target: str
    address: str | None
    detail: dict[str, DetailValue]


class AuditPage(TypedDict):
    events: list[AuditEvent]
    # Where the next (older) page starts (pass it as ``before``); None at the end of the log.
    next_before: str | None


def audit_key(settings: Settings) -> str:
    return f"{settings.index_prefix}:audit"


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _bounded_detail(detail: Mapping[str, DetailValue] | None) -> dict[str, DetailValue]:
    bounded: dict[str, DetailValue] = {}
    for key, value in list((detail or {}).items())[:MAX_DETAIL_KEYS]:
        if isinstance(value, str):
            value = _cut(value, MAX_DETAIL_VALUE_CHARS)
        elif not isinstance(value, bool | int) and value is not None:
            value = _cut(str(value), MAX_DETAIL_VALUE_CHARS)
        bounded[_cut(str(key), MAX_DETAIL_KEY_CHARS)] = value
    return bounded


def record(
    r: redis.Redis,
    settings: Settings,
    *,
    actor: str,
    action: str,
    target: str,
    address: str | None = None,
    detail: Mapping[str, DetailValue] | None = None,
) -> None:
    """Append one event (sizes bounded); raises ``redis.RedisError`` when Redis refuses it."""
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    fields: dict[FieldT, EncodableT] = {
        "at": at,
        "actor": _cut(actor, MAX_ACTOR_CHARS),
        "action": _cut(action, MAX_ACTION_CHARS),
        "target": _cut(target, MAX_TARGET_CHARS),
        "address": "" if address is None else _cut(address, MAX_ADDRESS_CHARS),
        "detail": json.dumps(_bounded_detail(detail), ensure_ascii=False, separators=(",", ":")),
    }
    r.xadd(
        audit_key(settings),
        fields,
        maxlen=settings.audit_max_events,
        approximate=True,
    )


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _event(event_id: object, raw: Mapping[bytes | str, bytes | str] | None) -> AuditEvent:
    fields = {_text(key): _text(value) for key, value in (raw or {}).items()}
    try:
        loaded = json.loads(fields.get("detail", "{}"))
    except ValueError:
        loaded = {}
    detail: dict[str, DetailValue] = {}
    if isinstance(loaded, dict):
        detail = {
            str(key): value
            for key, value in loaded.items()
            if value is None or isinstance(value, str | int | bool)
        }
    return {
        "id": _text(event_id),
        "at": fields.get("at", ""),
        "actor": fields.get("actor", ""),
        "action": fields.get("action", ""),
        "target": fields.get("target", ""),
        "address": fields.get("address") or None,
        "detail": detail,
    }


def _older_than(before: str) -> str | None:
    """XREVRANGE's start for the events older than ``before`` (None: there are none). Parts
    beyond what Redis takes are bounds past every event."""
    ms, seq = (int(part) for part in before.split("-"))
    if ms > _MAX_PART:
        return "+"
    if seq > _MAX_PART:
        return f"{ms}-{_MAX_PART}"
    if ms == seq == 0:
        return None  # nothing is older than 0-0 (and "(0-0" is an error)
    return f"({ms}-{seq}"


def read_page(
    r: redis.Redis,
    settings: Settings,
    *,
    limit: int = 200,
    before: str | None = None,
    actor: str | None = None,
    action: str | None = None,
) -> AuditPage:
    """Events newest first, older than the event id ``before``, matching ``actor`` and
    ``action`` exactly (an action ending in ``.`` or ``*`` matches the actions it begins:
    ``saved.`` is every saved-search event). Looks through at most ``MAX_SCAN`` entries.
    Raises ``ValueError`` for a ``before`` that is no event id."""
    if before is not None and not EVENT_ID_PATTERN.match(before):
        raise ValueError("before must be an event id such as 1764633600000-0")
    limit = max(1, min(limit, MAX_READ))
    prefix = action.rstrip("*") if action and action.endswith(("*", ".")) else None
    events: list[AuditEvent] = []
    start = "+" if before is None else _older_than(before)
    if start is None:
        return {"events": [], "next_before": None}
    scanned = 0
    last_id: str | None = None
    while len(events) < limit and scanned < MAX_SCAN:
        count = limit - len(events) if actor is None and action is None else _SCAN_BATCH
        count = min(count, MAX_SCAN - scanned)
        batch = r.xrevrange(audit_key(settings), max=start, min="-", count=count)
        if not batch:
            return {"events": events, "next_before": None}
        for event_id, raw in batch:
            scanned += 1
            event = _event(event_id, raw)
            last_id = event["id"]
            if actor is not None and event["actor"] != actor:
                continue
            if action is not None and (
                not event["action"].startswith(prefix)
                if prefix is not None
                else event["action"] != action
            ):
                continue
            events.append(event)
            if len(events) == limit:
                break
        if len(batch) < count and len(events) < limit:
            return {"events": events, "next_before": None}
        start = f"({last_id}"
    return {"events": events, "next_before": last_id}


def read(
    r: redis.Redis,
    settings: Settings,
    *,
    limit: int = 200,
    before: str | None = None,
    actor: str | None = None,
    action: str | None = None,
) -> list[AuditEvent]:
    """The newest ``limit`` events older than ``before`` matching the filters (``read_page``)."""
    page = read_page(r, settings, limit=limit, before=before, actor=actor, action=action)
    return page["events"]
