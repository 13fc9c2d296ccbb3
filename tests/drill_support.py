"""Machinery of the fault drills (tests/test_drills.py).

A Redis and an Elasticsearch of their own (``scripts/services.sh`` with its own state directory
and ports, never the shared 6379/9200), real ingest (gunicorn) and worker (celery) processes,
a poster that records exactly what ingest accepted, and the census that compares that with
what the index and the dead-letter store hold.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from elasticsearch import Elasticsearch, NotFoundError

from shared import metrics
from shared.article import external_version
from shared.deadletters import get_dead_letters, list_dead_letters
from shared.settings import Settings
from shared.tasks import PROCESS_ARTICLES_TASK  # the task the drills follow

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "scripts" / "services.sh"
ARTIFACTS = ROOT / "tests" / "artifacts"
REPORT = ARTIFACTS / "drills.json"
LOGS = ARTIFACTS / "drills"
_SUCCEEDED = re.compile(r"newsroom\.process_articles\[[^]]+\] succeeded in [0-9.]+s: (\{.*\})")
# Celery's own lines about one task: "Task <name>[<id>] received / succeeded in ... / retry: ...
# / raised ...". The id is what ties a batch a killed worker held to the worker that finished it.
_TASK_EVENT = re.compile(
    r"Task newsroom\.process_articles\[([0-9a-f-]{36})\] (received|succeeded|retry|raised)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    what: str, condition: Callable[[], Any], timeout_s: float, interval_s: float = 0.5
) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(interval_s)


# --- the drills' own Redis and Elasticsearch ----------------------------------------------------


@dataclass
class Stack:
    """One Redis and one Elasticsearch started by ``scripts/services.sh`` for the drills only."""

    run_id: str
    state_dir: Path
    redis_port: int = field(default_factory=free_port)
    es_port: int = field(default_factory=free_port)
    es_extra_opts: str = ""
    # multi-node: one node of a cluster (tests/test_cluster.py); its peers share run_id, so
    # they share the cluster name. A blank node name is services.sh's default.
    es_discovery: str = "single-node"
    es_node_name: str = ""

    @property
    def es_url(self) -> str:
        return f"http://127.0.0.1:{self.es_port}"

    def redis_url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/{db}"

    def env(self) -> dict[str, str]:
        return os.environ | {
            "NEWSROOM_STATE_DIR": str(self.state_dir),
            "NEWSROOM_REDIS_PORT": str(self.redis_port),
            "NEWSROOM_ES_PORT": str(self.es_port),
            "NEWSROOM_ES_HEAP": "512m",
            "NEWSROOM_ES_CLUSTER_NAME": f"newsroom-drills-{self.run_id}",
            "NEWSROOM_ES_EXTRA_OPTS": self.es_extra_opts,
            "NEWSROOM_ES_DISCOVERY": self.es_discovery,
            "NEWSROOM_ES_NODE_NAME": self.es_node_name,
        }

    def services(self, action: str, service: str | None = None) -> float:
        """Run ``services.sh action [service]``; return how long it took."""
        started = time.monotonic()
        done = subprocess.run(
            [str(SERVICES), action, *([service] if service else [])],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"services.sh {action} {service or ''} failed:\n{done.stderr[-3000:]}"
            )
        return time.monotonic() - started

    def use_es_options(self, options: str) -> None:
        """Restart Elasticsearch unless it already runs with these extra node options."""
        if options != self.es_extra_opts:
            self.services("stop", "elasticsearch")
            self.es_extra_opts = options
            self.services("start", "elasticsearch")

    def kill_redis(self) -> None:
        """SIGKILL the Redis server: a crash, not a shutdown (no final AOF rewrite or flush)."""
        _crash("redis", self.state_dir / "redis" / "redis.pid", self.redis_port)

    def kill_elasticsearch(self) -> None:
        """SIGKILL this Elasticsearch node: a crash (no shard hand-off, no leaving the cluster)."""
        (pid_file,) = self.state_dir.glob("elasticsearch-*/run/es.pid")
        _crash("elasticsearch", pid_file, self.es_port)

    def es_write_rejections(self) -> int:
        stats = Elasticsearch(self.es_url, request_timeout=30).nodes.stats(metric="thread_pool")
        return sum(
            int(node["thread_pool"]["write"]["rejected"]) for node in stats["nodes"].values()
        )


def _crash(what: str, pid_file: Path, port: int) -> None:
    """SIGKILL the server whose pid is in ``pid_file``; return once its port refuses connections
    (the kernel closes a killed process's sockets, so its clients see the crash at once)."""
    os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)

    def down() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return True
        return False

    wait_for(f"{what} to die", down, 10, 0.1)


# --- processes the drills start (and are the only ones they stop) -------------------------------


