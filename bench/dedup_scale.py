"""``python -m bench.dedup_scale``: the near-duplicate index in Redis
(``worker.enrich.duplicates.assign_prepared``, the code the worker runs after enrichment) as it
grows to 10k, 100k and 1M entries: memory per entry and lookup time.

- **Entries** are synthetic: MinHash signatures drawn at random (``synthetic_article``), so 1M
  entries cost seconds to make instead of hours of shingling. The index only ever sees
  signatures, fingerprints and ids, so its keys, their sizes and its round trips are those of
  real articles. 2% of entries re-post an earlier one exactly (same fingerprint and signature),
  10% are edited copies of an earlier one (1 to 64 of the 128 minima replaced: estimated
  Jaccard 0.5 to 0.99); the rest are new stories, whose band buckets hold them alone (real
  articles share buckets only through boilerplate, which ``MAX_CANDIDATES`` bounds).
- **Filling** writes the keys ``assign_prepared`` would leave (``load``: the same keys, values
  and the worker's TTL ``near_duplicate_ttl_s``, checked against ``assign_prepared`` by
  tests/test_bench_smoke.py) in pipelined batches without its reads: through
  ``assign_prepared`` itself 1M entries took hours here. The fill rate is reported, but it is
  the loader's, not the worker's; the worker's cost is the lookup below.
- **Memory**: ``INFO memory`` ``used_memory`` above the empty server's, per entry; beside it
  ``MEMORY USAGE`` of ``SAMPLE_KEYS`` random keys by family (entry hash, band bucket set,
  fingerprint string) times each family's share of ``DBSIZE``: where the bytes go.
- **Lookup**: at each size, ``PROBE_ROUNDS`` rounds, each timing one worker batch
  (``ingest_task_batch_size`` articles, 20) and one single article, alternating; probes are
  drawn like the fill (so some find their originals). Wall time of the whole call (both
  pipelined read rounds, the decision and the MULTI/EXEC write) and Redis's CPU per article.
  Median with a 95% interval (``bench.stats``).

It runs on a **private Redis** (the same ``redis-server`` binary as the shared one, started on
a free loopback port, no persistence, no ``maxmemory``), stopped afterwards: the shared Redis
is capped at 2 GB with ``noeviction`` and serves the tests and the other benchmarks, so 1M
entries there would refuse everyone's writes, and its ``used_memory`` would count others' keys.
The fill and probes use the prefix ``PREFIX``; the server stops with them (nothing persisted).
1M entries take about 12 GB of that private server: a size whose projected memory does not fit
in MemAvailable (less a 3 GB reserve) is skipped and listed under ``skipped_for_memory``.

    python -m bench.dedup_scale                      # 10k
    python -m bench.dedup_scale --sizes 10000,100000,1000000
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import redis

from bench import report
from bench.stack import free_port
from bench.stats import Round, Run, ShareMeter, interleave_calls
from shared.settings import Settings
from worker.enrich import duplicates
from worker.enrich.duplicates import (
    DEFAULT_PARAMS,
    NUM_PERM,
    PreparedArticle,
    assign_prepared,
)

PREFIX = "newsroom-bench-dupscale"
SIZES = (10_000, 100_000, 1_000_000)
FILL_BATCH = 500
PROBE_ROUNDS = 40
SAMPLE_KEYS = 2_000
SAMPLE_ARTICLES = 200
EXACT_RATE = 0.02
NEAR_RATE = 0.10
# Before growing the index, the memory it will take (bytes per entry as last measured, RSS
# included, times the margin) must fit in MemAvailable less the reserve, else the size is
# skipped and said: 1M entries take about 12 GB.
ASSUMED_BYTES_PER_ENTRY = 13_000
MEMORY_MARGIN = 1.2
RESERVE_BYTES = 3 * 2**30
# Probe article numbers start here: never among the fill's.
PROBE_BASE = 10**12


def _signature(seed: int, number: int) -> np.ndarray[Any, np.dtype[np.uint32]]:
    # SHAKE-128 as the random source: 128 uniform 32-bit minima in microseconds (a numpy
    # generator per article costs ten times more, and 1M are drawn).
    digest = hashlib.shake_128(f"sig:{seed}:{number}".encode()).digest(4 * NUM_PERM)
    return np.frombuffer(digest, dtype="<u4").astype(np.uint32)


def _fingerprint(seed: int, number: int) -> str:
    return hashlib.blake2b(f"{seed}:{number}".encode(), digest_size=16).hexdigest()


def article_id(number: int) -> str:
    return f"{number:032x}"


def _origin(
    seed: int, number: int, pool: int, exact_rate: float, near_rate: float
) -> tuple[str, int]:
    """("new", number), or ("exact" | "near", the earlier article it copies)."""
    digest = hashlib.blake2b(f"origin:{seed}:{number}".encode(), digest_size=16).digest()
    draw = int.from_bytes(digest[:8], "little") / 2**64
    if pool <= 0 or draw >= exact_rate + near_rate:
        return "new", number
    original = int.from_bytes(digest[8:], "little") % pool
    return ("exact" if draw < exact_rate else "near"), original


def synthetic_article(
    seed: int, number: int, pool: int, *, exact_rate: float = EXACT_RATE,
    near_rate: float = NEAR_RATE,
) -> PreparedArticle:  # fmt: skip
    """Article ``number``'s prepared form: with probability ``exact_rate`` an exact re-post of
    an article drawn from ``range(pool)``, with ``near_rate`` an edited copy of one (1 to 64 of
    its minima replaced), else a new story. Deterministic in (seed, number, pool); an original
    is the article as the fill made it (pool = its number)."""
    kind, original = _origin(seed, number, pool, exact_rate, near_rate)
    if kind == "new":
        return PreparedArticle(
            article_id(number), _fingerprint(seed, number), _signature(seed, number)
        )
    copied = synthetic_article(seed, original, original, exact_rate=exact_rate, near_rate=near_rate)
    assert copied.signature is not None
    if kind == "exact":
        return PreparedArticle(article_id(number), copied.fingerprint, copied.signature)
    rng = np.random.default_rng([seed, number, 2])
    signature = copied.signature.copy()
    changed = int(rng.integers(1, NUM_PERM // 2 + 1))
    positions = rng.choice(NUM_PERM, size=changed, replace=False)
    signature[positions] = rng.integers(0, 2**32, size=changed, dtype=np.uint32)
    return PreparedArticle(article_id(number), _fingerprint(seed, number), signature)


def _cluster(seed: int, number: int) -> int:
    """The fill's cluster of article ``number``: the first article of its chain of copies."""
    kind, original = _origin(seed, number, number, EXACT_RATE, NEAR_RATE)
    return number if kind == "new" else _cluster(seed, original)


