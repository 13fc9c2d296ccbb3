"""Elasticsearch's memory beside a benchmark index (issue 18 item 6): three parts a node needs
to serve an index fast, each read where the JVM and the kernel keep it.

- **Heap after GC**: ``_nodes/stats/jvm`` polled every ``INTERVAL_S`` for ``WINDOW_S``; the
  lowest ``heap_used`` seen in a window in which a collection ran (the collectors' counts rose)
  is what the heap holds right after one, the live set plus what survived young collections.
  If no collection ran in the window, the lowest reading is an upper bound and says so
  (``gc_in_window``: false). The old generation's use at that moment beside it.
- **Off-heap vectors**: the index's ``_stats/dense_vector`` ``off_heap`` sizes (raw float
  vectors ``vec``, quantized ``veq``/``veb``, the HNSW graph ``vex``): the bytes kNN search
  wants in the page cache, outside the heap.
- **Page cache**: how much of the index's files is resident in the page cache now
  (``fincore`` of every file under the index's directory, beside their size on disk), the
  Elasticsearch process's file-backed resident memory (``/proc/<pid>/smaps_rollup``: Rss less
  Anonymous: the mmapped index files it touched) and the machine's ``Cached`` (/proc/meminfo).
  Anything unreadable (another user's process, no fincore) is recorded as null, never guessed.

    python -m bench.es_memory newsroom-bench-100k-articles
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from shared.clients import get_elasticsearch
from shared.settings import Settings

WINDOW_S = 10.0
INTERVAL_S = 0.2
MB = 2**20


def _jvm(es: Any) -> dict[str, Any]:
    stats = es.nodes.stats(node_id="_local", metric="jvm")["nodes"]
    jvm: dict[str, Any] = next(iter(stats.values()))["jvm"]
    return jvm


def _collections(jvm: dict[str, Any]) -> int:
    return sum(int(c["collection_count"]) for c in jvm["gc"]["collectors"].values())


def heap_after_gc(
    es: Any, window_s: float = WINDOW_S, interval_s: float = INTERVAL_S
) -> dict[str, Any]:
    """The lowest heap use seen over ``window_s`` and whether a collection ran meanwhile."""
    first = _jvm(es)
    lowest = first
    readings = 1
    deadline = time.monotonic() + window_s
    last = first
    while time.monotonic() < deadline:
        time.sleep(interval_s)
        last = _jvm(es)
        readings += 1
        if last["mem"]["heap_used_in_bytes"] < lowest["mem"]["heap_used_in_bytes"]:
            lowest = last
    memory = lowest["mem"]
    return {
        "es_heap_after_gc_mb": round(memory["heap_used_in_bytes"] / MB, 1),
        "es_old_gen_mb": round(memory["pools"]["old"]["used_in_bytes"] / MB, 1),
        "es_heap_max_mb": round(memory["heap_max_in_bytes"] / MB, 1),
        "es_heap_now_mb": round(last["mem"]["heap_used_in_bytes"] / MB, 1),
        "es_non_heap_mb": round(last["mem"]["non_heap_used_in_bytes"] / MB, 1),
        "gc_in_window": _collections(last) > _collections(first),
        "collections_in_window": _collections(last) - _collections(first),
        "window_s": window_s,
        "readings": readings,
    }


def _kind(key: str) -> str:
    """``total_vec_size_bytes`` -> ``vec``; ``total_size_bytes`` -> ``total``."""
    return key.removeprefix("total_").removesuffix("size_bytes").rstrip("_") or "total"


def off_heap_vectors(es: Any, index: str) -> dict[str, Any]:
    """The index's dense-vector files by kind (primaries), in MB, and the vector count."""
    stats = es.indices.stats(index=index, metric="dense_vector,store")["_all"]["primaries"]
    vectors = stats.get("dense_vector", {})
    off_heap = vectors.get("off_heap", {})
    return {
        "vectors": vectors.get("value_count"),
        "off_heap_mb": {_kind(key): round(value / MB, 1) for key, value in off_heap.items()},
        "store_mb": round(stats["store"]["size_in_bytes"] / MB, 1),
    }


def _data_path(es: Any) -> Path | None:
    nodes = es.nodes.info(node_id="_local", metric="settings")["nodes"]
    data = next(iter(nodes.values()))["settings"]["path"].get("data")
    if isinstance(data, list):
        data = data[0] if data else None
    return Path(data) if data else None


def _index_dirs(es: Any, index: str) -> list[Path]:
    root = _data_path(es)
    if root is None:
        return []
    found = es.indices.get(index=index)
    uuids = [body["settings"]["index"]["uuid"] for body in found.values()]
    return [root / "indices" / uuid for uuid in uuids if (root / "indices" / uuid).is_dir()]


def resident_bytes(files: list[Path]) -> tuple[int, int] | None:
    """(bytes in the page cache, bytes on disk) of ``files``, by ``fincore``; None without it."""
    fincore = shutil.which("fincore")
    if fincore is None or not files:
        return None
    resident = size = 0
    for start in range(0, len(files), 200):
        chunk = [str(path) for path in files[start : start + 200]]
        done = subprocess.run(
            [fincore, "--bytes", "--noheadings", "--raw", "--output", "RES,SIZE", *chunk],
            capture_output=True,
            text=True,
            check=False,
        )
        for line in done.stdout.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0].isdigit() and fields[1].isdigit():
                resident += int(fields[0])
                size += int(fields[1])
    return resident, size


def _smaps_file_backed_mb(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines()[1:]:
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            values[key] = int(value.split()[0])
    if "Rss" not in values:
        return None
    return round((values["Rss"] - values.get("Anonymous", 0)) / 1024, 1)


def _meminfo_mb(key: str) -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def page_cache(es: Any, index: str) -> dict[str, Any]:
    files = [path for d in _index_dirs(es, index) for path in d.rglob("*") if path.is_file()]
    found = resident_bytes(files)
    info = es.nodes.info(node_id="_local", metric="process")["nodes"]
    pid = int(next(iter(info.values()))["process"]["id"])
    result: dict[str, Any] = {
        "index_files": len(files),
        "index_resident_mb": None if found is None else round(found[0] / MB, 1),
        "index_on_disk_mb": None if found is None else round(found[1] / MB, 1),
        "index_resident_share": (
            None if found is None or not found[1] else round(found[0] / found[1], 3)
        ),
        "es_file_backed_rss_mb": _smaps_file_backed_mb(pid),
        "machine_cached_mb": _meminfo_mb("Cached"),
        "machine_available_mb": _meminfo_mb("MemAvailable"),
    }
    return result


def measure(es: Any, index: str, window_s: float = WINDOW_S) -> dict[str, Any]:
    """Heap after GC, the index's off-heap vectors and its page-cache residency, now."""
    return (
        {"index": index}
        | heap_after_gc(es, window_s)
        | off_heap_vectors(es, index)
        | page_cache(es, index)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("index", help="an index or alias name")
    parser.add_argument("--window", type=float, default=WINDOW_S)
    args = parser.parse_args()
    print(json.dumps(measure(get_elasticsearch(Settings()), args.index, args.window), indent=1))


if __name__ == "__main__":
    main()
