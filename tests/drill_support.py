"""Machinery of the fault drills (tests/test_drills.py).

A Redis and an Elasticsearch of their own (``scripts/services.sh`` with its own state directory
and ports, never the shared 6379/9200), real ingest (gunicorn) and worker (celery) processes,
a poster that records exactly what ingest accepted, and the census that compares that with
what the index and the dead-letter store hold.
"""

from __future__ import annotations

import ast
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
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from elasticsearch import Elasticsearch, NotFoundError

from shared.deadletters import list_dead_letters
from shared.settings import Settings
from worker.versions import external_version

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "scripts" / "services.sh"
ARTIFACTS = ROOT / "tests" / "artifacts"
REPORT = ARTIFACTS / "drills.json"
LOGS = ARTIFACTS / "drills"
_SUCCEEDED = re.compile(r"newsroom\.process_articles\[[^]]+\] succeeded in [0-9.]+s: (\{.*\})")


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
class PostResult:
    """What ingest accepted (its 202s) and what else it said."""

    accepted: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    unexpected: list[str] = field(default_factory=list)  # any 5xx but 503, any 4xx but 429
    lock: threading.Lock = field(default_factory=threading.Lock)

    def server_errors(self) -> int:
        return sum(
            count for status, count in self.statuses.items() if status >= 500 and status != 503
        )


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

    def start_ingest(self) -> Proc:
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
                return requests.get(f"{self.ingest_url}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for("ingest to answer", up, 60, 0.2)
        return proc

    def start_worker(self, label: str, concurrency: int = 2) -> Proc:
        proc = Proc(
            f"{self.name}-{label}",
            [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
             "--queues", self.queue, "--concurrency", str(concurrency), "--loglevel", "INFO",
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
        ingest busy while a drill breaks something."""
        session = requests.Session()
        deadline = time.monotonic() + deadline_s
        for start in range(0, len(articles), batch):
            chunk = list(articles[start : start + batch])
            while time.monotonic() < deadline:
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
                    with result.lock:
                        result.accepted |= {item["id"] for item in body["articles"]}
                        if body.get("rejected"):
                            result.unexpected.append(f"202 with rejected: {body['rejected'][:2]}")
                    break
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
                raise TimeoutError(f"ingest did not accept a batch within {deadline_s} s")
            time.sleep(pause_s)
        return result

    def post_in_background(
        self, articles: Sequence[dict[str, Any]], result: PostResult, **options: Any
    ) -> threading.Thread:
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

    def broker_backlog(self) -> dict[str, int]:
        return {
            "queued": int(self.redis.llen(self.queue)),
            "unacked": int(self.redis.hlen("unacked")),
        }

    def wait_until_settled(
        self, accepted: set[str], timeout_s: float, in_flight_s: float = 30
    ) -> float:
        """Wait until every accepted article is indexed or dead-lettered and the queue is empty
        (replays still queued could change what is indexed), then up to ``in_flight_s`` for the
        batches being worked on to be acknowledged; return the seconds waited. Gives up quietly
        at ``timeout_s``: the census says what is missing."""
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
        while time.monotonic() < acknowledged and self.broker_backlog()["unacked"]:
            time.sleep(0.5)
        return time.monotonic() - started

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
        dead = self.dead_ids()
        lost = accepted - indexed - dead
        states = self._states(accepted)
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
        )

    def _states(self, ids: set[str]) -> dict[str, str | None]:
        ordered = sorted(ids)
        pipe = self.redis.pipeline(transaction=False)
        for article_id in ordered:
            pipe.hget(f"{self.prefix}:article:{article_id}", "state")
        return dict(zip(ordered, pipe.execute(), strict=True))

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
        lines = [f"broker: {self.broker_backlog()}"]
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
    drill: Drill, result: PostResult, articles: int, **notes: Any
) -> tuple[Census, dict[str, Any]]:
    """Wait until every accepted article is indexed or dead-lettered (or SETTLE_S passes), take
    the census and record the figures."""
    drill.wait_until_settled(result.accepted, SETTLE_S)
    census = drill.census(result.accepted)
    figures = {
        "articles": articles,
        **census.figures(),
        "seconds": round(time.monotonic() - drill.started, 1),
        "http_statuses": {str(status): count for status, count in sorted(result.statuses.items())},
        "http_5xx_not_503": result.server_errors(),
        "connection_errors": result.connection_errors,
        "worker": drill.worker_tally(),
        "left_in_broker": drill.broker_backlog(),
        **notes,
    }
    record(drill.name, figures)
    return census, figures


def check(drill: Drill, result: PostResult, census: Census) -> None:
    """Fail on anything lost, duplicated, mis-versioned, mis-reported, or any 500."""
    problems = census.problems()
    if result.unexpected:
        problems.append(f"unexpected answers from ingest: {result.unexpected[:3]}")
    assert not problems, "\n".join(problems) + "\n" + drill.diagnostics()