def load(
    client: redis.Redis, seed: int, start: int, stop: int, ttl_s: int, *,
    prefix: str = PREFIX, batch: int = FILL_BATCH,
) -> float:  # fmt: skip
    """Write articles ``start..stop`` into the index as ``assign_prepared`` leaves them (the
    same keys, values and expiry: tests/test_bench_smoke.py compares the two), without its
    reads: one pipeline of plain writes and one bucket script call per batch. The fill of 1M
    entries through ``assign_prepared`` itself would take hours here (its WATCH of every key a
    batch reads is quadratic in the batch's keys in Redis 7.0); the probes go through it.
    Returns the seconds it took."""
    keys = duplicates._Keys(prefix, DEFAULT_PARAMS)
    began = time.perf_counter()
    for first in range(start, stop, batch):
        pipe = client.pipeline(transaction=False)
        bucket_keys: list[str] = []
        members: list[str] = []
        for number in range(first, min(first + batch, stop)):
            article = synthetic_article(seed, number, number)
            assert article.signature is not None
            assert article.fingerprint is not None
            doc_key = keys.doc(article.article_id)
            pipe.hset(
                doc_key,
                mapping={
                    "fp": article.fingerprint,
                    "sig": duplicates._encode(article.signature),
                    "cluster": article_id(_cluster(seed, number)),
                },
            )
            pipe.expire(doc_key, ttl_s)
            for band in DEFAULT_PARAMS.band_keys(article.signature):
                bucket_keys.append(keys.band(band))
                members.append(article.article_id)
            pipe.set(keys.fingerprint(article.fingerprint), article.article_id, nx=True, ex=ttl_s)
        pipe.eval(duplicates._ADD_TO_BUCKETS, len(bucket_keys), *bucket_keys, ttl_s, *members)
        pipe.execute()
    return time.perf_counter() - began


