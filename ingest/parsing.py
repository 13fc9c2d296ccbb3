"""Turn a POST /articles request body into validated articles, whatever its content type."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import charset_normalizer
from pydantic import ValidationError

from shared.http import ApiError
from shared.schema import ArticleIn

JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
TEXT_TYPES = frozenset({"text/plain"})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
SUPPORTED_TYPES = sorted(JSON_TYPES | NDJSON_TYPES | TEXT_TYPES | HTML_TYPES)
# Fields a text/plain or text/html post may set through the query string.
TEXT_QUERY_FIELDS = ("title", "url", "source", "published_at", "language", "authors")


@dataclass(frozen=True)
class Rejected:
    position: int  # 0-based index in a JSON array, 1-based line in NDJSON
    errors: list[dict[str, Any]]


@dataclass(frozen=True)
class ParsedRequest:
    articles: list[ArticleIn]
    rejected: list[Rejected]
    position_name: str  # "index" or "line"
    positions: list[int] = field(default_factory=list)  # of each article, as in ``Rejected``


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1  # NDJSON counts lines from 1, as here
        raise ApiError(
            400,
            "Invalid encoding",
            f"the body is not valid UTF-8 (line {line}, byte {error.start})",
            line=line,
            byte=error.start,
        ) from error


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("overflows to infinity")
    return value


def _loads(text: str) -> Any:
    """``json.loads`` without Python's extensions: NaN, Infinity and numbers that overflow to
    infinity are not JSON, and Elasticsearch would refuse the article after it was accepted."""
    return json.loads(text, parse_constant=_not_a_number, parse_float=_finite)


# Python refuses integers of more than 4300 digits with a ValueError that is no JSONDecodeError.
_BAD_NUMBER = "a number is not finite, too large or too long"


def _decode_html(raw: bytes, charset: str | None) -> str:
    """Web pages come in many encodings: the declared charset, else UTF-8, else detected."""
    if charset:
        try:
            return raw.decode(charset)
        except (LookupError, UnicodeDecodeError) as error:
            raise ApiError(
                400, "Invalid encoding", f"the body is not valid {charset}: {error}"
            ) from error
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        best = charset_normalizer.from_bytes(raw).best()
        if best is None:
            raise ApiError(
                400, "Invalid encoding", "cannot tell the page's encoding; send a charset"
            ) from None
        return str(best)


def _field_errors(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(part) for part in item["loc"]) or "(article)",
            "message": item["msg"],
        }
        for item in error.errors(include_url=False, include_input=False)
    ]


def _validate(item: Any) -> ArticleIn | list[dict[str, Any]]:
    if not isinstance(item, dict):
        return [
            {"field": "(article)", "message": f"expected a JSON object, got {type(item).__name__}"}
        ]
    try:
        return ArticleIn.model_validate(item)
    except ValidationError as error:
        return _field_errors(error)


def _json_items(text: str) -> Iterator[tuple[int, Any]]:
    try:
        document = _loads(text)
    except json.JSONDecodeError as error:
        raise ApiError(
            400,
            "Malformed JSON",
            f"{error.msg} at line {error.lineno} column {error.colno}",
            line=error.lineno,
            column=error.colno,
        ) from error
    except RecursionError as error:
        raise ApiError(400, "Malformed JSON", "the JSON is nested too deeply") from error
    except ValueError as error:
        raise ApiError(400, "Malformed JSON", _BAD_NUMBER) from error
    if isinstance(document, list):
        if not document:
            raise ApiError(400, "Empty batch", "the JSON array holds no articles")
        yield from enumerate(document)
    else:
        yield 0, document


def _ndjson_items(text: str) -> Iterator[tuple[int, Any]]:
    found = False
    # Lines end at "\n" only (NDJSON; "\r\n" leaves a "\r", which JSON ignores): splitlines()
    # would also cut at U+2028, U+2029 and U+0085, which JSON strings may hold unescaped.
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        found = True
        try:
            yield line_number, _loads(line)
        except json.JSONDecodeError as error:
            raise ApiError(
                400,
                "Malformed NDJSON",
                f"line {line_number}: {error.msg} at column {error.colno}",
                line=line_number,
                column=error.colno,
            ) from error
        except RecursionError as error:
            raise ApiError(
                400, "Malformed NDJSON", f"line {line_number}: nested too deeply", line=line_number
            ) from error
        except ValueError as error:
            detail = f"line {line_number}: {_BAD_NUMBER}"
            raise ApiError(400, "Malformed NDJSON", detail, line=line_number) from error
    if not found:
        raise ApiError(400, "Empty batch", "the NDJSON body holds no articles")


def _single_item(field: str, text: str, query: Mapping[str, str]) -> Iterator[tuple[int, Any]]:
    item: dict[str, Any] = {name: query[name] for name in TEXT_QUERY_FIELDS if query.get(name)}
    item[field] = text
    yield 0, item


def parse_articles(
    raw: bytes,
    mimetype: str,
    query: Mapping[str, str],
    max_articles: int,
    charset: str | None = None,
) -> ParsedRequest:
    """Validate every article in the body. Raises ``ApiError`` for a body that cannot be read at
    all; articles that fail validation are returned in ``rejected`` with the reasons."""
    if mimetype not in SUPPORTED_TYPES:
        raise ApiError(
            415,
            "Unsupported content type",
            f"cannot read {mimetype or 'a body without Content-Type'}; "
            f"send one of {', '.join(SUPPORTED_TYPES)}",
            supported=SUPPORTED_TYPES,
        )
    if not raw.strip():
        raise ApiError(400, "Empty body", "the request body is empty")
    position_name = "line" if mimetype in NDJSON_TYPES else "index"
    items: Iterator[tuple[int, Any]]
    if mimetype in HTML_TYPES:
        items = _single_item("html", _decode_html(raw, charset), query)
    elif mimetype in JSON_TYPES:
        items = _json_items(_decode(raw))
    elif mimetype in NDJSON_TYPES:
        items = _ndjson_items(_decode(raw))
    else:
        items = _single_item("body", _decode(raw), query)
    articles: list[ArticleIn] = []
    positions: list[int] = []
    rejected: list[Rejected] = []
    for count, (position, item) in enumerate(items, start=1):
        if count > max_articles:
            raise ApiError(
                413,
                "Too many articles",
                f"at most {max_articles} articles per request; split the batch",
            )
        validated = _validate(item)
        if isinstance(validated, ArticleIn):
            articles.append(validated)
            positions.append(position)
        else:
            rejected.append(Rejected(position, validated))
    return ParsedRequest(articles, rejected, position_name, positions)
