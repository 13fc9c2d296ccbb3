"""Headlines, derived titles and word counts."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+(?:[-'’]\w+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’»]?\s+(?=[\"'“‘«(]?[A-Z0-9])")
_MAX_HEADLINE_CHARS = 200
_MAX_TITLE_CHARS = 110
_MIN_CLAUSE_CHARS = 40


def split_headline(text: str) -> tuple[str | None, str]:
    """A first line that reads as a headline (short, no closing full stop, more text after it)
    and the rest of the text."""
    stripped = text.lstrip()
    first, newline, rest = stripped.partition("\n")
    first = first.strip()
    if (
        not newline
        or not rest.strip()
        or not first
        or len(first) > _MAX_HEADLINE_CHARS
        or first[-1] in ".!?,;:"
    ):
        return None, text
    return first, rest.lstrip()


def first_sentence(text: str) -> str:
    text = " ".join(text.split())
    parts = _SENTENCE_END.split(text, maxsplit=1)
    return parts[0] if parts else ""


def derive_title(text: str) -> str | None:
    """A title from the opening sentence: whole when short, else its first clause, else cut at a
    word boundary with an ellipsis."""
    sentence = first_sentence(text).rstrip(".")
    if not sentence:
        return None
    if len(sentence) <= _MAX_TITLE_CHARS:
        return sentence
    head = sentence[: _MAX_TITLE_CHARS + 1]
    clause_end = max(head.rfind(mark) for mark in (",", ";", " —", " –", " -"))
    if clause_end >= _MIN_CLAUSE_CHARS:
        return head[:clause_end].rstrip()
    return head.rsplit(" ", 1)[0].rstrip(",;:") + "…"


def count_words(text: str) -> int:
    return len(_WORD.findall(text))
