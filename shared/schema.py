"""The article schema: what clients may post, the queued payload and the deterministic id."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import lxml.etree
import lxml.html
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.article import ArticlePayload

__all__ = ["ArticleIn", "ValidationError", "article_id", "canonical_url", "to_payload"]

MAX_BODY_CHARS = 2_000_000
MAX_TITLE_CHARS = 1_000
MAX_HTML_CHARS = 5_000_000
MAX_METADATA_KEYS = 100

_WHITESPACE = re.compile(r"\s+")
# The <head> where canonical links live; parsing a whole page at ingest would cost too much.
MAX_HEAD_CHARS = 100_000


class ArticleIn(BaseModel):
    """One article as a client posts it. Unknown fields are kept, as ``metadata``."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    # A whole HTML page instead of (or beside) ``body``; the worker extracts its main text.
    # Declared before ``body`` so that body's validator can see it.
    html: str | None = Field(None, min_length=1, max_length=MAX_HTML_CHARS)
    body: str | None = Field(None, min_length=1, max_length=MAX_BODY_CHARS, validate_default=True)
    title: str | None = Field(None, max_length=MAX_TITLE_CHARS)
    url: str | None = Field(None, max_length=4_000)
    source: str | None = Field(None, max_length=300)
    published_at: datetime | None = None
    authors: list[str] = Field(default_factory=list, max_length=100)
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}$")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        _ = parts.port  # ValueError for a port outside 0-65535 here, not in canonical_url later
        return value

    @field_validator("authors", mode="before")
    @classmethod
    def _authors_list(cls, value: Any) -> Any:
        # A single author is commonly sent as a string.
        if isinstance(value, str):
            return [name for name in (part.strip() for part in value.split(";")) if name]
        return value

    @field_validator("language", mode="before")
    @classmethod
    def _lower_language(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("published_at")
    @classmethod
    def _aware_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        # A date without a zone is taken as UTC rather than the server's local time.
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
            raise ValueError("is out of range once converted to UTC") from None

    @field_validator("title", "source")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("body")
    @classmethod
    def _text_or_page(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value and not info.data.get("html"):
            raise ValueError("Field required: send 'body' (text) or 'html' (a whole page)")
        return value

    @model_validator(mode="after")
    def _bounded_metadata(self) -> ArticleIn:
        metadata = self.all_metadata()
        if len(metadata) > MAX_METADATA_KEYS:
            raise ValueError(
                f"at most {MAX_METADATA_KEYS} metadata fields (unknown fields count too)"
            )
        # Typed fields refuse lone surrogates; metadata values are any JSON, so check them:
        # UTF-8 cannot hold one, and the task message is UTF-8.
        if not _is_unicode(metadata):
            raise ValueError("a metadata value holds a lone surrogate, which is no text")
        return self

    def all_metadata(self) -> dict[str, Any]:
        """Explicit ``metadata`` merged with the unknown top-level fields."""
        return {**self.metadata, **(self.model_extra or {})}


def _is_unicode(value: Any) -> bool:
    """Whether every string in ``value`` (a JSON value: keys too) can be written as UTF-8."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def canonical_url(url: str) -> str:
    """The form of a URL that identifies an article: case-folded scheme and host, no fragment,
    no default port, no trailing slash."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((scheme, host, path, parts.query, ""))


def canonical_link(html: str) -> str | None:
    """The page's own address (``<link rel=canonical>``, else ``og:url``), so the same page
    fetched twice, with different ads or timestamps around it, gets the same id."""
    try:
        tree = lxml.html.fromstring(html[:MAX_HEAD_CHARS])
    except (lxml.etree.ParserError, ValueError):
        return None
    for found in tree.xpath('//link[@rel="canonical"]/@href | //meta[@property="og:url"]/@content'):
        candidate = str(found).strip()
        try:
            parts = urlsplit(candidate)
            _ = parts.port  # canonical_url reads it
        except ValueError:  # "http://[::1" (an unclosed IPv6 host) or a port past 65535
            continue
        if parts.scheme in ("http", "https") and parts.netloc:
            return candidate
    return None


def _normalise_text(text: str | None) -> str:
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text or "")).strip()


def article_id(*, url: str | None, source: str | None, title: str | None, body: str) -> str:
    """Deterministic id: from the canonical URL when there is one, else from source, title and
    body (whitespace-normalised), so re-posting an article never makes a second document."""
    if url:
        key = "url\x1f" + canonical_url(url)
    else:
        key = "\x1f".join(
            ("text", _normalise_text(source), _normalise_text(title), _normalise_text(body))
        )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def to_payload(article: ArticleIn, *, content_type: str, received_at: datetime) -> ArticlePayload:
    """The JSON-safe message queued for the worker: everything needed to enrich and index."""
    url = article.url or (canonical_link(article.html) if article.html else None)
    text = article.body or article.html or ""
    return {
        "id": article_id(url=url, source=article.source, title=article.title, body=text),
        "received_at": received_at.astimezone(UTC).isoformat(),
        "content_type": content_type,
        "title": article.title,
        "body": article.body,
        "html": article.html,
        "url": url,
        "source": article.source,
        "published_at": article.published_at.isoformat() if article.published_at else None,
        "authors": article.authors,
        "language": article.language,
        "metadata": article.all_metadata(),
    }
