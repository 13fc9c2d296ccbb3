"""Structured logs (issue 7): JSON lines with the article ids, the one logging set-up, and a
real Celery worker writing them."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pythonjsonlogger.json import JsonFormatter

from shared.clients import get_redis
from shared.logs import (
    ArticleContextFilter,
    TextFormatter,
    articles_logged,
    configure_logging,
    make_formatter,
    resolved_format,
)
from shared.monitoring import read_workers
from shared.settings import Settings
from tests.conftest import ROOT, RUN_ID, wait_until


def _logger(settings: Settings, log_format: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter(settings.model_copy(update={"log_format": log_format})))
    handler.addFilter(ArticleContextFilter())
    logger = logging.getLogger(f"tests.logs.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, stream


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_name_the_articles(settings: Settings) -> None:
    log, stream = _logger(settings, "json")
    with articles_logged(["a" * 32, "b" * 32]):
        log.info("batch done", extra={"indexed": 2})
        log.warning("step failed", extra={"article_id": "b" * 32})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("crashed")
    with articles_logged(["c" * 32]):
        log.info("alone")
    log.info("outside")
    batch, per_article, crashed, alone, outside = _lines(stream)
    assert batch["message"] == "batch done"
    assert batch["level"] == "INFO"
    assert batch["logger"] == log.name
    assert batch["time"].endswith("+00:00")
    assert batch["process"] == os.getpid()
    assert batch["indexed"] == 2
    assert batch["article_ids"] == ["a" * 32, "b" * 32]
    assert "article_id" not in batch
    # A line about one article names it, not the batch.
    assert per_article["article_id"] == "b" * 32
    assert "article_ids" not in per_article
    assert "ValueError: boom" in crashed["exc_info"]
    assert alone["article_id"] == "c" * 32
    assert alone["article_ids"] == ["c" * 32]
    assert "article_ids" not in outside


def test_text_lines_show_the_ids_too(settings: Settings) -> None:
    log, stream = _logger(settings, "text")
    with articles_logged(["a" * 32, "b" * 32]):
        log.info("batch done")
    log.info("plain")
    first, second = stream.getvalue().splitlines()
    assert first.endswith(f"batch done [article_ids={'a' * 32},{'b' * 32}]")
    assert second.endswith(f"{log.name}: plain")


def test_the_format_follows_the_environment(settings: Settings) -> None:
    assert resolved_format(settings.model_copy(update={"log_format": "auto"})) == "text"
    production = settings.model_copy(update={"log_format": "auto", "environment": "production"})
    assert resolved_format(production) == "json"
    assert resolved_format(production.model_copy(update={"log_format": "text"})) == "text"


@contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger without its handlers (pytest adds its own for each test phase, so this
    runs inside the test), restored afterwards."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers = []
    try:
        yield root
    finally:
        root.handlers = saved
        root.setLevel(level)


def test_configure_logging_installs_once(settings: Settings) -> None:
    chosen = settings.model_copy(update={"log_format": "json", "log_level": "WARNING"})
    with bare_root() as root:
        assert configure_logging(chosen)
        assert not configure_logging(chosen)  # never twice
        (handler,) = root.handlers
        assert isinstance(handler.formatter, JsonFormatter)
        assert root.level == logging.WARNING
        root.handlers = [logging.NullHandler()]  # configured by someone else: left alone
        assert not configure_logging(chosen)
        assert configure_logging(chosen.model_copy(update={"log_format": "text"}), force=True)
        assert isinstance(root.handlers[-1].formatter, TextFormatter)


@pytest.mark.stack
def test_a_real_worker_writes_json_lines_with_the_article_ids(
    services: None, settings: Settings, tmp_path: Path
) -> None:
    """A Celery worker (solo pool: no models load for this task) with NEWSROOM_LOG_FORMAT=json
    runs an alert evaluation for two article ids."""
    from shared.tasks import EVALUATE_ALERTS_TASK
    from worker.celery_app import app as celery_app

    queue = f"test-logs-{RUN_ID}"
    log_path = tmp_path / "worker.log"
    env = {**os.environ, "NEWSROOM_LOG_FORMAT": "json", "NEWSROOM_QUEUE_NAME": queue}
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "--pool", "solo",
             "--queues", queue, "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "--hostname", f"logs-{RUN_ID}@%h"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    ids = [uuid.uuid4().hex, uuid.uuid4().hex]
    try:
        wait_until(lambda: b" ready." in log_path.read_bytes(), timeout_s=120)
        celery_app.send_task(EVALUATE_ALERTS_TASK, args=[ids], queue=queue)
        wait_until(lambda: b"succeeded" in log_path.read_bytes(), timeout_s=60)

        def beating() -> bool:
            workers = read_workers(get_redis(settings), settings.index_prefix)
            return any(w["pid"] == process.pid for w in workers)

        # The process beats while it works (a solo pool: from its first task on).
        wait_until(beating, timeout_s=20)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        get_redis(settings).delete(queue)
    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    ready = [line for line in lines if line["message"].endswith(" ready.")]
    assert ready
    assert ready[0]["level"] == "INFO"
    assert ready[0]["logger"].startswith("celery")
    succeeded = [line for line in lines if "succeeded" in line["message"]]
    assert succeeded
    assert succeeded[0]["article_ids"] == ids
    # Every log line is JSON: what is not is Celery's start-up banner, printed before logging.
    others = [line for line in text.splitlines() if line.strip() and not line.startswith("{")]
    assert not [line for line in others if " INFO" in line or "WARNING" in line], others