class Proc:
    """A subprocess in a session of its own, so it and its children can be stopped together."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                list(argv),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def children(self) -> list[int]:
        try:
            found = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(pid) for pid in found]

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal the main process only."""
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, timeout_s: float = 30) -> None:
        """SIGTERM, then SIGKILL to the whole process group (its children) if it lingers."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


# --- one drill: its own Redis database, index prefix, queue, ingest and workers ------------------

WORDS: dict[str, list[str]] = {
    "city": ["Aarhus", "Bilbao", "Cork", "Dresden", "Esbjerg", "Faro", "Ghent", "Hull", "Izmir",
             "Jena", "Kassel", "Leiden", "Malmo", "Nantes", "Oulu", "Parma", "Quimper", "Rijeka",
             "Sligo", "Tartu", "Umea", "Varna", "Wels", "Xanten", "Ypres", "Zadar"],
    "body": ["council", "court", "port", "union", "hospital", "university", "ministry", "league",
             "parliament", "agency"],
    "verb": ["approved", "rejected", "postponed", "funded", "debated", "cancelled", "extended",
             "audited"],
    "thing": ["budget", "bridge", "contract", "pension plan", "tram line", "harbour wall",
              "school roof", "data centre", "wind farm", "ferry route", "housing scheme"],
    "person": ["Anna Berg", "Luis Ortega", "Mei Chen", "Omar Haddad", "Ines Duarte",
               "Piet de Vries", "Ewa Nowak", "Sean Walsh", "Lena Vogel", "Kofi Mensah"],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}  # fmt: skip


def make_articles(tag: str, count: int, seed: int) -> list[dict[str, Any]]:
    """Short, distinct articles: a sentence or two each, so enrichment takes milliseconds."""
    rng = random.Random(seed)
    articles = []
    for number in range(count):
        pick = {key: rng.choice(values) for key, values in WORDS.items()}
        amount = rng.randint(2, 990)
        articles.append(
            {
                "title": f"{pick['city']} {pick['body']} {pick['verb']} the {pick['thing']} ({tag} {number})",
                "body": (
                    f"The {pick['city']} {pick['body']} {pick['verb']} the {pick['thing']} on "
                    f"{pick['day']}, a decision worth {amount} million euros. "
                    f"{pick['person']} said the vote, number {number} of drill {tag}, "
                    f"would be reviewed in {rng.randint(2, 30)} weeks."
                ),
                "source": f"Drill Wire {tag}",
            }
        )
    return articles


@dataclass
class AcceptedPost:
    """One request ingest answered 202: the ids it accepted, when it was sent and answered
    (``time.time()``, the clock ingest reads too), and their ``received_at`` when the answer
    gives it."""

    ids: tuple[str, ...]
    sent_at: float
    answered_at: float
    received_at: dict[str, str] = field(default_factory=dict)


@dataclass
class PostResult:
    """What ingest accepted (its 202s) and what else it said."""

    accepted: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    unexpected: list[str] = field(default_factory=list)  # any 5xx but 503, any 4xx but 429
    lock: threading.Lock = field(default_factory=threading.Lock)
    posts: list[AcceptedPost] = field(default_factory=list)  # every 202, in answer order

    def server_errors(self) -> int:
        return sum(
            count for status, count in self.statuses.items() if status >= 500 and status != 503
        )

    def posts_of(self, article_id: str) -> list[AcceptedPost]:
        """The accepted requests that held this article, in the order they were answered."""
        with self.lock:
            return [post for post in self.posts if article_id in post.ids]


@dataclass
class Census:
    accepted: int
    indexed: set[str]
    dead: set[str]
    lost: set[str]
    unexpected: set[str]
    duplicated: set[str]  # ids with more than one document, or both indexed and dead-lettered
    bad_versions: list[str]
    status_mismatches: list[str]
    lost_states: Counter[str]
    # What the index and the dead letters say of each article: its indexed version's
    # received_at; a dead letter's error and attempts; the status record's error.
    received_at: dict[str, str] = field(default_factory=dict)
    dead_reasons: dict[str, str] = field(default_factory=dict)
    dead_attempts: dict[str, int] = field(default_factory=dict)
    state_errors: dict[str, str] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "indexed": len(self.indexed),
            "dead_lettered": len(self.dead),
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "unexpected": len(self.unexpected),
            "bad_versions": len(self.bad_versions),
            "status_mismatches": len(self.status_mismatches),
        }

    def problems(self) -> list[str]:
        found = []
        if self.lost:
            found.append(
                f"{len(self.lost)} lost (states: {dict(self.lost_states)}), e.g. {sorted(self.lost)[:3]}"
            )
        if self.duplicated:
            found.append(f"{len(self.duplicated)} duplicated, e.g. {sorted(self.duplicated)[:3]}")
        if self.unexpected:
            found.append(
                f"{len(self.unexpected)} never accepted, e.g. {sorted(self.unexpected)[:3]}"
            )
        if self.bad_versions:
            found.append(f"{len(self.bad_versions)} bad _version/revision: {self.bad_versions[:3]}")
        if self.status_mismatches:
            found.append(
                f"{len(self.status_mismatches)} wrong states: {self.status_mismatches[:3]}"
            )
        return found


class Drill:
    def __init__(self, name: str, stack: Stack, db: int, **settings: Any) -> None:
        self.name = name
        self.stack = stack
        self.prefix = f"drill-{stack.run_id}-{name}"
        self.queue = f"drill-{stack.run_id}-{name}"
        # Its own bulk queue too (never the test run's): its workers consume both, and the
        # broker check at the end looks at both.
        settings.setdefault("bulk_queue_name", f"{self.queue}-bulk")
        self.bulk_queue = str(settings["bulk_queue_name"])
        # The nodes ingest, workers and web know: a cluster's, comma-separated, or the stack's.
        self.es_url = str(settings.pop("elasticsearch_url", stack.es_url))
        self.extra = {f"NEWSROOM_{key.upper()}": str(value) for key, value in settings.items()}
        self.settings = Settings(
            redis_url=stack.redis_url(db),
            elasticsearch_url=self.es_url,
            index_prefix=self.prefix,
            queue_name=self.queue,
            **settings,
        )
        self.procs: list[Proc] = []
        self.ingest_url = ""
        self.redis = redis.Redis.from_url(
            self.settings.redis_url, decode_responses=True, socket_timeout=10
        )
        # The drill's own look (census, counts): the stack's node, which a cluster drill keeps.
        self.es = Elasticsearch(stack.es_url, request_timeout=60)
        self.started = time.monotonic()
        self.notes: dict[str, Any] = {}

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("NEWSROOM_BROKER_URL", "NEWSROOM_INGEST_API_KEY")
        }
        return (
            env
            | self.extra
            | {
                "NEWSROOM_ENVIRONMENT": "test",
                "NEWSROOM_REDIS_URL": self.settings.redis_url,
                "NEWSROOM_ELASTICSEARCH_URL": self.es_url,
                "NEWSROOM_INDEX_PREFIX": self.prefix,
                "NEWSROOM_QUEUE_NAME": self.queue,
                "HF_HUB_OFFLINE": "1",
            }
        )

    # processes

    def start_ingest(self, healthy: bool = True) -> Proc:
        """Start ingest; return once ``/healthz`` answers 200 (Redis and Elasticsearch usable),
        or, with ``healthy=False``, once it answers at all (ingest needs only Redis to accept:
        a drill may start it while Elasticsearch is still booting)."""
        port = free_port()
        proc = Proc(
            f"{self.name}-ingest",
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "--threads", "4", "--timeout", "60", "ingest:create_app()"],
            self.env(),
            LOGS / f"{self.name}-ingest.log",
        )  # fmt: skip
        self.procs.append(proc)
        self.ingest_url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if not proc.alive():
                raise RuntimeError(f"ingest exited:\n{proc.log()[-3000:]}")
            try:
                status = requests.get(f"{self.ingest_url}/healthz", timeout=5).status_code
            except requests.RequestException:
                return False
            return status == 200 or (not healthy and status == 503)

        wait_for("ingest to answer", up, 60, 0.2)
        return proc

    def start_worker(
        self, label: str, concurrency: int = 2, queues: Sequence[str] | None = None
    ) -> Proc:
        """A Celery worker consuming ``queues`` (by default the drill's live and bulk queues)."""
        consumed = ",".join(queues or (self.queue, self.bulk_queue))
        proc = Proc(
            f"{self.name}-{label}",
            [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
             "--queues", consumed, "--concurrency", str(concurrency), "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--hostname", f"{self.prefix}-{label}@%h"],
            self.env(),
            LOGS / f"{self.name}-{label}.log",
        )  # fmt: skip
        self.procs.append(proc)

        def ready() -> bool:
            if not proc.alive():
                raise RuntimeError(f"worker exited:\n{proc.log()[-3000:]}")
            return " ready." in proc.log()

        wait_for("worker to be ready", ready, 120, 0.2)
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    # posting

    def post(
        self, articles: Sequence[dict[str, Any]], result: PostResult, batch: int = 100,
        pause_s: float = 0, deadline_s: float = 300,
    ) -> PostResult:  # fmt: skip
        """POST in batches until each batch is accepted (202); 503 and 429 are retried as a client
        would (a 503 queues none of a request's articles). ``pause_s`` between batches keeps
        ingest busy while a drill breaks something. ``deadline_s`` bounds each batch (a stall:
        no batch accepted for that long), not the whole stream, whose length depends on how fast
        the machine enriches."""
        session = requests.Session()
        last_refusal = "none"
        for start in range(0, len(articles), batch):
            chunk = list(articles[start : start + batch])
            deadline = time.monotonic() + deadline_s
            while time.monotonic() < deadline:
                sent_at = time.time()
                try:
                    response = session.post(f"{self.ingest_url}/articles", json=chunk, timeout=30)
                except requests.RequestException:
                    with result.lock:
                        result.connection_errors += 1
                    time.sleep(0.5)
                    continue
                with result.lock:
                    result.statuses[response.status_code] += 1
                body = response.json() if response.content else {}
                if response.status_code == 202:
                    items = body["articles"]
                    post = AcceptedPost(
                        ids=tuple(item["id"] for item in items),
                        sent_at=sent_at,
                        answered_at=time.time(),
                        received_at={
                            i["id"]: i["received_at"] for i in items if "received_at" in i
                        },
                    )
                    with result.lock:
                        result.accepted |= set(post.ids)
                        result.posts.append(post)
                        if body.get("rejected"):
                            result.unexpected.append(f"202 with rejected: {body['rejected'][:2]}")
                    break
                if response.status_code in (429, 503):
                    last_refusal = f"{response.status_code}: {response.text[:400]}"
                if response.status_code == 503:
                    time.sleep(0.5)
                    continue
                if response.status_code == 429:
                    time.sleep(min(float(response.headers.get("Retry-After", "1")), 2))
                    continue
                with result.lock:
                    result.unexpected.append(f"{response.status_code}: {response.text[:300]}")
                if response.status_code < 500:
                    break  # the client's fault: not accepted, not retried
                time.sleep(0.5)
            else:
                raise TimeoutError(
                    f"ingest did not accept the batch at {start} within {deadline_s} s "
                    f"(answers so far: {dict(result.statuses)}; last refusal {last_refusal})"
                )
            time.sleep(pause_s)
        return result

    def post_in_background(
        self, articles: Sequence[dict[str, Any]], result: PostResult, **options: Any
    ) -> threading.Thread:
        """``post`` in a thread. Finish it with ``join_poster``, which raises whatever the
        thread raised (``thread.errors`` holds it too), or fails if it is still posting."""
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self.post(articles, result, **options)
            except BaseException as error:
                errors.append(error)
                raise

        thread = threading.Thread(target=run, name=f"{self.name}-poster", daemon=True)
        thread.errors = errors  # type: ignore[attr-defined]
        thread.start()
        return thread

    # observing

    def indexed_count(self) -> int:
        try:
            return int(self.es.count(index=self.settings.articles_alias)["count"])
        except NotFoundError:
            return 0
        except Exception:  # Elasticsearch down or starting: not known now
            return -1

    def dead_ids(self) -> set[str]:
        return {letter.id for letter in list_dead_letters(self.redis, self.prefix)}

    def broker_keys(self) -> dict[str, str]:
        """Every key of kombu's Redis transport that holds this drill's messages, by kind:
        the live and bulk queues with their priority lists (``<queue>\\x06\\x16<n>``), and the
        ``unacked`` hash and ``unacked_index`` sorted set of messages delivered to a worker but
        not acknowledged. The drill's Redis database is its own, so all of them are its."""
        keys = {}
        for queue in (self.queue, self.bulk_queue):
            keys[queue] = "list"
            for step in (3, 6, 9):  # kombu's PRIORITY_STEPS beyond 0
                keys[f"{queue}\x06\x16{step}"] = "list"
        keys["unacked"] = "hash"
        keys["unacked_index"] = "zset"
        return keys

    def broker_leftovers(self) -> dict[str, int]:
        """What the broker still holds for this drill, key by key (empty: nothing)."""
        pipe = self.redis.pipeline(transaction=False)
        keys = self.broker_keys()
        for key, kind in keys.items():
            {"list": pipe.llen, "hash": pipe.hlen, "zset": pipe.zcard}[kind](key)
        return {
            key.replace("\x06\x16", "@priority"): int(n)
            for key, n in zip(keys, pipe.execute(), strict=True)
            if n
        }

    def broker_backlog(self) -> dict[str, int]:
        left = self.broker_leftovers()
        unacked = left.pop("unacked", 0)
        left.pop("unacked_index", None)
        return {"queued": sum(left.values()), "unacked": unacked}

    def wait_until_settled(
        self, accepted: set[str], timeout_s: float, in_flight_s: float = 60
    ) -> float:
        """Wait until every accepted article is indexed or dead-lettered and the queues are
        empty (replays still queued could change what is indexed), then up to ``in_flight_s``
        for the broker to hold nothing of the drill (batches and alert tasks being worked on
        acknowledged); return the seconds waited. Gives up quietly at ``timeout_s``: the
        census and ``check`` say what is missing or left."""
        started = time.monotonic()
        deadline = started + timeout_s

        def settled() -> bool:
            try:
                done = self.indexed_count() + len(self.dead_ids())
                return done >= len(accepted) and self.broker_backlog()["queued"] == 0
            except redis.RedisError:
                return False

        while time.monotonic() < deadline and not settled():
            time.sleep(1)
        acknowledged = min(deadline, time.monotonic() + in_flight_s)
        while time.monotonic() < acknowledged:
            with contextlib.suppress(redis.RedisError):
                if not self.broker_leftovers():
                    break
            time.sleep(0.5)
        return time.monotonic() - started

    def held_tasks(self) -> set[str]:
        """The ids of the tasks delivered to a worker and not acknowledged (``unacked``)."""
        held: set[str] = set()
        for raw in self.redis.hvals("unacked"):
            message = json.loads(raw)[0]
            held.add(str(message["headers"]["id"]))
        return held

    def task_events(self, procs: Sequence[Proc] | None = None) -> dict[str, Counter[str]]:
        """What the workers' logs (of ``procs``, or all) say of each ``process_articles`` task
        id: how many times it was received, succeeded, retried or raised. A message given back
        (a worker lost, the visibility timeout) or retried keeps its task id, so a second
        ``received`` is a redelivery or a retry."""
        events: dict[str, Counter[str]] = defaultdict(Counter)
        for proc in self.procs if procs is None else procs:
            for line in proc.log().splitlines():
                found = _TASK_EVENT.search(line)
                if found:
                    events[found.group(1)][found.group(2)] += 1
        return dict(events)

    def metric_totals(self) -> dict[str, float]:
        """The pipeline counters the workers wrote (shared/metrics.py), for this drill's prefix."""
        totals = metrics.read_totals(self.redis, self.prefix)
        return {
            "batches": totals.counter(metrics.BATCHES),
            "batch_retries": totals.counter(metrics.BATCH_RETRIES),
            "indexed": totals.counter(metrics.INDEXED),
            "superseded": totals.counter(metrics.SUPERSEDED),
            "failed_enrichment": totals.counter(metrics.FAILED, stage="enrichment"),
            "failed_indexing": totals.counter(metrics.FAILED, stage="indexing"),
            "queued_retry": totals.counter(metrics.QUEUED, origin="retry"),
            "dead_lettered": totals.counter(metrics.DEAD_LETTERED),
        }

    def log_count(self, text: str, proc_names: Collection[str] | None = None) -> int:
        """Lines of the drill's process logs (those named, or all) that hold ``text``."""
        return sum(
            proc.log().count(text)
            for proc in self.procs
            if proc_names is None or proc.name in proc_names
        )

    def census(self, accepted: set[str]) -> Census:
        alias = self.settings.articles_alias
        hits: list[dict[str, Any]] = []
        doubles: set[str] = set()
        try:
            self.es.indices.refresh(index=alias)
            response = self.es.search(
                index=alias,
                size=10_000,
                version=True,
                source_includes=["id", "received_at", "revision"],
                track_total_hits=True,
                aggs={"ids": {"terms": {"field": "id", "min_doc_count": 2, "size": 1000}}},
            )
            hits = response["hits"]["hits"]
            total = response["hits"]["total"]["value"]
            assert total == len(hits), f"{total} documents: more than one page"
            doubles = {bucket["key"] for bucket in response["aggregations"]["ids"]["buckets"]}
        except NotFoundError:
            pass
        indexed = {hit["_id"] for hit in hits}
        doubles |= {key for key, count in Counter(hit["_id"] for hit in hits).items() if count > 1}
        bad_versions = []
        for hit in hits:
            source = hit["_source"]
            expected = external_version(source["received_at"])
            if (
                source.get("id") != hit["_id"]
                or hit["_version"] != expected
                or source.get("revision") != 1
            ):
                bad_versions.append(
                    f"{hit['_id']}: _version {hit['_version']} (expected {expected}), "
                    f"revision {source.get('revision')}"
                )
        letters = list_dead_letters(self.redis, self.prefix)
        dead = {letter.id for letter in letters}
        lost = accepted - indexed - dead
        records = self._records(accepted | dead)
        states = {i: (record or {}).get("state") for i, record in records.items()}
        mismatches = [
            f"{i}: indexed but {states.get(i)!r}"
            for i in sorted(indexed)
            if states.get(i) != "indexed"
        ]
        mismatches += [
            f"{i}: dead-lettered but {states.get(i)!r}"
            for i in sorted(dead)
            if states.get(i) != "failed"
        ]
        return Census(
            accepted=len(accepted),
            indexed=indexed,
            dead=dead,
            lost=lost,
            unexpected=(indexed | dead) - accepted,
            duplicated=doubles | (indexed & dead),
            bad_versions=bad_versions,
            status_mismatches=mismatches,
            lost_states=Counter(str(states.get(i)) for i in lost),
            received_at={hit["_id"]: hit["_source"]["received_at"] for hit in hits},
            dead_reasons={letter.id: letter.error for letter in letters},
            dead_attempts={letter.id: letter.attempts for letter in letters},
            state_errors={
                i: record.get("error", "") for i, record in records.items() if record is not None
            },
        )

    def _states(self, ids: set[str]) -> dict[str, str | None]:
        return {i: (record or {}).get("state") for i, record in self._records(ids).items()}

    def _records(self, ids: set[str]) -> dict[str, dict[str, str] | None]:
        ordered = sorted(ids)
        pipe = self.redis.pipeline(transaction=False)
        for article_id in ordered:
            pipe.hgetall(f"{self.prefix}:article:{article_id}")
        return {i: (found or None) for i, found in zip(ordered, pipe.execute(), strict=True)}

    def worker_tally(self) -> dict[str, int]:
        """What the workers' logs say they did: batches run, documents refused as superseded
        (409: a newer version already indexed), articles sent to try again, task retries."""
        tally: Counter[str] = Counter()
        for proc in self.procs:
            for line in proc.log().splitlines():
                found = _SUCCEEDED.search(line)
                if found:
                    tally["batches"] += 1
                    for key, value in ast.literal_eval(found.group(1)).items():
                        tally[key] += int(value)
                elif "process_articles" in line and "retry: Retry in" in line:
                    tally["task_retries"] += 1
        return {
            key: tally[key]
            for key in ("batches", "task_retries", "superseded", "retry_later", "dead_lettered")
        }

    def diagnostics(self) -> str:
        lines = [f"broker: {self.broker_leftovers()}"]
        for proc in self.procs:
            tail = "\n    ".join(proc.log().splitlines()[-15:])
            lines.append(f"{proc.name} (alive={proc.alive()}):\n    {tail}")
        return "\n".join(lines)


def record(name: str, figures: dict[str, Any]) -> None:
    """Merge one drill's figures into tests/artifacts/drills.json."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        report = json.loads(REPORT.read_text())
    except (OSError, ValueError):
        report = {}
    report.setdefault("drills", {})[name] = figures
    report["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report["cpus"] = os.cpu_count()
    REPORT.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


# --- what every drill does at its end ---------------------------------------------------------

SETTLE_S = 300


def settle(
    drill: Drill, result: PostResult, articles: int, *, in_flight_s: float = 60, **notes: Any
) -> tuple[Census, dict[str, Any]]:
    """Wait until every accepted article is indexed or dead-lettered (or SETTLE_S passes) and
    up to ``in_flight_s`` more for the broker to hold nothing of the drill, take the census and
    record the figures."""
    drill.wait_until_settled(result.accepted, SETTLE_S, in_flight_s)
    census = drill.census(result.accepted)
    figures = {
        "articles": articles,
        **census.figures(),
        "seconds": round(time.monotonic() - drill.started, 1),
        "http_statuses": {str(status): count for status, count in sorted(result.statuses.items())},
        "http_5xx_not_503": result.server_errors(),
        "connection_errors": result.connection_errors,
        "worker": drill.worker_tally(),
        "metrics": drill.metric_totals(),
        "left_in_broker": drill.broker_leftovers(),
        **notes,
    }
    record(drill.name, figures)
    return census, figures


def check(
    drill: Drill,
    result: PostResult,
    census: Census,
    *,
    indexed: Collection[str] | None = None,
    dead_lettered: Mapping[str, str] | None = None,
    broker_empty: bool = True,
) -> None:
    """Fail on anything lost, duplicated, mis-versioned, mis-reported, any 500, anything of the
    drill left in the broker, and any article that did not end where the drill expects it.

    ``dead_lettered`` maps each id expected in the dead letters to a pattern (``re.search``)
    that its dead letter's error and its status record's error must match: why it failed. By
    default no article may be dead-lettered. ``indexed``: the ids expected in the index; by
    default every accepted id not expected in the dead letters. So a drill whose articles all
    went to the dead letters instead of the index fails, although nothing was "lost"."""
    problems = census.problems()
    if result.unexpected:
        problems.append(f"unexpected answers from ingest: {result.unexpected[:3]}")
    expected_dead = dict(dead_lettered or {})
    expected_indexed = (
        set(indexed) if indexed is not None else set(result.accepted) - set(expected_dead)
    )
    problems += _placement_problems(census, expected_indexed, expected_dead)
    if broker_empty:
        left = drill.broker_leftovers()
        if left:
            problems.append(f"left in the broker at the end: {left}")
    assert not problems, "\n".join(problems) + "\n" + drill.diagnostics()


def _sample(ids: Collection[str], reasons: Mapping[str, str]) -> str:
    shown = sorted(ids)[:3]
    return ", ".join(f"{i} ({reasons[i][:200]!r})" if i in reasons else i for i in shown)


def _placement_problems(census: Census, indexed: set[str], dead: Mapping[str, str]) -> list[str]:
    """Which expected articles are not where expected, and which dead letters say the wrong why."""
    found = []
    if census.indexed != indexed:
        missing, extra = indexed - census.indexed, census.indexed - indexed
        found.append(
            f"indexed: {len(missing)} expected missing (e.g. "
            f"{_sample(missing, census.dead_reasons | census.state_errors)}), "
            f"{len(extra)} not expected (e.g. {sorted(extra)[:3]})"
        )
    if census.dead != set(dead):
        missing, extra = set(dead) - census.dead, census.dead - set(dead)
        found.append(
            f"dead-lettered: {len(missing)} expected missing (e.g. {sorted(missing)[:3]}), "
            f"{len(extra)} not expected (e.g. {_sample(extra, census.dead_reasons)})"
        )
    wrong = []
    for article_id, pattern in sorted(dead.items()):
        if article_id not in census.dead:
            continue
        letter = census.dead_reasons.get(article_id, "")
        status = census.state_errors.get(article_id, "")
        if not re.search(pattern, letter) or not re.search(pattern, status):
            wrong.append(f"{article_id}: {letter[:200]!r} / status {status[:200]!r} !~ {pattern!r}")
        elif not status.startswith("dead-lettered after "):
            wrong.append(f"{article_id}: status error {status[:200]!r}")
    if wrong:
        found.append(f"{len(wrong)} dead letters without the expected reason: {wrong[:3]}")
    return found


def join_poster(thread: threading.Thread, timeout_s: float = SETTLE_S) -> None:
    """Wait for a ``Drill.post_in_background`` thread; raise what it raised, or fail if it is
    still posting after ``timeout_s``: a poster's failure fails the drill, never just warns."""
    thread.join(timeout=timeout_s)
    errors: list[BaseException] = getattr(thread, "errors", [])
    if errors:
        raise AssertionError(f"{thread.name} failed: {errors[0]!r}") from errors[0]
    assert not thread.is_alive(), f"{thread.name} still posting after {timeout_s:.0f} s"


def fault_hit(drill: Drill, fault: str, **evidence: float) -> None:
    """Record the evidence that the drill's fault reached the pipeline (in drills.json, beside
    the figures ``settle`` wrote) and fail unless every piece of it is non-zero: a fault that
    silently missed proves nothing."""
    try:
        report = json.loads(REPORT.read_text())
    except (OSError, ValueError):
        report = {}
    figures = report.get("drills", {}).get(drill.name, {})
    record(drill.name, figures | {"fault": fault, "fault_evidence": evidence})
    missing = [name for name, value in evidence.items() if not value]
    assert not missing, (
        f"{fault}: no evidence that the fault was hit ({', '.join(missing)} = 0; "
        f"all: {evidence})\n{drill.diagnostics()}"
    )


def newest_version_problems(census: Census, versions: Mapping[str, Collection[str]]) -> list[str]:
    """Each indexed article must hold the newest version ingest accepted of it: ``versions``
    maps an id to the ``received_at`` of every accepted version (``QueueTap.versions``)."""
    found = []
    for article_id in sorted(census.indexed):
        accepted = versions.get(article_id)
        if not accepted:
            found.append(f"{article_id}: indexed, but no accepted version is known")
            continue
        newest = max(accepted, key=external_version)
        held = census.received_at.get(article_id)
        if held != newest:
            found.append(
                f"{article_id}: the index holds the version received at {held}, the newest "
                f"accepted is {newest} (of {len(accepted)})"
            )
    return found


# --- articles accepted outside a drill: where each one ended -----------------------------------


@dataclass
class FinalStates:
    """Where accepted articles ended: indexed (status ``indexed`` and in the index),
    dead-lettered (status ``failed`` with its reason, and a dead letter), or neither yet."""

    indexed: set[str] = field(default_factory=set)
    dead: dict[str, str] = field(default_factory=dict)  # id -> the dead letter's error
    pending: dict[str, str] = field(default_factory=dict)  # id -> its state and error now
    seconds: float = 0.0

    def problems(self) -> list[str]:
        return [f"{i}: {why}" for i, why in sorted(self.pending.items())]


def final_states(
    client: redis.Redis, es: Elasticsearch, prefix: str, alias: str, ids: Collection[str]
) -> FinalStates:
    """One look at where each of ``ids`` stands (status records, the index, the dead letters)."""
    ordered = sorted(set(ids))
    pipe = client.pipeline(transaction=False)
    for article_id in ordered:
        pipe.hgetall(f"{prefix}:article:{article_id}")
    records: list[dict[str, str]] = pipe.execute()
    letters = {letter.id: letter.error for letter in get_dead_letters(client, prefix, ordered)}
    in_index: set[str] = set()
    if ordered:
        try:
            found = es.mget(index=alias, ids=ordered, source=False)
            in_index = {doc["_id"] for doc in found["docs"] if doc.get("found")}
        except NotFoundError:
            pass
    outcome = FinalStates()
    for article_id, record in zip(ordered, records, strict=True):
        state, error = record.get("state"), record.get("error", "")
        if state == "indexed" and article_id in in_index and article_id not in letters:
            outcome.indexed.add(article_id)
        elif state == "failed" and error and article_id in letters and article_id not in in_index:
            outcome.dead[article_id] = letters[article_id]
        else:
            where = "indexed" if article_id in in_index else "not indexed"
            where += ", dead-lettered" if article_id in letters else ""
            outcome.pending[article_id] = f"{state!r} {error[:200]!r} ({where})"
    return outcome


def wait_final_states(
    client: redis.Redis,
    es: Elasticsearch,
    prefix: str,
    alias: str,
    ids: Collection[str],
    timeout_s: float,
) -> FinalStates:
    """Wait up to ``timeout_s`` for every one of ``ids`` to be indexed or dead-lettered with
    its reason; return where they ended (``pending``: those that did not, and where they are)."""
    started = time.monotonic()
    while True:
        outcome = final_states(client, es, prefix, alias, ids)
        outcome.seconds = time.monotonic() - started
        if not outcome.pending or outcome.seconds > timeout_s:
            return outcome
        time.sleep(1)


# --- what ingest queued, seen from Redis -------------------------------------------------------

# One argument of a MONITOR line: Redis quotes it and escapes \\, ", \n, \r, \t, \a, \b and
# any other unprintable byte as \xHH (sdscatrepr).
_MONITOR_ARG = re.compile(rb'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_MONITOR_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|.)", re.DOTALL)
_ESCAPED = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"a": b"\a", b"b": b"\b"}


def _unquote(raw: bytes) -> bytes:
    def one(found: re.Match[bytes]) -> bytes:
        code = found.group(1)
        if len(code) == 3 and code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        return _ESCAPED.get(code, code)

    return _MONITOR_ESCAPE.sub(one, raw)


class QueueTap:
    """Every ``process_articles`` message pushed onto the drill's queues, as Redis executes the
    push: which versions (``received_at``) of each article ingest queued.

    Hand-written on MONITOR because nothing else sees every message without taking it from the
    workers: ingest's 202 does not say when it received an article, and the queue is consumed
    as it fills. MONITOR slows that Redis (each command is copied to the tap), so a drill uses
    it only when it needs the versions. Use as a context manager; ``versions`` is complete
    once it has exited (or after ``drain``)."""

    def __init__(self, drill: Drill) -> None:
        self.queues = {drill.queue.encode(), drill.bulk_queue.encode()}
        self.versions: dict[str, set[str]] = defaultdict(set)
        self.messages = 0
        self.errors: list[str] = []
        self._url = drill.settings.redis_url
        self._lock = threading.Lock()
        self._marks: set[bytes] = set()
        self._stopping = threading.Event()
        self._monitor: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> QueueTap:
        # No socket timeout: a read that times out would close the MONITOR connection.
        self._monitor = redis.Redis.from_url(self._url).monitor()  # type: ignore[no-untyped-call]
        self._monitor.__enter__()  # MONITOR sent and acknowledged: every later command is seen
        self._thread = threading.Thread(target=self._run, name="queue-tap", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(Exception):
            self.drain()
        self._stopping.set()
        with contextlib.suppress(Exception):
            self._monitor.connection.disconnect()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def drain(self, timeout_s: float = 60) -> None:
        """Return once the tap has read every command Redis ran before this call."""
        mark = f"queue-tap-{time.monotonic_ns()}".encode()
        redis.Redis.from_url(self._url, socket_timeout=10).echo(mark)
        wait_for("the queue tap to catch up", lambda: mark in self._marks, timeout_s, 0.1)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                line = self._monitor.connection.read_response()
            except Exception as error:
                if not self._stopping.is_set():
                    self.errors.append(repr(error))
                return
            try:
                self._take(line if isinstance(line, bytes) else str(line).encode())
            except Exception as error:
                self.errors.append(f"{error!r} in {line[:200]!r}")

    def _take(self, line: bytes) -> None:
        args = [_unquote(found.group(1)) for found in _MONITOR_ARG.finditer(line)]
        if len(args) == 2 and args[0].lower() == b"echo":
            self._marks.add(args[1])
            return
        if len(args) < 3 or args[0].lower() not in (b"lpush", b"rpush"):
            return
        if args[1] not in self.queues:
            return
        for raw in args[2:]:
            envelope = json.loads(raw)
            if envelope.get("headers", {}).get("task") != PROCESS_ARTICLES_TASK:
                continue
            payloads = json.loads(base64.b64decode(envelope["body"]))[0][0]
            with self._lock:
                self.messages += 1
                for payload in payloads:
                    self.versions[payload["id"]].add(payload["received_at"])
