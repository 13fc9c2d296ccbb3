"""Losing an Elasticsearch node (GitHub issue 7, "Scale-out"): nothing accepted is lost and
search keeps answering.

Two Elasticsearch nodes on loopback form one cluster (``scripts/services.sh`` twice, each with
its own state directory, HTTP and transport ports): node 1 is master and data and bootstraps
the cluster alone (``cluster.initial_master_nodes``), node 2 holds data only (``node.roles=data``)
and joins through ``discovery.seed_hosts``. The index has two shards and one replica, so each
node holds a copy of every shard. Ingest (gunicorn), a Celery worker and the web app (in this
process, searched from a thread) list both nodes in ``NEWSROOM_ELASTICSEARCH_URL``. After a
third of the articles are accepted, node 2 gets ``kill -9``; posting goes on. Then the census of
tests/test_drills.py: accepted = indexed ∪ dead-lettered, one document per id. Every search
must have answered 200, the cluster must be yellow with one node and every primary on node 1.

Only the data node is killed: with two nodes just one can hold the master vote, and a cluster
that loses it has no master (docs/RELIABILITY.md, "Losing an Elasticsearch node"; the 3-node
docker-compose.cluster.yml survives losing any one node).

    .venv/bin/python -m pytest tests/test_cluster.py -q
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

import pytest
from elasticsearch import Elasticsearch

from shared.clients import get_elasticsearch
from shared.index import ensure_index
from shared.settings import Settings
from tests.drill_support import (
    SETTLE_S,
    WORDS,
    Drill,
    PostResult,
    Stack,
    check,
    fault_hit,
    free_port,
    join_poster,
    make_articles,
    settle,
    wait_for,
)
from worker.enrich.registry import article_mappings

RUN_ID = uuid.uuid4().hex[:8]
ARTICLES = 1000
SHARDS = 2
SEARCH_PAUSE_S = 0.05
WARM_UP = 20


@dataclass
class Cluster:
    first: Stack  # master + data, and the drill's Redis
    second: Stack  # data only
    booting: list[Future[float]]
    started: float

    def wait_until_up(self) -> float:
        """Block until both nodes answer; return the seconds since the cluster began to start."""
        for node in self.booting:
            node.result()
        return time.monotonic() - self.started


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two nodes, one cluster, still booting (``wait_until_up``); stopped and deleted at the end."""
    if os.geteuid() == 0:
        # Elasticsearch runs as the user `newsroom`, which cannot reach /root or /tmp/pytest-*.
        base = Path("/var/lib/newsroom") / f"drills-{RUN_ID}-cluster"
    else:
        base = tmp_path_factory.mktemp("cluster")
    transport = [free_port(), free_port()]
    names = [f"drills-{RUN_ID}-node-1", f"drills-{RUN_ID}-node-2"]
    seeds = ",".join(f"127.0.0.1:{port}" for port in transport)
    roles = [f"-Ecluster.initial_master_nodes={names[0]}", "-Enode.roles=data"]
    nodes = tuple(
        Stack(
            RUN_ID,
            base / f"node-{number}",
            es_discovery="multi-node",
            es_node_name=names[number - 1],
            # Explicit seeds: the default scans 9300-9305, where the shared node listens.
            es_extra_opts=f"-Etransport.port={transport[number - 1]} "
            f"-Ediscovery.seed_hosts={seeds} {roles[number - 1]}",
        )
        for number in (1, 2)
    )
    started = time.monotonic()
    pool = ThreadPoolExecutor(2)
    try:
        nodes[0].services("start", "redis")
        # Node 2's start returns once it has joined node 1, so both boot at once, while the test
        # starts ingest and the worker (which need only Redis until the first batch).
        booting = [pool.submit(node.services, "start", "elasticsearch") for node in nodes]
        yield Cluster(nodes[0], nodes[1], booting, started)
    finally:
        pool.shutdown(wait=True)  # a start still running would race the stop
        try:
            for node in reversed(nodes):
                node.services("stop")  # node 2's Redis was never started: nothing to stop
        finally:
            shutil.rmtree(base, ignore_errors=True)