@contextmanager
def private_redis() -> Iterator[redis.Redis]:
    """A redis-server of its own on a free loopback port: no persistence, no memory cap."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (scripts/services.sh installs it)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-dupscale-") as directory:
        process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
             "--appendonly", "no", "--maxmemory", "0", "--dir", directory,
             "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=60)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield client
        finally:
            client.close()
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def available_memory_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def _family(key: str) -> str:
    # <prefix>:dup:<tag>:<family>:...
    parts = key.split(":")
    return parts[3] if len(parts) > 4 else "other"


def memory(
    client: redis.Redis, seed: int, entries: int, filled: int, empty_bytes: int
) -> dict[str, Any]:
    """Memory above the empty server's, per entry; ``MEMORY USAGE`` by key family: each
    family's bytes per key from the keys of ``SAMPLE_ARTICLES`` filled articles (their entry,
    fingerprint and band buckets), its key count from ``SAMPLE_KEYS`` random keys' families."""
    info = client.info("memory")
    keys = int(client.dbsize())
    found = [client.randomkey() for _ in range(SAMPLE_KEYS)]
    counts = dict.fromkeys(("band", "doc", "fp"), 0)
    for key in found:
        if key is not None:
            family = _family(str(key))
            counts[family] = counts.get(family, 0) + 1
    names = duplicates._Keys(PREFIX, DEFAULT_PARAMS)
    sampled: dict[str, list[str]] = {"band": [], "doc": [], "fp": []}
    rng = random.Random(seed)
    for number in rng.sample(range(filled), min(SAMPLE_ARTICLES, filled)):
        article = synthetic_article(seed, number, number)
        assert article.signature is not None
        assert article.fingerprint is not None
        sampled["doc"].append(names.doc(article.article_id))
        sampled["fp"].append(names.fingerprint(article.fingerprint))
        sampled["band"] += [names.band(b) for b in DEFAULT_PARAMS.band_keys(article.signature)]
    pipe = client.pipeline(transaction=False)
    for family_keys in sampled.values():
        for key in family_keys:
            pipe.memory_usage(key, samples=0)
    sizes = iter(pipe.execute())
    total = sum(counts.values()) or 1
    families: dict[str, dict[str, float]] = {}
    for family, family_keys in sampled.items():
        usage = [int(size) for size in (next(sizes) for _ in family_keys) if size is not None]
        families[family] = {
            "keys_estimated": round(keys * counts[family] / total),
            "bytes_per_key": round(sum(usage) / max(len(usage), 1), 1),
            "sampled": len(usage),
        }
    estimated = sum(f["keys_estimated"] * f["bytes_per_key"] for f in families.values())
    used = int(info["used_memory"]) - empty_bytes
    return {
        "used_memory_bytes": used,
        "bytes_per_entry": round(used / entries, 1),
        "keys": keys,
        "keys_per_entry": round(keys / entries, 2),
        "memory_usage_bytes_per_entry": round(estimated / entries, 1),
        "families": families,
        "used_memory_rss_bytes": int(info["used_memory_rss"]),
        "used_memory_peak_bytes": int(info["used_memory_peak"]),
        "fragmentation_ratio": float(info["mem_fragmentation_ratio"]),
    }


def _redis_cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def lookups(
    client: redis.Redis, seed: int, pool: int, rounds: int, batch: int, ttl_s: int, first: int
) -> dict[str, Any]:
    """``rounds`` x (one batch of ``batch`` probes, one single probe), alternating (ABBA),
    each call with its machine share (``bench.stats.interleave_calls``)."""
    numbers = iter(range(first, first + rounds * (batch + 1)))

    def call(size: int) -> float:
        prepared = [synthetic_article(seed, next(numbers), pool) for _ in range(size)]
        began = time.perf_counter()
        assign_prepared(prepared, redis_client=client, prefix=PREFIX, ttl_s=ttl_s)
        return 1000 * (time.perf_counter() - began)

    cpu_before = _redis_cpu_s(client)
    found = interleave_calls(rounds, {"batch": lambda _: call(batch), "single": lambda _: call(1)})
    redis_cpu = _redis_cpu_s(client) - cpu_before
    return {
        "batch": [Round(ms, share) for ms, share in found["batch"]],
        "single": [Round(ms, share) for ms, share in found["single"]],
        "batch_articles": batch,
        "redis_cpu_us_per_article": round(1e6 * redis_cpu / (rounds * (batch + 1)), 1),
        "probes": rounds * (batch + 1),
    }


