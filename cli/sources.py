"""Files and feeds turned into articles for ``newsroom ingest`` and ``newsroom feed``.

Every input becomes ``Item``s: an article (a JSON object, as POST /articles takes it) or the
reason it could not be read, with where it came from. Text files become ``{"body": ...}`` and
pages ``{"html": ...}``, what ingest makes of a text/plain or text/html post, so that files of
every kind travel together in JSON batches. Validation stays the server's: an article that
reads but is invalid is sent, and ingest's reasons are reported.
"""

from __future__ import annotations

import calendar
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import charset_normalizer
import feedparser
import lxml.etree
import lxml.html

KINDS = {
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}


@dataclass(frozen=True)
class Item:
    file: str
    position: str | None  # "[3]" (JSON array index), "line 7" (NDJSON), "entry 2" (feed)
    article: Any = None  # what is sent; None when ``error`` says why nothing is
    error: str | None = None
    weight: int = 0  # bytes of input it stands for (the progress bar counts bytes)

    @property
    def where(self) -> str:
        return f"{self.file} {self.position}" if self.position else self.file


def collect_files(paths: Sequence[Path]) -> tuple[list[Path], list[Item]]:
    """The files to read, in a stable order (directories recursively, hidden entries
    skipped), and an error item for each path given that cannot be read."""
    files: list[Path] = []
    errors: list[Item] = []
    for path in paths:
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files += [
                    Path(root) / name
                    for name in sorted(names)
                    if not name.startswith(".") and Path(name).suffix.lower() in KINDS
                ]
        elif not path.is_file():
            errors.append(Item(str(path), None, error="no such file or directory"))
        elif path.suffix.lower() not in KINDS:
            errors.append(
                Item(
                    str(path),
                    None,
                    error=f"unsupported file type (use {', '.join(sorted(KINDS))})",
                    weight=path.stat().st_size,
                )
            )
        else:
            files.append(path)
    return files, errors


def decode_page(raw: bytes) -> str | None:
    """A page's text: UTF-8, else what charset-normalizer finds (as ingest does)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        best = charset_normalizer.from_bytes(raw).best()
        return None if best is None else str(best)


def _spread(total: int, parts: int) -> list[int]:
    """``total`` bytes shared among ``parts`` items, adding up exactly."""
    share, rest = divmod(total, parts)
    return [share + (1 if n < rest else 0) for n in range(parts)]


def read_file(path: Path, *, source: str | None = None) -> Iterator[Item]:
    """The items of one file. ``source`` fills the source of text and HTML files (JSON
    articles carry their own)."""
    name = str(path)
    kind = KINDS[path.suffix.lower()]
    try:
        raw = path.read_bytes()
    except OSError as error:
        yield Item(name, None, error=f"cannot read: {error.strerror or error}")
        return
    size = len(raw)
    extra = {"source": source} if source else {}
    if kind == "text":
        try:
            yield Item(name, None, {"body": raw.decode("utf-8"), **extra}, weight=size)
        except UnicodeDecodeError as error:
            yield Item(name, None, error=f"not UTF-8 text (byte {error.start})", weight=size)
    elif kind == "html":
        page = decode_page(raw)
        if page is None:
            yield Item(name, None, error="cannot tell the page's encoding", weight=size)
        else:
            yield Item(name, None, {"html": page, **extra}, weight=size)
    elif kind == "json":
        yield from _json_items(name, raw)
    else:
        yield from _ndjson_items(name, raw)


def _json_items(name: str, raw: bytes) -> Iterator[Item]:
    size = len(raw)
    try:
        document = json.loads(raw)
    except UnicodeDecodeError as error:
        yield Item(name, None, error=f"not UTF-8 (byte {error.start})", weight=size)
        return
    except json.JSONDecodeError as error:
        yield Item(
            name,
            None,
            error=f"invalid JSON: {error.msg} at line {error.lineno} column {error.colno}",
            weight=size,
        )
        return
    except RecursionError:
        yield Item(name, None, error="invalid JSON: nested too deeply", weight=size)
        return
    if not isinstance(document, list):
        yield Item(name, None, document, weight=size)
    elif not document:
        yield Item(name, None, error="the JSON array holds no articles", weight=size)
    else:
        for index, (article, weight) in enumerate(
            zip(document, _spread(size, len(document)), strict=True)
        ):
            yield Item(name, f"[{index}]", article, weight=weight)


def _ndjson_line(name: str, number: int, line: bytes, weight: int) -> Item:
    position = f"line {number}"
    try:
        return Item(name, position, json.loads(line), weight=weight)
    except UnicodeDecodeError as error:
        return Item(name, position, error=f"not UTF-8 (byte {error.start})", weight=weight)
    except json.JSONDecodeError as error:
        reason = f"invalid JSON: {error.msg} at column {error.colno}"
        return Item(name, position, error=reason, weight=weight)
    except RecursionError:
        return Item(name, position, error="invalid JSON: nested too deeply", weight=weight)


def _ndjson_items(name: str, raw: bytes) -> Iterator[Item]:
    held: Item | None = None  # yielded one line late, so trailing blank lines can join it
    weight = 0  # bytes since the last article line: blank lines count toward the next one
    for number, line in enumerate(io.BytesIO(raw), start=1):
        weight += len(line)
        if not line.strip():
            continue
        if held is not None:
            yield held
        held, weight = _ndjson_line(name, number, line, weight), 0
    if held is None:
        yield Item(name, None, error="the file holds no articles", weight=len(raw))
    else:
        yield replace(held, weight=held.weight + weight)


def read_files(files: Iterable[Path], *, source: str | None = None) -> Iterator[Item]:
    for path in files:
        yield from read_file(path, source=source)


# --- feeds ------------------------------------------------------------------------------------

_BREAK = "\ue000"  # private use: never in text
_BLOCKS = ("p", "div", "li", "blockquote", "pre", "tr", "h1", "h2", "h3", "h4", "h5", "h6")


def html_to_text(fragment: str) -> str:
    """The text of an HTML fragment (a feed entry's content), paragraphs kept apart. A
    fragment is not a page: the worker's page extraction would find no main text in it."""
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return fragment.strip()
    for element in root.iter(*_BLOCKS, "br"):
        # A <br> is marked with a character str.split() leaves alone: the markup's own line
        # breaks are spacing, and go with the rest of the whitespace.
        element.tail = (_BREAK if element.tag == "br" else "\n\n") + (element.tail or "")
    paragraphs = (" ".join(part.split()) for part in root.text_content().split("\n\n"))
    text = "\n\n".join(p for p in paragraphs if p)
    return re.sub(rf" ?{_BREAK} ?", "\n", text).strip()


def _iso(parsed: Any) -> str | None:
    """feedparser's dates are ``time.struct_time`` in UTC."""
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC).isoformat()