class SearchLoop:
    """Keyword searches through the web app's JSON API, from a thread, until stopped. Every
    answer but 200 is a failure. The client's fail-overs (elastic_transport's "Retrying request
    after failure") made by this thread are counted too, to show the dead node was tried."""

    QUERIES: ClassVar[list[str]] = ["drill", *WORDS["city"]]

    def __init__(self, settings: Settings) -> None:
        from web import create_app  # the web app, with the drill's settings (both nodes)

        self.client = create_app({"NEWSROOM_SETTINGS": settings, "TESTING": True}).test_client()
        self.requests = 0
        self.after_kill = 0
        self.failures: list[str] = []
        # Why each fail-over happened: NewConnectionError (the port refuses: the node is gone)
        # or ProtocolError (a request in flight when it died, its connection closed under it).
        self.failovers: Counter[str] = Counter()
        self.slowest_s = 0.0
        self.drill_total = {"at_kill": 0, "last": 0}  # "drill" matches every article
        self.killed = threading.Event()
        self.error: BaseException | None = None  # what ended the thread, if not the stop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cluster-searches", daemon=True)
        self._log = logging.getLogger("elastic_transport.transport")
        self._handler = _FailoverCounter(self, self._thread.name)

    def __enter__(self) -> SearchLoop:
        self._log.addHandler(self._handler)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._log.removeHandler(self._handler)
        if exc[0] is None:  # the thread's failure fails the test, unless one is under way
            if self.error is not None:
                raise AssertionError(f"the search thread failed: {self.error!r}") from self.error
            assert not self._thread.is_alive(), "the search thread did not stop"

    def _run(self) -> None:
        try:
            self._search_until_stopped()
        except BaseException as error:
            self.error = error
            raise

    def _search_until_stopped(self) -> None:
        number = 0
        while not self._stop.is_set():
            query = self.QUERIES[number % len(self.QUERIES)]
            number += 1
            started = time.monotonic()
            try:
                response = self.client.get(
                    "/api/search", query_string={"q": query, "mode": "keyword"}
                )
                status, body = response.status_code, response.get_json(silent=True) or {}
            except Exception as error:  # an exception in the view is a failure too
                status, body = 0, {"error": repr(error)}
            self.slowest_s = max(self.slowest_s, time.monotonic() - started)
            self.requests += 1
            self.after_kill += self.killed.is_set()
            if status != 200:
                self.failures.append(f"{status} for {query!r}: {body}")
            elif query == "drill":
                self.drill_total["last"] = int(body["total"])
                if not self.killed.is_set():
                    self.drill_total["at_kill"] = self.drill_total["last"]
            self._stop.wait(SEARCH_PAUSE_S)

    def figures(self) -> dict[str, Any]:
        return {
            "search_requests": self.requests,
            "search_requests_after_kill": self.after_kill,
            "failed_searches": len(self.failures),
            "search_failovers": sum(self.failovers.values()),
            "search_failovers_by_cause": dict(self.failovers),
            "slowest_search_s": round(self.slowest_s, 2),
        }


class _FailoverCounter(logging.Handler):
    def __init__(self, loop: SearchLoop, thread_name: str) -> None:
        super().__init__(logging.WARNING)
        self.loop, self.thread_name = loop, thread_name

    def emit(self, record: logging.LogRecord) -> None:
        if record.threadName != self.thread_name or "after failure" not in record.getMessage():
            return
        error = record.exc_info[1] if record.exc_info else None
        causes = getattr(error, "errors", ()) or (error,)
        self.loop.failovers[type(causes[0]).__name__] += 1


def primaries(es: Elasticsearch, index: str) -> dict[str, str]:
    """Shard number → the node holding its started primary."""
    rows = es.cat.shards(index=index, format="json", h="shard,prirep,state,node").body
    return {
        str(row["shard"]): str(row["node"])
        for row in cast("list[dict[str, str]]", rows)
        if row["prirep"] == "p" and row["state"] == "STARTED"
    }


