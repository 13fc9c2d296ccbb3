"""How autocomplete inputs are written (worker/enrich/suggest.py) and read back (web/suggest.py).

The index's ``suggest`` completion field matches from the start of an input only, so a title or
name is also entered from each later word on, followed by what to show for it:
"Quarrington<FS>Ottoline Quarrington". The suggester returns the input that matched, and the
text to show is read from it, so suggestions need no document loaded (no ``_source``).
"""

from __future__ import annotations

import re

# Values of the field's "kind" context.
KINDS = ("title", "person", "organisation", "place")
# ASCII's "file separator": the standard analyzer breaks words at it, Elasticsearch allows it in
# completion inputs (unlike \x00, \x1d, \x1e, \x1f), and clean_text removes it from all text,
# so it cannot occur in a title or name.
DISPLAY_SEPARATOR = "\x1c"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_SPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """One line, no control characters, single spaces."""
    return _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip()


def display_text(matched: str) -> str:
    """The title or name to show for the input a suggestion matched."""
    _, separator, shown = matched.partition(DISPLAY_SEPARATOR)
    return shown if separator else matched
