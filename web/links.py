"""Links the pages make: a search with some parameters changed, its feeds and exports, the
timeline's bars, an article's address. ``template_helpers`` hands them to every template."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from flask import request, url_for
from werkzeug.datastructures import MultiDict

from shared.http import app_settings
from web.facets import FACETS, ON_PAGE
from web.params import SEARCH_PARAMETERS
from web.search import SORTS


def _search_args(given: MultiDict[str, str] | None = None) -> MultiDict[str, str]:
    """The search parameters of ``given`` (the request's by default), nothing else."""
    args = request.args if given is None else given
    return MultiDict(
        [(name, value) for name, value in args.items(multi=True) if name in SEARCH_PARAMETERS]
    )


def search_url(
    base: Mapping[str, list[str]] | None = None, /, **changes: str | list[str] | None
) -> str:
    """The current search (or the search ``base``, as {parameter: values}) with some
    parameters changed (None removes one); back to page 1."""
    args = _search_args(None if base is None else MultiDict(base))
    if "page" not in changes:
        args.pop("page", None)
    for name, value in changes.items():
        if value is None or value == []:
            args.pop(name, None)
        elif isinstance(value, list):
            args.setlist(name, value)
        else:
            args[name] = value
    query: dict[str, Any] = args.to_dict(flat=False)
    return url_for("search.page", **query)


def export_url(export_format: str, total: int = 0) -> str:
    """This search's whole result set as a file; its first NEWSROOM_EXPORT_MAX_ROWS rows when
    it has ``total`` articles, more than an export writes."""
    args = _search_args()
    for paging in ("page", "after", "size", "limit"):
        args.pop(paging, None)
    args["format"] = export_format
    if total > app_settings().export_max_rows:
        args["limit"] = str(app_settings().export_max_rows)
    query: dict[str, Any] = args.to_dict(flat=False)
    return url_for("feeds.api_export", **query)


def feed_url(kind: str) -> str:
    """This search as an Atom or JSON feed."""
    args = _search_args()
    for paging in ("page", "after", "size", "sort", "mode"):
        args.pop(paging, None)
    query: dict[str, Any] = args.to_dict(flat=False)
    return url_for("feeds.atom_feed" if kind == "atom" else "feeds.json_feed", **query)


def toggle_url(name: str, value: str) -> str:
    """The current search with one facet value added, or removed when it is selected."""
    values = request.args.getlist(name)
    values = [v for v in values if v != value] if value in values else [*values, value]
    return search_url(**{name: values})


_MONTHS_IN = {"month": 1, "quarter": 3, "year": 12}


def _period_end(start: date, interval: str) -> date:
    """The last day of the calendar interval that starts on ``start``."""
    if interval == "day":
        return start
    if interval == "week":
        return start + timedelta(days=6)
    month = start.month - 1 + _MONTHS_IN.get(interval, 1)
    return date(start.year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def timeline_bars(
    timeline: Mapping[str, Any], base: Mapping[str, list[str]] | None = None
) -> list[dict[str, Any]]:
    """Each bucket with its date range and a link that narrows the search (the current one,
    or ``base``: see ``search_url``) to it."""
    buckets = timeline.get("buckets") or []
    top = max((b["count"] for b in buckets), default=0) or 1
    bars = []
    for bucket in buckets:
        start = date.fromisoformat(bucket["date"])
        end = _period_end(start, timeline.get("interval") or "month")
        bars.append(
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "count": bucket["count"],
                "height": round(100 * bucket["count"] / top, 1),
                "url": search_url(base, **{"from": start.isoformat(), "to": end.isoformat()}),
            }
        )
    return bars


def article_link(article_id: str) -> str:
    """An article's page, as an absolute address (for feeds)."""
    return url_for("articles.page", article_id=article_id, _external=True)


def template_helpers() -> dict[str, Any]:
    """What every template may use (a context processor: see ``web.create_app``)."""
    return {
        "search_url": search_url,
        "toggle_url": toggle_url,
        "export_url": export_url,
        "export_max_rows": app_settings().export_max_rows,
        "feed_url": feed_url,
        "facets_on_page": ON_PAGE,
        "facet_labels": {facet.name: facet.label for facet in ON_PAGE},
        "timeline_bars": timeline_bars,
        # Facet name -> the kind of its entity pages ("people" -> "person").
        "entity_kinds": {name: f.kind for name, f in FACETS.items() if f.kind != "term"},
        "sorts": SORTS,
    }
