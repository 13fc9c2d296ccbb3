"""`newsroom status`: the pipeline snapshot (shared/monitoring.py) as a few readable lines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # unreachable: the loop returns at TB


def _number(value: float) -> str:
    return f"{value:,.0f}"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%H:%M:%S")


def _worker(process: dict[str, Any]) -> str:
    since = max(0.0, datetime.now(UTC).timestamp() - float(process.get("since") or 0))
    if process.get("state") == "busy":
        return f"{process['id']} busy ({process.get('articles', 0)} articles, {since:.0f} s)"
    return f"{process['id']} idle"


def format_status(snapshot: dict[str, Any]) -> str:
    queue, index = snapshot["queue"], snapshot["index"]
    workers, rates = snapshot["workers"], snapshot["throughput"]["per_minute"]
    failures, letters, totals = snapshot["failures"], snapshot["dead_letters"], snapshot["totals"]
    window = snapshot["throughput"]["window_minutes"]
    waiting = ", ".join(
        f"{depth} task(s) waiting in '{name}'" for name, depth in queue["queues"].items()
    )
    lines = [
        f"Newsroom pipeline at {snapshot['at']}",
        f"  queue        {waiting}"
        + f" (limit {queue['max_waiting_tasks']} each, up to {queue['batch_size']} articles a "
        f"task); {queue['reserved_tasks']} held by workers",
        f"  workers      {workers['alive']} process(es) alive, "
        f"{queue['articles_in_progress']} article(s) in progress",
    ]
    lines += [f"                 {_worker(p)}" for p in workers["processes"]]
    lines += [
        f"  throughput   {rates['indexed']:.1f} indexed/min, {rates['accepted']:.1f} "
        f"accepted/min (last {window} min)",
        f"  failures     {failures['failed']} failed attempt(s), {failures['dead_lettered']} "
        f"dead-lettered in the last {failures['window_minutes']} min",
    ]
    lines += [
        f"                 {_when(f['at'])} {f['id']} {f['stage']}"
        f"{' (dead letter)' if f.get('final') else ''}: {str(f['reason'])[:100]}"
        for f in failures["latest"]
    ]
    if "error" in index:
        lines.append(f"  index        {index['alias']}: {index['error']}")
    else:
        lines.append(
            f"  index        {index['alias']}: {_number(index['documents'])} article(s), "
            f"{human_bytes(index['store_bytes'])}"
        )
    lines.append(
        f"  dead letters {letters['count']}"
        + ("  (newsroom dlq list; newsroom dlq replay --all)" if letters["count"] else "")
    )
    lines.append(
        "  totals       "
        + ", ".join(
            f"{name.replace('_', ' ')} {_number(totals[name])}"
            for name in ("accepted", "rejected", "indexed", "failed", "dead_lettered")
        )
    )
    return "\n".join(lines)
