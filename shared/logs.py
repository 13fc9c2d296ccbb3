"""One logging set-up for ingest, web and the worker: lines on stderr, JSON or text.

JSON lines (NEWSROOM_LOG_FORMAT=json, the default in production) carry ``time``, ``level``,
``logger``, ``message``, ``process`` and every ``extra`` field a call passed, so a collector can
filter by any of them; python-json-logger writes them (it handles extras, exceptions and odd
values that a hand-written formatter would have to relearn). Text (the default elsewhere) is
for people reading a terminal.

Worker lines name their articles: the task binds the batch's ids (``bind_articles``), and a
filter adds ``article_ids`` (and ``article_id`` when the batch holds one article) to every
line logged meanwhile; per-article lines pass ``extra={"article_id": ...}`` themselves.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from pythonjsonlogger.json import JsonFormatter

from shared.settings import Settings

ARTICLE_IDS: ContextVar[tuple[str, ...]] = ContextVar("newsroom_article_ids", default=())
# Marks the handler this module installed, so a second call does not add another.
_MARK = "_newsroom_handler"


def bind_articles(ids: Iterable[str]) -> Token[tuple[str, ...]]:
    """Name these articles on every line logged in this context until ``unbind_articles``."""
    return ARTICLE_IDS.set(tuple(ids))


def unbind_articles(token: Token[tuple[str, ...]]) -> None:
    ARTICLE_IDS.reset(token)


@contextmanager
def articles_logged(ids: Iterable[str]) -> Iterator[None]:
    token = bind_articles(ids)
    try:
        yield
    finally:
        unbind_articles(token)


class ArticleContextFilter(logging.Filter):
    """Adds the bound articles' ids to each record that does not name its article already."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = ARTICLE_IDS.get()
        if ids and not hasattr(record, "article_id"):
            if not hasattr(record, "article_ids"):
                record.article_ids = list(ids)
            if len(ids) == 1:
                record.article_id = ids[0]
        return True


class TextFormatter(logging.Formatter):
    """``time level logger: message [article_id=...]``: the article ids stay visible."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        named = getattr(record, "article_id", None) or getattr(record, "article_ids", None)
        if named is None:
            return line
        label = "article_id" if hasattr(record, "article_id") else "article_ids"
        value = named if isinstance(named, str) else ",".join(map(str, named))
        first, newline, rest = line.partition("\n")  # after the message, before a traceback
        return f"{first} [{label}={value}]{newline}{rest}"


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "{levelname}{name}{process}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",  # ISO 8601, UTC
    )


def resolved_format(settings: Settings) -> str:
    if settings.log_format != "auto":
        return settings.log_format
    return "json" if settings.environment == "production" else "text"


def make_formatter(settings: Settings) -> logging.Formatter:
    return json_formatter() if resolved_format(settings) == "json" else TextFormatter()


def configure_logging(
    settings: Settings, *, level: str | int | None = None, force: bool = False
) -> bool:
    """Send the root logger's records to stderr in the configured format; return whether this
    call did it. Leaves a root logger that something else configured alone (a test runner,
    a host application) unless ``force``; never installs twice."""
    root = logging.getLogger()
    if any(getattr(handler, _MARK, False) for handler in root.handlers):
        return False
    if root.handlers and not force:
        return False
    formatter = make_formatter(settings)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _MARK, True)
    handler.setFormatter(formatter)
    handler.addFilter(ArticleContextFilter())
    root.addHandler(handler)
    root.setLevel(level or settings.log_level)
    if root.getEffectiveLevel() > logging.DEBUG:
        # One INFO line per Elasticsearch request drowns everything else.
        logging.getLogger("elastic_transport.transport").setLevel(logging.WARNING)
    if resolved_format(settings) == "json":
        # gunicorn writes its own lines through these (propagate off): same format for them.
        for name in ("gunicorn.error", "gunicorn.access"):
            for existing in logging.getLogger(name).handlers:
                existing.setFormatter(formatter)
    return True
