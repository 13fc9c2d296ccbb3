"""The worker's logs, heartbeats and retry count, hooked to Celery's signals.

Imported by ``worker.celery_app`` so the receivers are connected before the worker sets up
logging. Nothing here imports the tasks or the Celery app.

- ``setup_logging``: Celery leaves logging to us (shared/logs.py: JSON or text on stderr).
- ``task_prerun``/``task_postrun``: the task's articles are bound to every line it logs
  (``article_ids``, and ``article_id`` for a one-article batch), and the heartbeat says busy.
- ``worker_process_init``: each worker process writes a heartbeat every few seconds (from a
  daemon thread, so it goes on while a batch is enriched) for the pipeline page and
  `newsroom status`; ``worker_process_shutdown`` removes it.
- ``task_retry``: batches retried whole after an outage are counted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from contextvars import Token
from typing import Any

import redis
from celery.signals import (
    setup_logging,
    task_postrun,
    task_prerun,
    task_retry,
    worker_process_init,
    worker_process_shutdown,
)

from shared import metrics
from shared.clients import get_redis
from shared.logs import bind_articles, configure_logging, unbind_articles
from shared.monitoring import HEARTBEAT_INTERVAL_S, remove_heartbeat, write_heartbeat
from shared.settings import get_settings
from shared.tasks import PROCESS_ARTICLES_TASK

log = logging.getLogger(__name__)


def article_ids_of(args: Sequence[Any] | None) -> list[str]:
    """The article ids a task's arguments hold, whatever the task: a batch of payloads
    (process_articles), a list of ids (evaluate_alerts), or a webhook payload listing its
    articles (deliver_webhook)."""
    for arg in args or ():
        if isinstance(arg, list) and arg:
            if all(isinstance(item, str) for item in arg):
                return list(arg)
            if all(isinstance(item, Mapping) and "id" in item for item in arg):
                return [str(item["id"]) for item in arg]
        if isinstance(arg, Mapping) and isinstance(arg.get("articles"), list):
            return [str(a["id"]) for a in arg["articles"] if isinstance(a, Mapping) and "id" in a]
    return []


class Heartbeat:
    """This process's entry in ``<prefix>:workers``, refreshed by a daemon thread."""

    def __init__(self) -> None:
        self.pid = 0
        self.worker_id = ""
        self.info: dict[str, Any] = {}
        self._stop = threading.Event()
        self._tasks_done = 0

    def start(self) -> None:
        """Start beating for this process (once; again in a forked child)."""
        if self.pid == os.getpid():
            return
        self.pid = os.getpid()
        self.worker_id = f"{socket.gethostname()}:{self.pid}"
        self._stop = threading.Event()
        now = time.time()
        # The dict is replaced, never changed in place: the thread may be serialising it.
        self.info = {
            "host": socket.gethostname(),
            "pid": self.pid,
            "started_at": now,
            "state": "idle",
            "since": now,
            "tasks_done": 0,
        }
        threading.Thread(target=self._run, name="newsroom-heartbeat", daemon=True).start()

    def _run(self) -> None:
        while True:
            self.beat()
            if self._stop.wait(HEARTBEAT_INTERVAL_S):
                return

    def beat(self) -> None:
        settings = get_settings()
        try:
            write_heartbeat(get_redis(settings), settings.index_prefix, self.worker_id, self.info)
        except (redis.RedisError, OSError) as error:
            log.debug("heartbeat not written: %s", error)

    def busy(self, task: str, articles: int) -> None:
        self.info = self.info | {
            "state": "busy",
            "task": task,
            "articles": articles,
            "since": time.time(),
        }

    def idle(self) -> None:
        self._tasks_done += 1
        self.info = self.info | {
            "state": "idle",
            "task": None,
            "articles": 0,
            "since": time.time(),
            "tasks_done": self._tasks_done,
        }

    def stop(self) -> None:
        self._stop.set()
        settings = get_settings()
        try:
            remove_heartbeat(get_redis(settings), settings.index_prefix, self.worker_id)
        except (redis.RedisError, OSError) as error:
            log.debug("heartbeat not removed: %s", error)


HEARTBEAT = Heartbeat()
_bound: dict[str, Token[tuple[str, ...]]] = {}


@setup_logging.connect  # type: ignore[untyped-decorator]
def _setup_logging(loglevel: str | int | None = None, **_: Any) -> None:
    configure_logging(get_settings(), level=loglevel or None, force=True)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _start_heartbeat(**_: Any) -> None:
    HEARTBEAT.start()


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _stop_heartbeat(**_: Any) -> None:
    HEARTBEAT.stop()


@task_prerun.connect  # type: ignore[untyped-decorator]
def _task_started(
    task_id: str | None = None, task: Any = None, args: Sequence[Any] | None = None, **_: Any
) -> None:
    HEARTBEAT.start()  # pools without worker processes (solo, threads) start it here
    ids = article_ids_of(args)
    if task_id is not None:
        _bound[task_id] = bind_articles(ids)
    HEARTBEAT.busy(getattr(task, "name", "?"), len(ids))


@task_postrun.connect  # type: ignore[untyped-decorator]
def _task_finished(task_id: str | None = None, **_: Any) -> None:
    token = _bound.pop(task_id, None) if task_id is not None else None
    if token is not None:
        # Bound in another context (a thread pool): nothing to undo here.
        with contextlib.suppress(ValueError):
            unbind_articles(token)
    HEARTBEAT.idle()


@task_retry.connect  # type: ignore[untyped-decorator]
def _count_retry(sender: Any = None, **_: Any) -> None:
    if getattr(sender, "name", None) != PROCESS_ARTICLES_TASK:
        return
    settings = get_settings()
    metrics.commit_quietly(
        metrics.Recorder().inc(metrics.BATCH_RETRIES), get_redis(settings), settings.index_prefix
    )
