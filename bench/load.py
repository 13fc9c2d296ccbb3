"""HTTP load from this machine to a service on loopback: several client processes, each with
one kept-alive connection (``http.client``: a few tens of microseconds per request, so the
clients take as little as possible of the two cores the server needs too). Bounded: every run
sends a fixed list of requests and stops.
"""

from __future__ import annotations

import http.client
import multiprocessing
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    client_cpu_s: float = 0.0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def connect(base_url: str) -> http.client.HTTPConnection:
    """A connection (opened on first use, kept alive) to the service at ``base_url``."""
    parts = urlsplit(base_url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)


def _client(
    base_url: str,
    method: str,
    requests: Sequence[tuple[str, bytes | None]],
    content_type: str,
    barrier: Any,
    results: Any,
) -> None:
    connection = connect(base_url)
    headers = {"Content-Type": content_type} if content_type else {}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    barrier.wait()
    started, cpu = time.time(), time.process_time()
    for path, body in requests:
        sent = time.perf_counter()
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        latencies.append(1000 * (time.perf_counter() - sent))
        statuses[response.status] += 1
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
            connection = connect(base_url)
    results.put((started, time.time(), time.process_time() - cpu, latencies, dict(statuses)))
    connection.close()


def run_load(
    base_url: str,
    requests: Sequence[tuple[str, bytes | None]],
    *,
    clients: int,
    method: str = "POST",
    content_type: str = "application/json",
) -> LoadResult:
    """Send ``requests`` ((path, body) pairs), shared round-robin among ``clients`` processes
    that start together; the time runs from the first start to the last finish."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(clients)
    results = context.Queue()
    processes = [
        context.Process(
            target=_client,
            args=(base_url, method, requests[n::clients], content_type, barrier, results),
        )
        for n in range(clients)
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=3600) for _ in processes]
    for process in processes:
        process.join()
    result = LoadResult()
    for _, _, cpu, latencies, statuses in reports:
        result.requests += len(latencies)
        result.latencies_ms += latencies
        result.statuses.update(statuses)
        result.client_cpu_s += cpu
    result.seconds = max(r[1] for r in reports) - min(r[0] for r in reports)
    return result


def timed_requests(
    base_url: str, paths: Sequence[str], *, warm_up: int = 0
) -> tuple[list[float], list[int]]:
    """GET each path in turn on one kept-alive connection: latencies (ms) and statuses, the
    first ``warm_up`` requests not counted."""
    connection = connect(base_url)
    latencies: list[float] = []
    statuses: list[int] = []
    for number, path in enumerate(paths):
        sent = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        elapsed = 1000 * (time.perf_counter() - sent)
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
            connection = connect(base_url)
        if number >= warm_up:
            latencies.append(elapsed)
            statuses.append(response.status)
    connection.close()
    return latencies, statuses
