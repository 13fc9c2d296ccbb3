"""Autocomplete while typing: Elasticsearch's completion suggester over titles and names.

One request asks four suggesters at once, one per kind (the ``kind`` context of the ``suggest``
field, filled by worker/enrich/suggest.py), and merges their options: those that start with
what was typed before those found by forgiving a typo, then by score (the input's weight
scaled by how much of the prefix matched exactly, so it compares across kinds). The inputs
carry the text to show, so no document is loaded: that keeps it to a few milliseconds.
"""

from __future__ import annotations

import re
from typing import Any

from elasticsearch import Elasticsearch

from shared.suggest import KINDS, clean_text, display_text

MAX_PREFIX_CHARS = 100
DEFAULT_SIZE = 8
MAX_SIZE = 20
# Typo tolerance only once a prefix is long enough to say something: "bide" finds "Biden",
# but "ca" does not fan out to everything two letters away.
FUZZY = {"fuzziness": 1, "min_length": 4, "prefix_length": 1}
# Entities first when scores tie: a name is the shorter, more likely completion.
_KIND_ORDER = {"person": 0, "organisation": 1, "place": 2, "title": 3}
_WORD = re.compile(r"\w")
_NOT_WORD = re.compile(r"[\W_]+")


def suggest_body(prefix: str, size: int) -> dict[str, Any]:
    """The search body: one completion suggester per kind, no hits."""
    return {
        "size": 0,
        "track_total_hits": False,
        "_source": False,
        "suggest": {
            kind: {
                "prefix": prefix,
                "completion": {
                    "field": "suggest",
                    "size": size,
                    # The same name in many articles is one suggestion, not many.
                    "skip_duplicates": True,
                    "fuzzy": FUZZY,
                    "contexts": {"kind": [kind]},
                },
            }
            for kind in KINDS
        },
    }


def _words(text: str) -> str:
    """Lower-case words and single spaces: near enough to what the analyzer compares."""
    return _NOT_WORD.sub(" ", text.casefold()).strip()


def shape_suggestions(response: dict[str, Any], prefix: str, size: int) -> list[dict[str, Any]]:
    """The options of every kind, best first, each title or name once."""
    typed = _words(prefix)
    options: list[tuple[bool, float, int, dict[str, Any]]] = []
    for kind, entries in (response.get("suggest") or {}).items():
        for entry in entries:
            for option in entry.get("options") or []:
                item = {"text": display_text(option["text"]), "kind": kind}
                if kind == "title":
                    item["article_id"] = option["_id"]
                # A big weight must not put "Peskov" (one typo from "pes") above "President".
                typo = not _words(option["text"]).startswith(typed)
                score = -float(option.get("_score") or 0)
                options.append((typo, score, _KIND_ORDER.get(kind, 9), item))
    options.sort(key=lambda ranked: ranked[:3])
    seen: set[tuple[bool, str]] = set()
    suggestions: list[dict[str, Any]] = []
    for *_, item in options:
        # A name found as a person and as an organisation is offered once (it searches the
        # same words); a title with the same words as a name is kept: it opens an article.
        key = (item["kind"] == "title", item["text"].casefold())
        if key in seen:
            continue
        seen.add(key)
        suggestions.append(item)
        if len(suggestions) == size:
            break
    return suggestions


def suggest(es: Elasticsearch, alias: str, prefix: str, size: int) -> list[dict[str, Any]]:
    """Titles and names that start with ``prefix`` (or any later word of them does):
    ``{"text", "kind"}``, plus ``article_id`` for a title."""
    prefix = clean_text(prefix)
    # Nothing the analyzer would keep ("\"", "-", emoji): no round trip for no suggestions.
    if not _WORD.search(prefix):
        return []
    response = es.search(
        index=alias,
        ignore_unavailable=True,
        allow_no_indices=True,
        **suggest_body(prefix, size),
    )
    return shape_suggestions(dict(response), prefix, size)
