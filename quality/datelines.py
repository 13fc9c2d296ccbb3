"""Dateline detection and resolution on the corpus's real wire openings (TASS, Reuters, AP,
PRNewswire...)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from quality.corpus import news_articles
from worker.enrich.dateline import parse_dateline
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