def _language(code: Any) -> str | None:
    primary = str(code or "").split("-")[0].split("_")[0].strip().lower()
    return primary if 2 <= len(primary) <= 3 and primary.isalpha() else None


# RSS's "email (Name)": feedparser takes only 2-4 letter top-level domains for the email and
# cuts the name of any other ("news@valley.example (Ann)" gives "ple (Ann").
_EMAIL_AND_NAME = re.compile(r"^\s*[^\s@()]+@[^\s()]+\s*\((?P<name>[^()]+)\)\s*$")


def _authors(entry: Any) -> list[str]:
    found = _EMAIL_AND_NAME.match(str(entry.get("author") or ""))
    if found:
        return [found["name"].strip()]
    return [a["name"] for a in entry.get("authors") or [] if a.get("name")]


def entry_article(
    entry: Any, *, source: str | None, language: str | None, feed: str
) -> dict[str, Any]:
    """One feed entry as an article: title, link as url, published, the content (or else
    the summary) as the body, the feed's title as the source."""
    body = None
    if entry.get("content"):
        content = entry["content"][0]
        body = content.get("value")
        is_html = "html" in str(content.get("type") or "text/html")
    else:
        body = entry.get("summary")
        is_html = "html" in str((entry.get("summary_detail") or {}).get("type") or "text/html")
    if body and is_html:
        body = html_to_text(body)
    authors = _authors(entry)
    link = str(entry.get("link") or "")
    article: dict[str, Any] = {
        "title": entry.get("title"),
        # RSS readers take a guid for the link unless it says isPermaLink="false"; one that is
        # not an address would get the article rejected.
        "url": link if link.startswith(("http://", "https://")) else None,
        "body": body,
        "source": source,
        "published_at": _iso(entry.get("published_parsed") or entry.get("updated_parsed")),
        "authors": authors or None,
        "language": language,
        # Kept by ingest as metadata.
        "feed": feed,
        "guid": entry.get("id"),
    }
    return {key: value for key, value in article.items() if value}


class FeedError(Exception):
    """The feed could not be read at all."""


def parse_feed(
    raw: bytes, *, origin: str, source: str | None = None, content_type: str | None = None
) -> tuple[str | None, list[Item]]:
    """The feed's title and one item per entry. feedparser reads the bytes given (never a
    URL or a path itself: fetching is ours, with timeouts)."""
    headers = {"content-location": origin}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(io.BytesIO(raw), response_headers=headers)
    if not parsed.entries:
        reason = parsed.get("bozo_exception")
        raise FeedError(f"no entries in {origin}" + (f": {reason}" if reason else ""))
    title = parsed.feed.get("title") or None
    language = _language(parsed.feed.get("language"))
    weights = _spread(len(raw), len(parsed.entries))
    items = [
        Item(
            origin,
            f"entry {number}",
            entry_article(entry, source=source or title, language=language, feed=origin),
            weight=weight,
        )
        for number, (entry, weight) in enumerate(zip(parsed.entries, weights, strict=True), 1)
    ]
    return title, items
