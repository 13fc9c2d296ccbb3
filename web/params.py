"""Reading a request's query parameters: a search (``parse_search_request``), whole numbers,
dates and flags. Anything invalid raises a 400 problem (``ApiError``) naming the parameter.
Every feature's views parse with these; ``bench/`` builds its searches with them too."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from werkzeug.datastructures import MultiDict

from shared.http import ApiError
from web.facets import FACETS
from web.search import (
    FUSION_DEPTH,
    MAX_QUERY_CHARS,
    MAX_RESULT_WINDOW,
    MODES,
    SORTS,
    SearchRequest,
    decode_cursor,
    query_problem,
)


def positive_int(
    args: Mapping[str, str], name: str, default: int, maximum: int, least: int = 1
) -> int:
    """A whole-number parameter from ``least`` to ``maximum``; blank counts as absent."""
    raw = args.get(name, "").strip()
    if not raw:
        return default
    # isdigit() alone takes "²" (int() refuses it), and int() refuses more than 4300 digits.
    digits = raw.lstrip("0")
    if (
        not (raw.isascii() and raw.isdigit())
        or len(digits) > len(str(maximum))
        or not least <= int(raw) <= maximum
    ):
        raise ApiError(
            400,
            "Invalid parameter",
            f"'{name}' must be a whole number from {least} to {maximum}",
            parameter=name,
        )
    return int(raw)


MAX_FILTER_VALUES = 20
MAX_FILTER_CHARS = 300
# Every parameter parse_search_request reads: the page's links carry these on and drop any
# other (5,000 unknown parameters would otherwise be copied into every facet, pager and feed
# link of the page: megabytes and seconds for one request).
SEARCH_PARAMETERS = frozenset(
    {"q", "size", "page", "mode", "sort", "after", "group", "exact", "from", "to", "when",
     "undated", *FACETS}
)  # fmt: skip


def _date(args: Mapping[str, str], name: str) -> date | None:
    """A day (2025-09-30), or an instant (2025-09-30T14:00, seconds and a UTC offset
    optional; none means UTC) where the time of day matters."""
    raw = args.get(name, "").strip()
    if not raw:
        return None
    try:
        if len(raw) <= 10:
            return date.fromisoformat(raw)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            400,
            "Invalid parameter",
            f"'{name}' must be a date like 2025-09-30 or a time like 2025-09-30T14:00Z",
            parameter=name,
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Date presets (``when``): how far back from now. A month is 30 days, a year 365.
DATE_PRESETS = {
    "24h": timedelta(hours=24),
    "week": timedelta(days=7),
    "month": timedelta(days=30),
    "year": timedelta(days=365),
}


def _instant(value: date, end: bool = False) -> datetime:
    """A bound as an instant: a day starts at midnight UTC (ends at its last moment)."""
    if isinstance(value, datetime):
        return value
    moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return moment + timedelta(days=1, microseconds=-1) if end else moment


def _dates(args: Mapping[str, str]) -> tuple[date | None, date | None, str | None, bool]:
    """``from``, ``to``, the preset ``when`` (a lower bound relative to now, to the minute so
    that Elasticsearch's request cache can answer repeats for a minute; with ``from`` the
    later of the two applies) and ``undated`` (only the articles without a date)."""
    date_from, date_to = _date(args, "from"), _date(args, "to")
    if date_from and date_to and _instant(date_from) > _instant(date_to, end=True):
        raise ApiError(400, "Invalid parameter", "'from' is after 'to'", parameter="from")
    when = args.get("when") or None  # blank: any time
    if when is not None:
        if when not in DATE_PRESETS:
            detail = f"'when' is one of {', '.join(DATE_PRESETS)}"
            raise ApiError(400, "Invalid parameter", detail, parameter="when")
        since = datetime.now(UTC).replace(second=0, microsecond=0) - DATE_PRESETS[when]
        date_from = since if date_from is None else max(_instant(date_from), since)
    # With a date range too, nothing matches: an article without a date is in no range.
    return date_from, date_to, when, _flag(args, "undated")


FLAGS = ("", "0", "1", "true", "false", "on", "off")  # blank: absent
# ``group``: on, one entry per story (issue 17) and per near-duplicate cluster among the
# articles without a story; copies, one per cluster; off, every article.
GROUPINGS = ("on", "copies", "off")


def _flag(args: Mapping[str, str], name: str) -> bool:
    raw = args.get(name, "")
    if raw not in FLAGS:
        raise ApiError(400, "Invalid parameter", f"'{name}' is 1 or 0", parameter=name)
    return raw in ("1", "true", "on")


def _filters(args: MultiDict[str, str]) -> dict[str, tuple[str, ...]]:
    filters: dict[str, tuple[str, ...]] = {}
    for name in FACETS:
        values = tuple(dict.fromkeys(v.strip() for v in args.getlist(name) if v.strip()))
        if len(values) > MAX_FILTER_VALUES or any(len(v) > MAX_FILTER_CHARS for v in values):
            detail = (
                f"'{name}' takes at most {MAX_FILTER_VALUES} values of {MAX_FILTER_CHARS} chars"
            )
            raise ApiError(400, "Invalid parameter", detail, parameter=name)
        if values:
            filters[name] = values
    return filters


def parse_search_request(args: MultiDict[str, str], default_size: int) -> SearchRequest:
    query = args.get("q", "")
    problem = query_problem(query)
    if problem:
        # Saved searches come through here too: a query refused here is never stored as an
        # alert that would run at every batch.
        title = "Query too long" if len(query) > MAX_QUERY_CHARS else "Query too expensive"
        raise ApiError(400, title, problem, parameter="q")
    size = positive_int(args, "size", default_size, 100)
    page = positive_int(args, "page", 1, MAX_RESULT_WINDOW)
    if page * size > MAX_RESULT_WINDOW and not args.get("after"):
        raise ApiError(
            400,
            "Page too deep",
            f"page × size may not pass {MAX_RESULT_WINDOW}; page on with 'after' (next_after)",
            parameter="page",
        )
    mode = args.get("mode", "hybrid")
    if mode not in MODES:
        raise ApiError(
            400, "Invalid parameter", f"'mode' is one of {', '.join(MODES)}", parameter="mode"
        )
    sort = args.get("sort", "relevance")
    if sort not in SORTS:
        raise ApiError(
            400, "Invalid parameter", f"'sort' is one of {', '.join(SORTS)}", parameter="sort"
        )
    after: tuple[Any, ...] = ()
    if args.get("after"):
        try:
            after = tuple(decode_cursor(args["after"]))
        except ValueError:
            raise ApiError(
                400,
                "Invalid parameter",
                "'after' is not a cursor from next_after",
                parameter="after",
            ) from None
    group = args.get("group", "on")
    if group not in GROUPINGS:
        raise ApiError(400, "Invalid parameter", "'group' is on, copies or off", parameter="group")
    date_from, date_to, when, undated = _dates(args)
    if mode != "keyword" and query.strip() and sort == "relevance" and page * size > FUSION_DEPTH:
        raise ApiError(
            400,
            "Page too deep",
            f"{mode} search ranks the best {FUSION_DEPTH} matches; use mode=keyword to go deeper",
            parameter="page",
        )
    return SearchRequest(
        query=query,
        page=page,
        size=size,
        filters=_filters(args),
        date_from=date_from,
        date_to=date_to,
        sort=sort,
        after=after,
        mode=mode,
        group=group != "off",
        stories=group == "on",
        exact=_flag(args, "exact"),
        when=when,
        undated=undated,
    )
