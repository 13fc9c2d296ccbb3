"""The lines of an export file (GET /api/export): CSV safe to open in a spreadsheet, or NDJSON.

The rows come from ``web.search.export_rows``; this module only writes them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from web.search import EXPORT_FIELDS

FORMATS = {"csv": "text/csv", "ndjson": "application/x-ndjson"}

# A cell starting with one of these is run as a formula by Excel, LibreOffice and Google
# Sheets (=HYPERLINK(...), +cmd|..., -2+3, @SUM(...)), or starts one after the tab or line
# break the application swallows (OWASP "CSV injection"). Leading spaces do not stop them.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(text: str) -> str:
    """``text`` as a cell that a spreadsheet shows as text: OWASP's remedy, a single quote
    before a cell that would start a formula (the application hides the quote). Everything
    else is left as it is. csv's own quoting cannot do this: quotes delimit, they do not
    make text."""
    if text.lstrip(" ").startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        value = "; ".join(str(item) for item in value)
    if isinstance(value, str):
        return spreadsheet_safe(value)
    return value  # numbers and None (an empty cell) are never formulas


def csv_lines(rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """A header, then one CSV record per row (lists joined by "; "), each cell spreadsheet-safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    for row in rows:
        writer.writerow([_cell(row[name]) for name in EXPORT_FIELDS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


# Characters json.dumps writes as they are that some line readers take for a line break (NEL,
# U+2028, U+2029: Python's str.splitlines, JavaScript before ES2019) or that are controls (C1):
# escaped, so one record stays one line for every reader. The C0 controls json escapes itself.
_LINE_BREAKING = re.compile(r"[\x7f-\x9f\u2028\u2029]")


def ndjson_lines(rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """One JSON object per line, values as they are (JSON readers do not run formulas)."""
    for row in rows:
        line = json.dumps(row, ensure_ascii=False)
        yield _LINE_BREAKING.sub(lambda found: f"\\u{ord(found[0]):04x}", line) + "\n"
