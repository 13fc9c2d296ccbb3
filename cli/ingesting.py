"""Post items to ingest in batches and account for every one: accepted, duplicate, rejected
(with the reason, where it came from) or not sent; then, if asked, wait until they are indexed.

Batches are JSON arrays of up to ``batch_size`` articles and ``max_batch_bytes`` bytes. Ingest
answers each with the ids it accepted, in order, and the positions it rejected with the
reasons, which map back to files and lines. Duplicates are what ingest says: an id it already
gave to an earlier article of this run (or two articles of one batch that got one id).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from cli.client import Answer, GaveUpError, IngestClient
from cli.sources import Item

STATUS_CHUNK = 1000  # ids per POST /articles/status
SHOWN_PROBLEMS = 50  # per list in the text summary (--json lists them all)


class Progress(Protocol):
    """What we use of a tqdm bar."""

    def update(self, n: float | None = 1) -> bool | None: ...

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None: ...


class NoProgress:
    def update(self, n: float | None = 1) -> bool | None:
        return None

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        return None


@dataclass(frozen=True)
class Problem:
    where: str
    reason: str


@dataclass
class Summary:
    files: int = 0
    articles: int = 0  # every article read, or that failed to read
    accepted: int = 0  # distinct ids ingest accepted
    duplicates: int = 0
    rejected: list[Problem] = field(default_factory=list)
    not_sent: list[Problem] = field(default_factory=list)
    duplicate_of: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    # Filled by ``wait_until_done`` (--wait).
    waited: bool = False
    indexed: int = 0
    failed: list[Problem] = field(default_factory=list)
    still_queued: int = 0
    wait_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.rejected or self.not_sent or self.failed or self.still_queued)

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["ok"] = self.ok
        return body

    def render(self) -> str:
        rate = self.articles / self.seconds if self.seconds else 0.0
        lines = [
            f"Read {self.files} file(s): {self.articles} article(s) in {self.seconds:.1f} s "
            f"({rate:.1f} articles/s)",
            f"  accepted    {self.accepted:>7}",
            f"  duplicates  {self.duplicates:>7}",
            f"  rejected    {len(self.rejected):>7}",
            f"  not sent    {len(self.not_sent):>7}",
        ]
        if self.waited:
            lines += [
                f"  indexed     {self.indexed:>7}   (waited {self.wait_seconds:.1f} s)",
                f"  failed      {len(self.failed):>7}",
                f"  still queued{self.still_queued:>7}",
            ]
        for title, problems in (
            ("Rejected", self.rejected),
            ("Not sent", self.not_sent),
            ("Failed in the pipeline", self.failed),
            ("Duplicates", self.duplicate_of),
        ):
            if problems:
                lines.append(f"{title}:")
                lines += [f"  {p.where}: {p.reason}" for p in problems[:SHOWN_PROBLEMS]]
                if len(problems) > SHOWN_PROBLEMS:
                    lines.append(f"  ... and {len(problems) - SHOWN_PROBLEMS} more (--json)")
        return "\n".join(lines)


def _reasons(entry: Any) -> str:
    errors = entry.get("errors") if isinstance(entry, dict) else None
    if not isinstance(errors, list) or not errors:
        return "rejected by ingest"
    return "; ".join(
        f"{e.get('field', '?')}: {e.get('message', '?')}" if isinstance(e, dict) else str(e)
        for e in errors
    )


class Ingestion:
    def __init__(
        self,
        client: IngestClient,
        *,
        batch_size: int = 100,
        max_batch_bytes: int = 4 * 1024 * 1024,
        progress: Progress | None = None,
        queue: str | None = None,
    ) -> None:
        self.client = client
        self.queue = queue
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self.progress: Progress = progress or NoProgress()
        self.summary = Summary()
        self.ids: list[str] = []  # accepted, in order
        self.first_seen: dict[str, str] = {}  # id -> where its first article came from
        self._started = time.monotonic()

    # --- sending -------------------------------------------------------------------------------

    def run(self, items: Iterable[Item]) -> Summary:
        """Send every item; return the summary (``files`` is the caller's to fill)."""
        self._started = time.monotonic()
        batch: list[tuple[Item, bytes]] = []
        size = 0
        for item in items:
            if item.error is not None or item.article is None:
                if item.error is not None:
                    self.summary.articles += 1
                    self.summary.rejected.append(Problem(item.where, item.error))
                self.progress.update(item.weight)
                continue
            data = json.dumps(item.article, ensure_ascii=False).encode("utf-8")
            if batch and (len(batch) >= self.batch_size or size + len(data) > self.max_batch_bytes):
                self._send(batch)
                batch, size = [], 0
            batch.append((item, data))
            size += len(data) + 1
            self.summary.articles += 1
        if batch:
            self._send(batch)
        self.summary.accepted = len(self.ids)
        self.summary.seconds = time.monotonic() - self._started
        return self.summary

    def _send(self, batch: list[tuple[Item, bytes]]) -> None:
        body = b"[" + b",".join(data for _, data in batch) + b"]"
        try:
            answer = self.client.post_articles(body, self.queue)
        except GaveUpError as error:
            self.summary.not_sent += [Problem(item.where, str(error)) for item, _ in batch]
        else:
            self._handle(batch, answer)
            if answer.status == 413 and len(batch) > 1:
                return  # the halves were sent (and counted) on their own
        self.progress.update(sum(item.weight for item, _ in batch))
        self._show_rate()

    def _handle(self, batch: list[tuple[Item, bytes]], answer: Answer) -> None:
        items = [item for item, _ in batch]
        if answer.status == 202 and isinstance(answer.body, dict):
            self._accepted(items, answer.body)
        elif answer.status == 413 and len(batch) > 1:
            middle = len(batch) // 2  # too big for the service: send the halves
            self._send(batch[:middle])
            self._send(batch[middle:])
        elif answer.status == 422 and isinstance(answer.body, dict):
            by_index = {
                e.get("index"): _reasons(e)
                for e in answer.body.get("rejected") or []
                if isinstance(e, dict)
            }
            self.summary.rejected += [
                Problem(item.where, by_index.get(index, answer.detail))
                for index, item in enumerate(items)
            ]
        elif 400 <= answer.status < 500:
            reason = f"ingest answered {answer.status}: {answer.detail}"
            self.summary.rejected += [Problem(item.where, reason) for item in items]
        else:  # a fault of the service, not of these articles
            reason = f"ingest answered {answer.status}: {answer.detail}"
            self.summary.not_sent += [Problem(item.where, reason) for item in items]

    def _accepted(self, items: list[Item], body: dict[str, Any]) -> None:
        rejected = {
            e["index"]: _reasons(e)
            for e in body.get("rejected") or []
            if isinstance(e, dict) and isinstance(e.get("index"), int) and e["index"] < len(items)
        }
        self.summary.rejected += [Problem(items[i].where, r) for i, r in sorted(rejected.items())]
        valid = [item for index, item in enumerate(items) if index not in rejected]
        ids = [str(a["id"]) for a in body.get("articles") or []]
        if len(ids) == len(valid):
            for item, article_id in zip(valid, ids, strict=True):
                self._count(article_id, item.where)
        else:
            # Ingest merged articles of this batch that have one id; which ones it does not
            # say, so they are counted, not named.
            for article_id in ids:
                self._count(article_id, None)
            merged = len(valid) - len(ids)
            self.summary.duplicates += merged
            span = f"{valid[0].where} ... {valid[-1].where}"
            self.summary.duplicate_of.append(
                Problem(span, f"{merged} article(s) of one batch had the id of another")
            )

    def _count(self, article_id: str, where: str | None) -> None:
        if article_id in self.first_seen:
            self.summary.duplicates += 1
            self.summary.duplicate_of.append(
                Problem(where or article_id, f"same article as {self.first_seen[article_id]}")
            )
            return
        self.first_seen[article_id] = where or article_id
        self.ids.append(article_id)

    def _show_rate(self) -> None:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        self.progress.set_postfix_str(
            f"{len(self.ids)} accepted, {len(self.summary.rejected)} rejected, "
            f"{self.summary.articles / elapsed:.1f} articles/s"
        )

    # --- waiting -------------------------------------------------------------------------------

    def wait_until_done(
        self,
        *,
        timeout_s: float,
        poll_s: float = 1.0,
        progress: Progress | None = None,
    ) -> Summary:
        """Poll ``POST /articles/status`` until every accepted article is indexed or failed,
        or ``timeout_s`` passes."""
        progress = progress or NoProgress()
        started = time.monotonic()
        pending = list(self.ids)
        self.summary.waited = True
        while pending:
            still: list[str] = []
            for start in range(0, len(pending), STATUS_CHUNK):
                chunk = pending[start : start + STATUS_CHUNK]
                answer = self.client.states(chunk)
                if answer.status != 200 or not isinstance(answer.body, dict):
                    raise GaveUpError(f"cannot follow the articles: {answer.detail}")
                done = 0
                for entry in answer.body.get("articles") or []:
                    state = entry.get("state")
                    if state == "indexed":
                        self.summary.indexed += 1
                        done += 1
                    elif state == "failed":
                        where = self.first_seen.get(entry["id"], entry["id"])
                        reason = f"{entry['id']}: {entry.get('error') or 'failed'}"
                        self.summary.failed.append(Problem(where, reason))
                        done += 1
                    else:
                        still.append(entry["id"])
                still += answer.body.get("unknown") or []
                progress.update(done)
            pending = still
            if pending and time.monotonic() - started + poll_s > timeout_s:
                break
            if pending:
                time.sleep(poll_s)
        self.summary.still_queued = len(pending)
        self.summary.wait_seconds = time.monotonic() - started
        return self.summary
