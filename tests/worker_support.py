"""A worker of a test's own: a queue (a lane) with an ingest app posting to it, and a real Celery
worker process consuming it, started from any app module (worker.celery_app, or
tests.crashing_worker with its one fault) and with its own environment."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import redis
from flask import Flask

import ingest
from shared.settings import Settings
from tests.conftest import RUN_ID, start_worker, wait_until


def start_app_worker(
    env: dict[str, str],
    log_path: Path,
    app_module: str,
    *,
    queues: list[str] | None = None,
    concurrency: int = 2,
) -> subprocess.Popen[bytes]:
    """A worker of ``app_module`` on ``queues`` (by default the lane's live and bulk queues
    from ``env``)."""
    queues = queues or [env["NEWSROOM_QUEUE_NAME"], env["NEWSROOM_BULK_QUEUE_NAME"]]
    name = f"{log_path.stem}-{RUN_ID}"
    return start_worker(
        env, log_path, queues, name, "--concurrency", str(concurrency), app=app_module
    )


class Lane:
    """A queue of its own: an ingest app posting to it and the states of what it accepted."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.queue = f"test-{RUN_ID}-{name}"
        self.bulk_queue = f"{self.queue}-bulk"
        self.settings = settings.model_copy(
            update={"queue_name": self.queue, "bulk_queue_name": self.bulk_queue}
        )
        self.app: Flask = ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": self.settings})

    def post(self, articles: list[dict[str, Any]]) -> list[str]:
        response = self.app.test_client().post("/articles", json=articles)
        assert response.status_code == 202, response.get_data(as_text=True)
        return [item["id"] for item in response.get_json()["articles"]]

    def states(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        client = self.app.test_client()
        return {i: client.get(f"/articles/{i}").get_json() for i in ids}

    def wait_final(self, ids: list[str], timeout_s: float) -> dict[str, dict[str, Any]]:
        def final() -> dict[str, dict[str, Any]] | None:
            states = self.states(ids)
            done = all(s["state"] in {"indexed", "failed"} for s in states.values())
            return states if done else None

        found: dict[str, dict[str, Any]] = wait_until(final, timeout_s=timeout_s, interval_s=0.5)
        return found

    def broker_empty(self, client: redis.Redis) -> bool:
        """Nothing of this lane in its queues, nor held by a worker (kombu's ``unacked``
        hash, where countdown retries wait too; the shared Redis holds other lanes' there)."""
        if int(client.llen(self.queue)) or int(client.llen(self.bulk_queue)):
            return False
        held: list[str] = client.hvals("unacked")  # type: ignore[assignment]
        for raw in held:
            _message, _exchange, routing_key = json.loads(raw)
            if routing_key in (self.queue, self.bulk_queue):
                return False
        return True

    def wait_broker_empty(self, client: redis.Redis, timeout_s: float = 60) -> None:
        """Until the lane's last tasks (alert evaluations after the last batch) are done."""
        wait_until(lambda: self.broker_empty(client), timeout_s=timeout_s)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a worker for this lane."""
        env = os.environ.copy()
        env.update(
            {
                "NEWSROOM_QUEUE_NAME": self.queue,
                "NEWSROOM_BULK_QUEUE_NAME": self.bulk_queue,
                "NEWSROOM_LOG_FORMAT": "text",
            }
            | extra
        )
        return env
