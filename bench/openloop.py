"""Open-loop search load at target rates: ``search_qps_at_p99_80ms`` and
``search_qps_at_p99_80ms_with_ingest``.

As Elasticsearch's Rally does it: requests are scheduled at a target rate (Poisson arrivals,
exponential gaps of mean 1/rate, from a seeded generator) whatever the server does, and a
request's **latency** runs from its *scheduled* send time to its answer, so it is the service
time plus any waiting behind earlier requests (a closed loop, sending the next request when
the last one is answered, hides that waiting: coordinated omission). Client processes take the
next scheduled request whenever they are free (one shared counter), each on one kept-alive
connection; with more clients than the web's 2 x 4 threads, a request waits for a server
thread, never for a client.

The sweep raises the rate step by step (``RATES``) until a step's p99 latency passes 1 s
(a saturated service's queue grows without end) or a query fails; the figure is the highest
rate whose step, and every step before it, kept p99 within the target, 80 ms (0 when the
first step did not: the index is then too slow at any load), with the same at 1 s beside it
(``_at_p99_1s``). It runs twice on the same web and index: idle, then with ingest running
(ingest service and the Celery workers as scripts/run.sh runs them, kept busy with a backlog
of corpus articles to enrich), so the two figures come from one run, minutes apart. Each
step's queries are distinct ones of the run's pool (``bench.search.query_pool``), never sent
before in the run.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import corpus
from bench.housekeeping import clean
from bench.ingest import ndjson_bodies
from bench.load import connect, percentile
from bench.pipeline import RUN_SH_WORKERS, start_workers
from bench.stack import Service, bench_env, start_gunicorn, stop
from shared.clients import get_elasticsearch, get_redis
from shared.settings import Settings

TARGET_P99_MS = 80.0
# The sweep goes on past the target (the curve says where the service saturates) until a
# step's p99 passes this.
CEILING_P99_MS = 1000.0
# Target rates (queries per second), in order; the sweep stops at the first step over target.
RATES = (1.0, 2.0, 3.0, 4.5, 6.5, 9.0, 13.0, 18.0, 25.0, 35.0, 50.0)
CLIENTS = 12
INGEST_PREFIX = "newsroom-bench-openloop"
INGEST_QUEUE = "bench-openloop"
# Articles waiting in the worker's queue that the feeder keeps topped up (the workers never
# run dry during a step).
BACKLOG = 60


def arrival_times(rate: float, seconds: float, seed: int) -> list[float]:
    """Poisson arrivals at ``rate`` per second: offsets (s) from the start, below ``seconds``."""
    rng = random.Random(seed)
    times: list[float] = []
    at = rng.expovariate(rate)
    while at < seconds:
        times.append(at)
        at += rng.expovariate(rate)
    return times


def step_figures(
    samples: Sequence[tuple[float, float, float, int]], rate: float, seconds: float
) -> dict[str, Any]:
    """One step's figures from its (scheduled, sent, answered, status) samples (seconds on one
    clock): latency = answered - scheduled (Rally's), service time = answered - sent."""
    latency = [1000 * (done - due) for due, _, done, _ in samples]
    service = [1000 * (done - sent) for _, sent, done, _ in samples]
    waiting = [1000 * max(0.0, sent - due) for due, sent, _, _ in samples]
    statuses = Counter(status for *_, status in samples)
    errors = sum(n for status, n in statuses.items() if status != 200)
    span = max((done for _, _, done, _ in samples), default=0.0) - min(
        (due for due, _, _, _ in samples), default=0.0
    )
    return {
        "target_qps": rate,
        "requests": len(samples),
        "achieved_qps": round(len(samples) / span, 2) if span > 0 else 0.0,
        "seconds": seconds,
        "p50_ms": round(percentile(latency, 50), 2),
        "p90_ms": round(percentile(latency, 90), 2),
        "p99_ms": round(percentile(latency, 99), 2),
        "service_p50_ms": round(percentile(service, 50), 2),
        "service_p99_ms": round(percentile(service, 99), 2),
        "waiting_p99_ms": round(percentile(waiting, 99), 2),
        "errors": errors,
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
    }


def passes(step: dict[str, Any], target_ms: float = TARGET_P99_MS) -> bool:
    return bool(step["requests"]) and not step["errors"] and step["p99_ms"] <= target_ms


def qps_at_target(steps: Sequence[dict[str, Any]], target_ms: float = TARGET_P99_MS) -> float:
    """The highest target rate whose step and every earlier one kept p99 within ``target_ms``
    (0.0 when the first did not)."""
    best = 0.0
    for step in steps:
        if not passes(step, target_ms):
            break
        best = float(step["target_qps"])
    return best


# What a kept-alive connection the server has closed while it sat idle (gunicorn closes one
# after its 2 s keep-alive) raises on the next request, before any answer came back.
STALE_CONNECTION = (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected)


def _get(connection: http.client.HTTPConnection, path: str) -> int:
    """GET ``path``: the answer's status, or 599 when no answer came. A connection found
    closed by the server is opened again and the request sent once more, as a browser or any
    HTTP client library does (the new connection's set-up counts in the request's time); any
    other failure, or a second one, is a failed request."""
    for attempt in (1, 2):
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
            return response.status
        except STALE_CONNECTION:
            connection.close()
            if attempt == 2:
                return 599
        except (OSError, http.client.HTTPException):
            connection.close()
            return 599
    return 599


def _client(
    base_url: str,
    paths: Sequence[str],
    times: Sequence[float],
    start: float,
    counter: Any,
    results: Any,
) -> None:
    connection = connect(base_url)
    samples: list[tuple[float, float, float, int]] = []
    while True:
        with counter.get_lock():
            number = counter.value
            counter.value += 1
        if number >= len(paths):
            break
        due = start + times[number]
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent = time.monotonic()
        status = _get(connection, paths[number])
        samples.append((due, sent, time.monotonic(), status))
    connection.close()
    results.put(samples)


def run_step(
    base_url: str, paths: Sequence[str], rate: float, seconds: float, seed: int, clients: int
) -> dict[str, Any]:
    """Send ``paths`` (at least as many as the step schedules) at ``rate`` for ``seconds``."""
    times = arrival_times(rate, seconds, seed)
    if len(paths) < len(times):
        raise ValueError(f"{len(times)} requests scheduled, {len(paths)} queries given")
    paths = paths[: len(times)]
    context = multiprocessing.get_context("fork")
    counter = context.Value("l", 0)
    results = context.Queue()
    # Every client connects and sleeps until the common start, a moment from now.
    start = time.monotonic() + 0.5
    processes = [
        context.Process(target=_client, args=(base_url, paths, times, start, counter, results))
        for _ in range(clients)
    ]
    for process in processes:
        process.start()
    samples = [s for _ in processes for s in results.get(timeout=seconds + 600)]
    for process in processes:
        process.join()
    return step_figures(samples, rate, seconds)


def sweep(
    base_url: str,
    paths: Sequence[str],
    *,
    seconds: float,
    seed: int,
    rates: Sequence[float] = RATES,
    clients: int = CLIENTS,
    ceiling_ms: float = CEILING_P99_MS,
    before_step: Callable[[], None] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Steps of rising rate until one passes ``ceiling_ms`` at p99 (a saturated service's
    queue grows without end, so its p99 soon does) or answers an error; (steps, paths used).
    ``before_step`` runs (untimed) before each step: the phase clears the request cache."""
    steps: list[dict[str, Any]] = []
    used = 0
    for number, rate in enumerate(rates):
        needed = len(arrival_times(rate, seconds, seed + number))
        if used + needed > len(paths):
            break  # out of distinct queries: the sweep ends here (said in the result)
        if before_step is not None:
            before_step()
        step = run_step(base_url, paths[used:], rate, seconds, seed + number, clients)
        used += step["requests"]
        steps.append(step)
        if not passes(step, ceiling_ms):
            break
    return steps, used


class Feeder:
    """Keeps ``BACKLOG`` articles waiting in the ingest stack's queue (posting corpus articles
    as new replicas through ``POST /articles``) until stopped: the workers enrich all along."""

    def __init__(self, ingest_url: str, settings: Settings) -> None:
        self.url = ingest_url
        self.settings = settings
        self.posted = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _queued(self) -> int:
        client = get_redis(self.settings)
        return int(client.llen(self.settings.queue_name)) + int(
            client.llen(self.settings.bulk_queue_name)
        )

    def _run(self) -> None:
        connection = connect(self.url)
        size = len(corpus.articles())
        batch = self.settings.ingest_task_batch_size
        while not self.stopping.is_set():
            # Queued tasks hold ``batch`` articles each.
            if self._queued() * batch < BACKLOG:
                posts = [
                    corpus.post_for(n % size, 2000 + n // size)
                    for n in range(self.posted, self.posted + batch)
                ]
                for body in ndjson_bodies(posts, batch):
                    connection.request(
                        "POST",
                        "/articles",
                        body=body,
                        headers={"Content-Type": "application/x-ndjson"},
                    )
                    answer = connection.getresponse()
                    answer.read()
                    if answer.status != 202:
                        raise RuntimeError(f"ingest answered {answer.status}")
                self.posted += batch
            else:
                time.sleep(0.2)
        connection.close()

    def __enter__(self) -> Feeder:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=60)


def _indexed(settings: Settings) -> int:
    es = get_elasticsearch(settings)
    if not es.indices.exists(index=settings.articles_alias):
        return 0
    return int(es.count(index=settings.articles_alias)["count"])


def measure_open_loop(
    web_url: str,
    paths: Sequence[str],
    log_dir: Path,
    *,
    seconds: float,
    seed: int,
    with_ingest: bool = True,
    rates: Sequence[float] = RATES,
    before_step: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The sweep idle, then (``with_ingest``) again with the ingest stack enriching a backlog;
    ``paths`` are distinct search paths, split between the two sweeps."""
    half = len(paths) // 2 if with_ingest else len(paths)
    idle, used = sweep(
        web_url, paths[:half], seconds=seconds, seed=seed, rates=rates, before_step=before_step
    )
    result: dict[str, Any] = {
        "search_qps_at_p99_80ms": qps_at_target(idle),
        "search_qps_at_p99_1s": qps_at_target(idle, CEILING_P99_MS),
        "target_p99_ms": TARGET_P99_MS,
        "step_seconds": seconds,
        "clients": CLIENTS,
        "arrivals": "Poisson",
        "seed": seed,
        "steps": idle,
        "queries_sent": used,
        "latency": "from the scheduled send time to the answer (service time + waiting)",
    }
    if not with_ingest:
        return result
    settings = Settings(
        index_prefix=INGEST_PREFIX,
        queue_name=INGEST_QUEUE,
        bulk_queue_name=f"{INGEST_QUEUE}-bulk",
    )
    redis_client, es = get_redis(settings), get_elasticsearch(settings)
    clean(redis_client, es, settings)
    env = bench_env(INGEST_PREFIX, INGEST_QUEUE)
    services: list[Service] = []
    try:
        services.append(start_gunicorn("ingest", env, log_dir))
        start_workers(services, env, log_dir, name="openloop")
        with Feeder(services[0].url, settings) as feeder:
            # The workers busy before the first step.
            deadline = time.monotonic() + 120
            while _indexed(settings) == 0 and time.monotonic() < deadline:
                time.sleep(1)
            before = _indexed(settings)
            began = time.monotonic()
            busy, used_busy = sweep(
                web_url,
                paths[half:],
                seconds=seconds,
                seed=seed + 1000,
                rates=rates,
                before_step=before_step,
            )
            enriched_aps = (_indexed(settings) - before) / (time.monotonic() - began)
        result |= {
            "search_qps_at_p99_80ms_with_ingest": qps_at_target(busy),
            "search_qps_at_p99_1s_with_ingest": qps_at_target(busy, CEILING_P99_MS),
            "steps_with_ingest": busy,
            "queries_sent_with_ingest": used_busy,
            "ingest_articles_posted": feeder.posted,
            "ingest_indexed_aps_during_sweep": round(enriched_aps, 2),
            "ingest_workers": [{"queues": list(q), "processes": n} for q, n in RUN_SH_WORKERS],
        }
    finally:
        for service in reversed(services):
            stop(service, timeout_s=120)
        clean(redis_client, es, settings)
    return result


def summary(result: dict[str, Any]) -> str:
    """One line per step, for the log."""
    lines = []
    for name in ("steps", "steps_with_ingest"):
        for step in result.get(name, []):
            lines.append(
                f"{name} {step['target_qps']:>5} qps: p99 {step['p99_ms']} ms "
                f"(service {step['service_p99_ms']}), {step['achieved_qps']} qps, "
                f"errors {step['errors']}"
            )
    return "\n".join(lines) or json.dumps(Counter(result))


def open_loop_phase(
    docs: dict[int, dict[str, Any]],
    count: int,
    log_dir: Path,
    *,
    seconds: float,
    warm_up: int,
    with_ingest: bool = True,
) -> dict[str, Any]:
    """``python -m bench``'s ``openloop`` phase: the search index of ``count`` documents
    (built by the search phase, or now), a web of its own, ``warm_up`` queries one at a time
    (not measured), then ``measure_open_loop`` with queries of a fresh seed, distinct from
    the warm-up's, the request cache cleared before each step."""
    from bench.housekeeping import delete_redis_prefix
    from bench.index import build_search_index, search_prefix
    from bench.load import timed_requests
    from bench.search import POOL, SENT, clear_request_cache, query_key, query_pool, search_path

    built = build_search_index(docs, count)
    prefix = search_prefix(count)
    settings = Settings(index_prefix=prefix)
    seed = secrets.randbits(31)
    pool = query_pool(list(docs.values()), POOL, seed, exclude=SENT)
    SENT.update(query_key(params) for params in pool)
    paths = [search_path(p) for p in pool]
    warm, paths = paths[-warm_up:] if warm_up else [], paths[: len(paths) - warm_up]
    web = start_gunicorn("web", bench_env(prefix, f"bench-{prefix}"), log_dir)
    try:
        timed_requests(web.url, warm)
        found = measure_open_loop(
            web.url,
            paths,
            log_dir,
            seconds=seconds,
            seed=seed,
            with_ingest=with_ingest,
            before_step=lambda: clear_request_cache(settings),
        )
    finally:
        stop(web)
        delete_redis_prefix(get_redis(Settings()), prefix)
    return found | {"index": built, "warm_up_queries": len(warm), "query_seed": seed}
