"""Inputs of the autocomplete field (``suggest``, an Elasticsearch completion field).

The completion suggester matches from the start of an input only, so each title and name is
also entered from each of its later words on: "board meets" finds "Harbour board meets in
Paris", "Quarr" finds "Ottoline Quarrington". Those inputs end with the title or name to show
(shared/suggest.py), so the web needs no document source to answer.

Elasticsearch returns at most one suggestion per document and suggester, the best-weighted
input that matches: the weights decide which of an article's names or title wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.document import Suggestion
from shared.suggest import DISPLAY_SEPARATOR, clean_text

# Longer "names" are extraction debris, not something anyone types.
MAX_NAME_CHARS = 50
# A title is shown (and matched from its start) up to here; the list is one line wide anyway.
SHOWN_TITLE_CHARS = 80
# Typing from a later word matches this much of the title from there: plenty for a prefix,
# and "<start><FS><shown title>" stays within the mapping's max_input_length (120).
TITLE_START_CHARS = 36
MAX_TITLE_SUFFIXES = 8
MAX_NAME_SUFFIXES = 4
# A title starting with the typed words beats one that has them further in. A name mentioned
# twice or more beats a title; a passing mention does not.
TITLE_WEIGHT = 20
TITLE_SUFFIX_WEIGHT = 15
MENTION_WEIGHT = 10
MAX_COUNTED_MENTIONS = 10


def _has_alnum(text: str) -> bool:
    return any(character.isalnum() for character in text)


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a word boundary where there is one."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return cut[:space] if space > limit // 2 else cut


def shown_title(title: str) -> str:
    """The title as the list shows it: whole, or cut at a word with an ellipsis."""
    title = clean_text(title)
    shown = _clip(title, SHOWN_TITLE_CHARS - 1)
    return title if shown == title else f"{shown.rstrip(' ,;:-')}…"


def _starts_title_suffix(word: str) -> bool:
    """Whether a later title word is worth typing first: not "in", "of", "a", but "EU", "G7"."""
    letters = "".join(character for character in word if character.isalnum())
    return len(letters) >= 3 or (len(letters) == 2 and (letters.isupper() or letters.isdigit()))


def title_inputs(title: str) -> tuple[str, list[str]]:
    """The title as shown, and the title from each later word worth typing first, each
    followed by the title as shown."""
    shown = shown_title(title)
    words = clean_text(title).split(" ")
    # Joining only the words that can reach TITLE_START_CHARS (each has a character and a space)
    # gives the same starts, and costs the title's length, not its square.
    starts = [
        _clip(" ".join(words[index : index + TITLE_START_CHARS + 1]), TITLE_START_CHARS)
        for index in range(1, len(words))
        if _starts_title_suffix(words[index])
    ]
    later = [f"{start}{DISPLAY_SEPARATOR}{shown}" for start in dict.fromkeys(starts)]
    return shown, later[:MAX_TITLE_SUFFIXES]


def name_inputs(name: str) -> list[str]:
    """The name, then the name from each later word on with the full name to show after it."""
    name = clean_text(name)
    words = name.split(" ")
    later = [
        f"{' '.join(words[index:])}{DISPLAY_SEPARATOR}{name}"
        for index in range(1, len(words))
        if _has_alnum(words[index]) and len(words[index]) >= 2
    ]
    return [name, *later[:MAX_NAME_SUFFIXES]]


def mention_weight(mentions: int) -> int:
    return MENTION_WEIGHT * max(1, min(mentions, MAX_COUNTED_MENTIONS))


def _mention_counts(doc: Mapping[str, Any], field: str) -> dict[str, int]:
    mentions = (doc.get("entity_mentions") or {}).get(field) or []
    return {item["name"]: int(item.get("mentions") or 1) for item in mentions if item.get("name")}


def _entities(doc: Mapping[str, Any]) -> Iterable[tuple[str, str, int]]:
    """(kind, name, mentions) of every person, organisation and resolved place."""
    for kind, field in (("person", "people"), ("organisation", "organisations")):
        counts = _mention_counts(doc, field)
        for name in doc.get(field) or []:
            yield kind, name, counts.get(name, 1)
    for place in doc.get("places") or []:
        if place.get("name"):
            yield "place", place["name"], int(place.get("mentions") or 1)


def suggestion_inputs(doc: Mapping[str, Any]) -> list[Suggestion]:
    """The ``suggest`` field's value: weighted inputs, each with its kind as context."""
    entries: list[Suggestion] = []
    title = clean_text(doc.get("title") or "")
    if _has_alnum(title):
        whole, suffixes = title_inputs(title)
        entries.append({"input": [whole], "weight": TITLE_WEIGHT, "contexts": {"kind": ["title"]}})
        if suffixes:
            entries.append(
                {"input": suffixes, "weight": TITLE_SUFFIX_WEIGHT, "contexts": {"kind": ["title"]}}
            )
    seen: set[tuple[str, str]] = set()
    for kind, raw_name, mentions in _entities(doc):
        name = clean_text(raw_name)
        if not _has_alnum(name) or len(name) > MAX_NAME_CHARS or (kind, name) in seen:
            continue
        seen.add((kind, name))
        entries.append(
            {
                "input": name_inputs(name),
                "weight": mention_weight(mentions),
                "contexts": {"kind": [kind]},
            }
        )
    return entries
