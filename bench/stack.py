"""Start the real services for a benchmark: gunicorn ingest and web, a Celery worker.

Each runs as ``make up`` runs it (scripts/run.sh: gunicorn with 2 workers x 4 threads; two
Celery workers of one process each, one on the live queue, one on the bulk and live queues: one
process per core), on a free loopback port, with the bench's own index prefix and queues, so a
benchmark never touches the data of a running stack or of the tests. Redis and Elasticsearch
are the shared ones (scripts/services.sh).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

# The same shape as scripts/run.sh.
GUNICORN_WORKERS = 2
GUNICORN_THREADS = 4
WORKER_CONCURRENCY = 1


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def bench_env(prefix: str, queue: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a benchmark's services: its own prefix and queue, everything else
    from the settings' defaults (or this process's NEWSROOM_* variables)."""
    env = dict(os.environ)
    env.update(
        {
            "NEWSROOM_INDEX_PREFIX": prefix,
            "NEWSROOM_QUEUE_NAME": queue,
            "NEWSROOM_BULK_QUEUE_NAME": f"{queue}-bulk",
            "NEWSROOM_WEBHOOK_QUEUE_NAME": f"{queue}-webhooks",
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            # Load tests send thousands of searches a minute from one address: the web's rate
            # limits (web/limits.py) would answer most of them 429. ``extra`` may turn them on.
            "NEWSROOM_RATE_LIMITS_ENABLED": "false",
        }
    )
    env.pop("NEWSROOM_INGEST_API_KEY", None)
    env.update(extra or {})
    return env


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    url: str = ""
    extra_pids: list[int] = field(default_factory=list)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def children(self) -> list[int]:
        """Pids of the service's child processes (gunicorn workers, Celery pool processes)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []


def _spawn(
    name: str, command: list[str], env: Mapping[str, str], log_dir: Path, cwd: Path = ROOT
) -> Service:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT
        )
    return Service(name=name, process=process, log_path=log_path)


def _wait(service: Service, ready: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if service.process.poll() is not None or time.monotonic() > deadline:
            stop(service)
            raise RuntimeError(f"{service.name} did not start:\n{service.log_tail()}")
        time.sleep(0.2)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except OSError:
        return False


def start_gunicorn(
    app: str,
    env: Mapping[str, str],
    log_dir: Path,
    *,
    workers: int = GUNICORN_WORKERS,
    threads: int = GUNICORN_THREADS,
    tree: Path = ROOT,
) -> Service:
    """``app`` is ``ingest`` or ``web``; returns once ``/healthz`` answers 200. ``tree``: the
    checkout to run (another commit's worktree; its packages come first on PYTHONPATH)."""
    port = free_port()
    command = [
        str(VENV_BIN / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        f"{app}:create_app()",
    ]
    if tree != ROOT:
        env = {**env, "PYTHONPATH": str(tree)}
    service = _spawn(app, command, env, log_dir, cwd=tree)
    service.url = f"http://127.0.0.1:{port}"
    _wait(service, lambda: _http_ok(f"{service.url}/healthz"), 60)
    return service


def start_worker(
    env: Mapping[str, str],
    log_dir: Path,
    *,
    concurrency: int = WORKER_CONCURRENCY,
    queues: tuple[str, ...] = ("live",),
    name: str = "worker",
) -> Service:
    """A prefork Celery worker on the env's live queue (``"live"``) and/or bulk queue
    (``"bulk"``), logging at INFO as scripts/run.sh does; returns once it reports ready. The
    pool process may still be loading its models then (``worker_process_init`` runs in it after
    the main process's " ready." line: measured 5 s later, bench/coldstart.py): send a warm-up
    task before timing anything."""
    names = {"live": env["NEWSROOM_QUEUE_NAME"], "bulk": env["NEWSROOM_BULK_QUEUE_NAME"]}
    queue = ",".join(names[q] for q in queues)
    command = [
        str(VENV_BIN / "celery"),
        "-A",
        "worker.celery_app",
        "worker",
        "--queues",
        queue,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--hostname",
        f"bench-{name}-{names['live']}@%h",
    ]
    service = _spawn(name, command, env, log_dir)

    _wait(service, lambda: " ready." in service.log_tail(20_000), 180)
    return service


def stop(service: Service, timeout_s: float = 30) -> None:
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            service.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()


@contextlib.contextmanager
def running(*services: Service) -> Iterator[tuple[Service, ...]]:
    try:
        yield services
    finally:
        for service in reversed(services):
            stop(service)


def rss_mb(pid: int) -> tuple[float, float]:
    """Resident memory now and at its peak (VmRSS, VmHWM) of one process, in MB."""
    found = {"VmRSS": 0.0, "VmHWM": 0.0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in found:
                found[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return found["VmRSS"], found["VmHWM"]


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (its own threads, not its children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def machine_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores; /proc/stat less idle, iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(values) - values[3] - values[4]
    return busy / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """CPU seconds spent by some processes, by Redis and by Elasticsearch, and by the whole
    machine, between ``start()`` and ``stop()``: what a request costs, whatever else runs."""

    pids: dict[str, list[int]]
    redis_client: object | None = None
    es_client: object | None = None
    _start: dict[str, float] = field(default_factory=dict)
    result: dict[str, float] = field(default_factory=dict)

    def _snapshot(self) -> dict[str, float]:
        found = {name: sum(process_cpu_s(p) for p in pids) for name, pids in self.pids.items()}
        if self.redis_client is not None:
            info = self.redis_client.info("cpu")  # type: ignore[attr-defined]
            found["redis"] = float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
            # Its forked children: append-only-file rewrites and snapshots.
            found["redis_children"] = float(info["used_cpu_sys_children"]) + float(
                info["used_cpu_user_children"]
            )
            persistence = self.redis_client.info("persistence")  # type: ignore[attr-defined]
            found["redis_aof_rewrites"] = float(persistence.get("aof_rewrites", 0))
        if self.es_client is not None:
            stats = self.es_client.nodes.stats(node_id="_local", metric="process")  # type: ignore[attr-defined]
            node = next(iter(stats["nodes"].values()))
            found["elasticsearch"] = node["process"]["cpu"]["total_in_millis"] / 1000
        found["machine"] = machine_cpu_s()
        found["wall"] = time.monotonic()
        return found

    def start(self) -> CpuMeter:
        self._start = self._snapshot()
        return self

    def stop(self) -> dict[str, float]:
        end = self._snapshot()
        self.result = {name: round(end[name] - self._start[name], 3) for name in end}
        return self.result