def measure(
    sizes: Sequence[int] = SIZES[:1], *, seed: int | None = None, rounds: int = PROBE_ROUNDS,
    run: Run | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Grow one index through ``sizes`` (ascending) and measure at each, all in one run; the
    figures are recorded in ``run`` (``bench.stats.Run``: interval, machine share, commit)."""
    settings = Settings()
    run = run or Run.here()
    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    batch = settings.ingest_task_batch_size
    ttl_s = settings.near_duplicate_ttl_s
    found: list[dict[str, Any]] = []
    recorded: list[str] = []
    skipped: list[dict[str, int]] = []
    with private_redis() as client:
        server = client.info("server")
        empty = int(client.info("memory")["used_memory"])
        filled = 0
        probe_next = PROBE_BASE
        per_entry_bytes = ASSUMED_BYTES_PER_ENTRY
        for size in sorted(sizes):
            needed = int(per_entry_bytes * (size - filled) * MEMORY_MARGIN)
            available = available_memory_bytes() - RESERVE_BYTES
            if needed > available:
                skipped.append({"size": size, "needed_bytes": needed, "available_bytes": available})
                print(f"[dedup_scale] {size:,} entries skipped: need {needed:,} B, "
                      f"{available:,} B available", flush=True)  # fmt: skip
                break
            meter = ShareMeter().start()
            seconds = load(client, seed, filled, size, ttl_s)
            fill_share = meter.stop()
            rate = (size - filled) / seconds
            filled = size
            measured = lookups(client, seed, filled, rounds, batch, ttl_s, probe_next)
            probe_next += measured["probes"]
            entries = filled + (probe_next - PROBE_BASE)
            size_label = label(size)
            used = memory(client, seed, entries, filled, empty)
            per_entry_bytes = max(used["bytes_per_entry"], used["used_memory_rss_bytes"] / entries)
            warm_up = f"index filled to {size:,} entries by the loader"
            what = f"at {entries:,} entries"
            readings: dict[str, tuple[Any, str, str]] = {
                "bytes_per_entry": (
                    [used["bytes_per_entry"]],
                    "bytes",
                    "Redis used_memory per entry",
                ),
                "lookup_ms": (
                    measured.pop("batch"),
                    "ms",
                    f"assign_prepared of a worker batch ({batch})",
                ),
                "lookup_single_ms": (measured.pop("single"), "ms", "assign_prepared of one"),
            }
            figure = {}
            for key, (samples, unit, about) in readings.items():
                name = f"near_dup_{key}_{size_label}"
                figure[key] = run.record(
                    name, samples, unit=unit, what=f"{about} {what}", warm_up=warm_up
                )
                recorded.append(name)
            per_entry, lookup, single = (
                figure["bytes_per_entry"], figure["lookup_ms"], figure["lookup_single_ms"]
            )  # fmt: skip
            found.append(
                {
                    "entries": entries,
                    "nominal": size,
                    "fill_seconds": round(seconds, 1),
                    "fill_entries_per_s": round(rate, 1),
                    "fill_share": fill_share,
                    "memory": used,
                    "lookup_batch_ms": lookup,
                    "lookup_single_ms": single,
                    "lookup_ms_per_article_in_batch": round(lookup["median"] / batch, 3),
                    "bytes_per_entry": per_entry["median"],
                    **measured,
                }
            )
            print(
                f"[dedup_scale] {entries:,} entries: {used['bytes_per_entry']:,.0f} B/entry, "
                f"batch {lookup['median']:.1f} ms [{lookup['low']:.1f}, {lookup['high']:.1f}], "
                f"single {single['median']:.2f} ms, fill {rate:,.0f}/s",
                flush=True,
            )
        # Nothing to delete: the private server stops with its data (no persistence).
    result: dict[str, Any] = {
        "seed": seed,
        "redis_version": server["redis_version"],
        "redis": "private redis-server, no persistence, no maxmemory",
        "fill_batch": FILL_BATCH,
        "exact_rate": EXACT_RATE,
        "near_rate": NEAR_RATE,
        "params": DEFAULT_PARAMS.tag,
        "ttl_s": ttl_s,
        "sizes": found,
        "figures": recorded,
        "skipped_for_memory": skipped,
        "when": report.now(),
    }
    if len(found) > 1:
        small, large = label(found[0]["nominal"]), label(found[-1]["nominal"])
        # Same run, same server: the largest size's lookup over the smallest's.
        ratio_key = f"near_dup_lookup_{large}_over_{small}"
        recorded.append(ratio_key)
        result["lookup_largest_over_smallest"] = run.ratio(
            ratio_key,
            f"near_dup_lookup_ms_{large}",
            f"near_dup_lookup_ms_{small}",
        )
    return result


def sizes_for(mode: str, million: bool) -> list[int]:
    """The sizes ``python -m bench`` measures: 10k in quick mode, 10k and 100k in full, and 1M
    with ``--million`` (about 12 GB in the private Redis; see ``skipped_for_memory``)."""
    sizes = [10_000] if mode == "quick" else [10_000, 100_000]
    return [*sizes, 1_000_000] if million else sizes


def label(size: int) -> str:
    """10,000 -> "10k", 1,000,000 -> "1m"."""
    if size % 1_000_000 == 0:
        return f"{size // 1_000_000}m"
    if size % 1_000 == 0:
        return f"{size // 1_000}k"
    return str(size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000", help="comma-separated entry counts")
    parser.add_argument("--rounds", type=int, default=PROBE_ROUNDS)
    parser.add_argument("--seed", type=int)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sizes = [int(size) for size in args.sizes.split(",")]
    run = Run.here()
    result = measure(sizes, seed=args.seed, rounds=args.rounds, run=run)
    path = report.write_json(result | {"figures": run.figures}, "dedup_scale.json")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