@pytest.mark.drill
def test_losing_a_data_node_during_ingest(cluster: Cluster) -> None:
    first, second = cluster.first, cluster.second
    drill = Drill(
        "7-lose-es-node",
        first,
        7,
        elasticsearch_url=f"{first.es_url},{second.es_url}",
        index_replicas=1,
        index_shards=SHARDS,
    )
    alias = drill.settings.articles_alias
    try:
        drill.start_ingest(healthy=False)  # Elasticsearch is still booting
        worker = drill.start_worker("a")
        cluster_start_s = cluster.wait_until_up()
        ensure_index(drill.es, drill.settings, article_mappings())
        health = drill.es.cluster.health(
            index=alias, wait_for_status="green", wait_for_nodes="2", timeout="60s"
        )
        assert not health["timed_out"], health
        roles = {node["name"]: node["roles"] for node in drill.es.nodes.info()["nodes"].values()}
        assert roles[second.es_node_name] == ["data"], roles  # -Enode.roles=data: a list of one
        assert "master" in roles[first.es_node_name], roles
        before = primaries(drill.es, alias)
        assert len(before) == SHARDS, before
        # The balancer spreads the primaries: node 2 holds one, whose replica must take over.
        assert second.es_node_name in before.values(), f"no primary on node 2: {before}"
        articles = make_articles("node", ARTICLES, seed=7)
        # One batch first, so the kill finds the worker indexing, not still loading its models.
        result = drill.post(articles[:WARM_UP], PostResult())
        wait_for("the first batch indexed", lambda: drill.indexed_count() >= WARM_UP, 120)
        with SearchLoop(drill.settings) as searches:
            poster = drill.post_in_background(articles[WARM_UP:], result, batch=20, pause_s=0.3)
            wait_for("a third accepted", lambda: len(result.accepted) >= ARTICLES // 3, 120, 0.1)
            accepted_at_kill, indexed_at_kill = len(result.accepted), drill.indexed_count()
            searches.killed.set()
            second.kill_elasticsearch()
            killed = time.monotonic()

            def promoted() -> dict[str, str] | None:
                found = primaries(drill.es, alias)
                return found if list(found.values()) == [first.es_node_name] * SHARDS else None

            after = wait_for("every primary started on node 1", promoted, 60, 0.1)
            promoted_s = time.monotonic() - killed
            join_poster(poster)
            drill.wait_until_settled(result.accepted, SETTLE_S)
        health = drill.es.cluster.health()
        census, _ = settle(
            drill,
            result,
            ARTICLES,
            **searches.figures(),
            nodes_before_kill=2,
            cluster_start_s=round(cluster_start_s, 1),
            accepted_at_kill=accepted_at_kill,
            indexed_at_kill=indexed_at_kill,
            primaries_before_kill=before,
            primaries_after_kill=after,
            primaries_on_node_1_after_s=round(promoted_s, 1),
            health_after_kill={
                key: health[key] for key in ("status", "number_of_nodes", "unassigned_shards")
            },
            # The worker's own client also met the dead node, and went on to node 1.
            worker_failovers=worker.log().count("Retrying request after failure"),
            index_shards=SHARDS,
            index_replicas=1,
        )
        check(drill, result, census)  # every article indexed, none dead-lettered, broker empty
        assert not searches.failures, searches.failures[:5]
        assert searches.after_kill > 0, searches.figures()
        # The kill met work in progress, and both the searches and the worker's own client
        # met the dead node and went on to the other one.
        fault_hit(
            drill,
            "kill -9 the data node of a two-node cluster during ingest",
            articles_not_yet_indexed_at_kill=accepted_at_kill - indexed_at_kill,
            search_failovers=sum(searches.failovers.values()),
        )
        # Searches after the kill saw articles indexed after it: the cluster kept taking writes.
        assert searches.drill_total["last"] > searches.drill_total["at_kill"], searches.drill_total
        assert (health["status"], health["number_of_nodes"]) == ("yellow", 1), health
        assert health["unassigned_shards"] == SHARDS, health  # the replicas, with nowhere to go
    finally:
        drill.close()


class _CutsRequests:
    """A loopback peer that reads each HTTP request and closes the connection without an
    answer: what a client sees when the node serving its request is killed (the kernel closes
    a dead process's sockets). The drill's kill rarely lands inside a request; this always does."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self.cut = 0
        threading.Thread(target=self._serve, name="cuts-requests", daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):  # closed by close()
            while True:
                connection, _ = self._server.accept()
                with connection:
                    received = b""
                    while b"\r\n\r\n" not in received and (chunk := connection.recv(65536)):
                        received += chunk
                    self.cut += bool(received)

    def close(self) -> None:
        self._server.close()


@pytest.mark.stack
def test_a_request_cut_in_flight_goes_to_the_other_node(settings: Settings, services: None) -> None:
    """shared/clients.py's client (two nodes: max_retries 1) sends a request whose node died
    under it to the other node: urllib3's ProtocolError is a ConnectionError to
    elastic_transport, which retries it whatever the method (a search here, with a body)."""
    dead = _CutsRequests()
    try:
        both = f"{dead.url},{settings.elasticsearch_url}"
        es = get_elasticsearch(settings.model_copy(update={"elasticsearch_url": both}))
        # Round robin over the live nodes: one of the first two requests goes to the dead one.
        for _ in range(4):
            found = es.search(
                index=settings.articles_alias,
                query={"match_all": {}},
                size=0,
                ignore_unavailable=True,
                allow_no_indices=True,
            )
            assert found["timed_out"] is False
        assert dead.cut >= 1, "no request reached the node that cuts them: proved nothing"
    finally:
        dead.close()
