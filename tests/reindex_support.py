"""What the rebuild drills share (tests/test_reindex*.py): a lane of their own (index prefix,
queues and a real Celery worker), posting and waiting, a reader searching all the time."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

import ingest
import web
from shared.clients import get_elasticsearch, get_redis
from shared.index import delete_templates
from shared.settings import Settings
from tests.conftest import RUN_ID, start_worker, stop_worker, wait_until


@dataclass
class Drill:
    settings: Settings
    ingest: FlaskClient
    web: FlaskClient
    worker_log: Path
    accepted: list[str] = field(default_factory=list)


def article(number: int, phase: str) -> dict[str, Any]:
    return {
        "title": f"Reindex drill {phase} story {number}",
        "body": f"The ferry to Kirkwall ran late on day {number} of the {phase} trial, "
        "the harbour office said. Passengers waited an hour.",
        "url": f"https://reindex.example/{phase}/{number}",
        "source": "Drill Wire",
        "published_at": f"2025-0{1 + number % 9}-1{number % 9}T08:00:00Z",
    }


def post(drill: Drill, articles: list[dict[str, Any]]) -> list[str]:
    response = drill.ingest.post("/articles", json=articles)
    assert response.status_code == 202, response.get_json()
    ids = [article["id"] for article in response.get_json()["articles"]]
    drill.accepted += ids
    return ids


def post_one_by_one(drill: Drill, count: int, posted: list[str], every_s: float = 0.25) -> None:
    """Post ``count`` articles ("during" the rebuild) one at a time, their ids into ``posted``."""
    for number in range(count):
        posted.extend(post(drill, [article(number, "during")]))
        time.sleep(every_s)


def all_indexed(drill: Drill, ids: list[str]) -> None:
    def done() -> bool:
        states = {drill.ingest.get(f"/articles/{i}").get_json()["state"] for i in ids}
        assert "failed" not in states
        return states == {"indexed"}

    wait_until(done, timeout_s=120)


def lane_env(own: Settings) -> dict[str, str]:
    """The environment of a process (worker, `newsroom`) working in the drill's lane."""
    return os.environ | {
        "NEWSROOM_INDEX_PREFIX": own.index_prefix,
        "NEWSROOM_QUEUE_NAME": own.queue_name,
        "NEWSROOM_BULK_QUEUE_NAME": own.bulk_queue_name,
    }


@contextmanager
def reindex_drill(
    settings: Settings,
    tmp_dir: Path,
    name: str,
    *,
    before: int,
    prepare: Callable[[Settings], None] = lambda _own: None,
    started: Callable[[Drill], None] = lambda _drill: None,
) -> Iterator[Drill]:
    """A lane named ``name``: ``prepare(own settings)`` runs first (no worker yet), then a
    worker starts, ``started(drill)`` runs and ``before`` articles are indexed; everything
    the lane made (indices, index templates, queues) is deleted afterwards."""
    prefix = f"{settings.index_prefix}-{name}"
    own = settings.model_copy(
        update={
            "index_prefix": prefix,
            "queue_name": f"test-{RUN_ID}-{name}",
            "bulk_queue_name": f"test-{RUN_ID}-{name}-bulk",
        }
    )
    es = get_elasticsearch(settings)
    worker = None
    try:
        prepare(own)
        log_path = tmp_dir / "worker.log"
        worker = start_worker(
            lane_env(own), log_path, [own.queue_name, own.bulk_queue_name], f"{name}-{RUN_ID}"
        )
        drill = Drill(
            own,
            ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own}).test_client(),
            web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own}).test_client(),
            log_path,
        )
        started(drill)
        ids = post(drill, [article(n, "before") for n in range(before)])
        all_indexed(drill, ids)
        es.indices.refresh(index=own.articles_alias)
        yield drill
    finally:
        if worker is not None:
            stop_worker(worker)
        names = list(es.indices.get(index=f"{prefix}-*", allow_no_indices=True))
        if names:
            es.indices.delete(index=",".join(names))
        delete_templates(es, own)
        get_redis(settings).delete(own.queue_name, own.bulk_queue_name)


class SearchLoop(threading.Thread):
    """Searches as readers do, all the time, counting every failure."""

    def __init__(self, client: FlaskClient, at_least: int) -> None:
        super().__init__(daemon=True)
        self.client, self.at_least = client, at_least
        self.stop = threading.Event()
        self.searches = 0
        self.failures: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._search_until_stopped()
        except BaseException as error:  # kept for finish(): the test fails, not just warns
            self.error = error
            raise

    def finish(self) -> None:
        """Stop and join; raise what the thread raised."""
        self.stop.set()
        self.join(timeout=30)
        if self.error is not None:
            raise AssertionError(f"the search thread failed: {self.error!r}") from self.error
        assert not self.is_alive(), "the search thread did not stop"

    def _search_until_stopped(self) -> None:
        while not self.stop.is_set():
            response = self.client.get("/api/search?q=ferry&mode=keyword&size=1")
            self.searches += 1
            if response.status_code != 200:
                self.failures.append(f"{response.status_code}: {response.get_data(as_text=True)}")
            elif response.get_json()["total"] < self.at_least:
                self.failures.append(f"only {response.get_json()['total']} results")
            time.sleep(0.02)


def stored(drill: Drill, index: str) -> dict[str, dict[str, Any]]:
    """Every document of ``index`` by id, vectors included."""
    es = get_elasticsearch(drill.settings)
    es.indices.refresh(index=index)
    found = es.search(
        index=index,
        size=1000,
        query={"match_all": {}},
        source={"exclude_vectors": False},
    )
    return {hit["_id"]: hit["_source"] for hit in found["hits"]["hits"]}
