"""The benchmarks of issue 18's missing measures (bench/dedup_scale.py, ...): their pure parts and
their loaders against the real Redis, in seconds. The measurements themselves run with
``python -m bench`` (never in the test command)."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from bench import dedup_scale, es_memory
from bench.housekeeping import delete_index, delete_redis_prefix
from shared.clients import get_redis
from shared.settings import Settings
from worker.enrich.duplicates import assign_prepared, estimated_jaccard


def test_synthetic_articles_are_deterministic_and_copy_as_drawn() -> None:
    seed, pool = 11, 2_000
    kinds: Counter[str] = Counter()
    for number in range(pool, pool + 3_000):
        article = dedup_scale.synthetic_article(seed, number, pool)
        again = dedup_scale.synthetic_article(seed, number, pool)
        assert article.signature is not None
        assert again.signature is not None
        assert article.fingerprint == again.fingerprint
        assert np.array_equal(article.signature, again.signature)
        kind, original = dedup_scale._origin(
            seed, number, pool, dedup_scale.EXACT_RATE, dedup_scale.NEAR_RATE
        )
        kinds[kind] += 1
        if kind == "new":
            continue
        assert 0 <= original < pool
        source = dedup_scale.synthetic_article(seed, original, original)
        assert source.signature is not None
        similarity = estimated_jaccard(article.signature, source.signature)
        if kind == "exact":
            assert article.fingerprint == source.fingerprint
            assert similarity == 1.0
        else:
            assert article.fingerprint != source.fingerprint
            assert 0.5 <= similarity < 1.0
    assert 0.01 < kinds["exact"] / 3_000 < 0.035
    assert 0.07 < kinds["near"] / 3_000 < 0.13


def test_labels() -> None:
    assert [dedup_scale.label(n) for n in (10_000, 100_000, 1_000_000, 2_500)] == [
        "10k",
        "100k",
        "1m",
        "2500",
    ]


@pytest.fixture
def two_prefixes(services: None, settings: Settings) -> Iterator[tuple[redis.Redis, str, str]]:
    client = get_redis(settings)
    tag = uuid.uuid4().hex[:8]
    loaded, assigned = f"test-dupscale-load-{tag}", f"test-dupscale-assign-{tag}"
    yield client, loaded, assigned
    for prefix in (loaded, assigned):
        delete_redis_prefix(client, prefix)


def _dump(client: redis.Redis, prefix: str) -> dict[str, object]:
    keys = [str(key) for key in client.scan_iter(f"{prefix}:*", count=1000)]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.ttl(key)
        pipe.type(key)
    described = pipe.execute()
    for key, kind in zip(keys, described[1::2], strict=True):
        {"hash": pipe.hgetall, "set": pipe.smembers}.get(kind, pipe.get)(key)
    values = pipe.execute()
    for key, ttl in zip(keys, described[::2], strict=True):
        assert int(ttl) > 0, f"{key} has no expiry"
    return {key[len(prefix) :]: value for key, value in zip(keys, values, strict=True)}


def test_the_loader_leaves_what_assign_prepared_leaves(
    two_prefixes: tuple[redis.Redis, str, str],
) -> None:
    """The fill of dedup_scale writes the keys, values and expiry the worker's code writes for
    the same articles (the cluster of an edited copy aside: the loader gives it its original's,
    the index the cluster of its best match, which may be its own)."""
    client, loaded, assigned = two_prefixes
    seed, count, ttl = 5, 400, 3_600
    dedup_scale.load(client, seed, 0, count, ttl, prefix=loaded, batch=128)
    for first in range(0, count, 20):
        batch = [dedup_scale.synthetic_article(seed, n, n) for n in range(first, first + 20)]
        assign_prepared(batch, redis_client=client, prefix=assigned, ttl_s=ttl)
    by_loader, by_worker = _dump(client, loaded), _dump(client, assigned)
    assert set(by_loader) == set(by_worker)
    near = {
        dedup_scale.article_id(n)
        for n in range(count)
        if dedup_scale._origin(seed, n, n, dedup_scale.EXACT_RATE, dedup_scale.NEAR_RATE)[0]
        == "near"
    }
    assert near, "the sample holds edited copies"
    for name, value in by_loader.items():
        if ":doc:" in name and name.rsplit(":", 1)[1] in near:
            assert isinstance(value, dict)
            expected = by_worker[name]
            assert isinstance(expected, dict)
            assert {k: value[k] for k in ("fp", "sig")} == {k: expected[k] for k in ("fp", "sig")}
        else:
            assert value == by_worker[name], name


def test_dedup_scale_measures_a_small_index_on_its_own_redis(services: None) -> None:
    from bench.stats import Run

    run = Run.here()
    found = dedup_scale.measure([300, 600], seed=3, rounds=3, run=run)
    first, second = found["sizes"]
    assert first["nominal"] == 300
    assert second["entries"] == 600 + 2 * 3 * 21
    for size in (first, second):
        memory = size["memory"]
        # 30 band buckets, an entry and (mostly) a fingerprint per article, each some bytes.
        assert 28 < memory["keys_per_entry"] < 33
        assert 3_000 < memory["bytes_per_entry"] < 40_000
        assert 0.5 < memory["memory_usage_bytes_per_entry"] / memory["bytes_per_entry"] < 1.5
        assert size["lookup_batch_ms"]["n"] == 3
        assert size["lookup_batch_ms"]["run_id"] == run.run_id
    assert found["lookup_largest_over_smallest"]["of"] == [
        "near_dup_lookup_ms_600",
        "near_dup_lookup_ms_300",
    ]
    assert "near_dup_bytes_per_entry_600" in run.figures


def test_es_memory_kinds_and_page_cache_of_a_file(tmp_path: Path) -> None:
    assert [es_memory._kind(k) for k in ("total_size_bytes", "total_vec_size_bytes")] == [
        "total",
        "vec",
    ]
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 65_536)
    path.read_bytes()  # just written and read: in the page cache
    found = es_memory.resident_bytes([path])
    if found is None:
        pytest.skip("no fincore on this machine")
    resident, size = found
    assert size == 65_536
    assert 0 < resident <= size
    assert es_memory._smaps_file_backed_mb(os.getpid()) is not None


def test_es_memory_of_a_small_index(services: None, settings: Settings) -> None:
    from shared.clients import get_elasticsearch
    from shared.index import ensure_index
    from worker.enrich.registry import article_mappings

    own = Settings(index_prefix=f"{settings.index_prefix}-esmemory")
    es = get_elasticsearch(own)
    try:
        ensure_index(es, own, article_mappings())
        rng = np.random.default_rng(1)
        for number in range(3):
            vector = rng.normal(size=384)
            es.index(
                index=own.articles_write_alias,
                id=f"{number:032x}",
                document={
                    "title": f"story {number}",
                    "embedding": list(vector / np.linalg.norm(vector)),
                },
                refresh=True,
            )
        found = es_memory.measure(es, own.articles_alias, window_s=0.5)
    finally:
        delete_index(es, own)
    assert found["vectors"] == 3
    assert found["off_heap_mb"]["total"] >= 0
    assert 0 < found["es_heap_after_gc_mb"] <= found["es_heap_max_mb"]
    assert found["readings"] >= 2
    assert found["index_files"] > 0
    assert found["index_on_disk_mb"] is None or found["index_on_disk_mb"] >= 0


def test_dedup_sizes_by_mode() -> None:
    assert dedup_scale.sizes_for("quick", False) == [10_000]
    assert dedup_scale.sizes_for("full", False) == [10_000, 100_000]
    assert dedup_scale.sizes_for("full", True) == [10_000, 100_000, 1_000_000]


def test_es_memory_readings_become_figures_of_the_run() -> None:
    from bench import __main__ as bench_main
    from bench.stats import Run

    run = Run.here()
    results: dict[str, object] = {}
    reading = {
        "es_heap_after_gc_mb": 210.5,
        "off_heap_mb": {"total": 1500.0, "vec": 1464.8},
        "index_resident_mb": None,  # no fincore: left out, never guessed
        "index_on_disk_mb": None,
    }
    bench_main._es_memory_figures(
        run, results, {"million": {"es_memory": reading}}, {"million": 1_000_000}
    )
    assert results["es_heap_after_gc_mb_1m"] == 210.5
    assert results["es_vectors_off_heap_mb_1m"] == 1500.0
    assert "es_index_resident_mb_1m" not in results
    assert run.figures["es_heap_after_gc_mb_1m"]["run_id"] == run.run_id
    assert results["es_memory_1m"] is reading


def test_the_bulk_backlog_outlasts_a_freshness_round() -> None:
    from bench import scaling

    # 6 articles/s for a 20 s round: more than the round's worth, plus the two held tasks.
    size = scaling.backlog_articles(6.0, 20.0, 20)
    assert size >= 6 * 20 + 2 * 20
    assert size == scaling.backlog_articles(6.0, 20.0, 20)
    assert scaling.backlog_articles(0.0, 20.0, 20) == 40
