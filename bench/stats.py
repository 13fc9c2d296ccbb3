"""Statistics and bookkeeping every benchmark figure goes through.

- ``summarise(samples)``: the median with a distribution-free 95% interval from order
  statistics (the ranks j, k with P(j <= B(n, 1/2) < k) >= 0.95, B binomial; no bootstrap, no
  normality assumed). Below 6 samples no pair of ranks reaches 95%: the interval is then the
  range of the samples and ``confidence`` says what it reaches (93.75% for 5 rounds).
  ``quantile_interval`` does the same for any quantile (a p99's interval from its samples).
- ``interleave(rounds, arms)``: baseline and candidate alternating (ABBA), every round timed
  with its machine share.
- ``ShareMeter``: the machine share of a stretch of time: the CPU time our processes (this one,
  its descendants, and any pids given) used over the whole machine's busy CPU time
  (/proc/<pid>/stat, /proc/stat); beside it what they got over what they asked for, run time /
  (run time + time runnable but waiting for a core) from /proc/<pid>/task/*/schedstat, steal,
  the CPU pressure stall (/proc/pressure/cpu) and the load average. A round whose share is
  below ``MIN_SHARE`` was disturbed by something else on the machine and is rejected.
- ``Run``: one benchmark run (its id, commit, start time); ``Run.record`` stores a figure with
  its interval, unit, warm-up, machine share, rejected rounds and the run's commit and id;
  ``Run.ratio`` divides two figures of the same run and raises ``CrossRunRatioError`` for figures
  from two runs: a ratio is never made of parts measured at different times.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, TypeVar

T = TypeVar("T")

CONFIDENCE = 0.95
# A round in which our processes got less than this share of the CPU they asked for was
# disturbed (another tenant, a compaction, a merge) and is rejected.
MIN_SHARE = 0.80
# Fewer surviving rounds than this and the figure keeps every round and says it is disturbed.
MIN_KEPT = 3


class CrossRunRatioError(ValueError):
    """A ratio asked of two figures measured in different runs."""


@dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float
    n: int
    confidence: float  # what the interval reaches (0.95, or less for few samples)
    method: str = "order statistics"

    def as_dict(self) -> dict[str, Any]:
        return {
            "median": _round(self.median),
            "low": _round(self.low),
            "high": _round(self.high),
            "n": self.n,
            "confidence": round(self.confidence, 4),
            "method": self.method,
        }


def _round(value: float) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, max(0, 5 - math.floor(math.log10(abs(value)))))


def _binomial_cdf(n: int, p: float) -> list[float]:
    """P(B(n, p) <= i) for i in 0..n, computed in log space (n may be 100,000)."""
    if p <= 0 or p >= 1:
        raise ValueError("p must be in (0, 1)")
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)
    cdf, total = [], 0.0
    for i in range(n + 1):
        total += math.exp(
            base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        )
        cdf.append(min(total, 1.0))
    return cdf


def rank_interval(n: int, q: float, confidence: float = CONFIDENCE) -> tuple[int, int, float]:
    """0-based ranks (j, k) of the sorted samples holding the q-quantile with at least
    ``confidence`` (the narrowest such pair, about centred on n*q), and the coverage reached.
    If no pair reaches it, the extremes (0, n-1) and their coverage."""
    if n < 1:
        raise ValueError("no samples")
    cdf = _binomial_cdf(n, q)
    # With B the number of samples below the quantile, x[j] <= quantile <= x[k] (0-based
    # ranks) holds when j + 1 <= B <= k: with probability cdf[k] - cdf[j].
    j = k = min(n - 1, max(0, int(n * q)))
    while cdf[k] - cdf[j] < confidence and (j > 0 or k < n - 1):
        gain_low = cdf[j] - cdf[j - 1] if j > 0 else -1.0  # P(B = j)
        gain_high = cdf[k + 1] - cdf[k] if k < n - 1 else -1.0  # P(B = k + 1)
        if gain_high >= gain_low:
            k += 1
        else:
            j -= 1
    return j, k, cdf[k] - cdf[j]


def quantile(samples: Sequence[float], q: float) -> float:
    """The q-quantile, linear between closest ranks (numpy's default)."""
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    position = q * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def quantile_interval(
    samples: Sequence[float], q: float, confidence: float = CONFIDENCE
) -> Summary:
    """The q-quantile of the samples with its distribution-free interval."""
    ordered = sorted(float(x) for x in samples)
    if not ordered:
        raise ValueError("no samples")
    j, k, reached = rank_interval(len(ordered), q, confidence)
    return Summary(
        median=quantile(ordered, q),
        low=ordered[j],
        high=ordered[k],
        n=len(ordered),
        confidence=reached,
    )


def summarise(samples: Iterable[float], confidence: float = CONFIDENCE) -> Summary:
    """The median of the samples with its distribution-free interval (order statistics)."""
    values = [float(x) for x in samples]
    if not values:
        raise ValueError("no samples")
    found = quantile_interval(values, 0.5, confidence)
    return Summary(
        median=statistics.median(values),
        low=found.low,
        high=found.high,
        n=found.n,
        confidence=found.confidence,
    )


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> Summary:
    """The median of per-round ratios (rounds of one run, interleaved) with its interval."""
    if len(numerators) != len(denominators) or not numerators:
        raise ValueError("paired ratios need as many numerator as denominator rounds")
    return summarise(n / d for n, d in zip(numerators, denominators, strict=True))


# --- machine share -------------------------------------------------------------------------


class Share(TypedDict):
    share: float  # our processes' CPU time / the whole machine's busy CPU time
    cpu_s: float  # our processes' CPU time (reaped children included)
    machine_busy_s: float
    wait_share: float  # run / (run + runnable waiting), live threads: oversubscription too
    run_s: float
    wait_s: float
    steal: float  # fraction of the machine's CPU time stolen by the hypervisor
    cpu_pressure: float  # fraction of the wall time some task waited for a core (PSI "some")
    load_average: float
    wall_s: float


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (from /proc/*/stat parent ids)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _schedstat(pid: int) -> tuple[int, int]:
    """Nanoseconds on a core and runnable-but-waiting, over all threads of a process."""
    run = wait = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0, 0
    for task in tasks:
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:
            continue
        run += int(fields[0])
        wait += int(fields[1])
    return run, wait


def _proc_stat() -> tuple[int, int, int]:
    """Ticks of the machine: total, busy (less idle and iowait), stolen."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    steal = values[7] if len(values) > 7 else 0
    return sum(values), sum(values) - values[3] - values[4], steal


def _cpu_ticks(pid: int, children: bool) -> int:
    """utime + stime of a process (every thread, dead ones too), and with ``children`` the
    times of the children it reaped (cutime + cstime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks


def _pressure_us() -> int:
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return 0
    return int(line.rsplit("total=", 1)[1])


@dataclass
class ShareMeter:
    """The machine share between ``start()`` and ``stop()``: the CPU time of this process,
    its descendants (services the bench started; each process's time counted once, alive or
    in the reaper's children times, so services started and stopped within the round count)
    and ``pids`` (Elasticsearch's, Redis's), over the whole machine's busy CPU time
    (/proc/stat). 1.0: nothing else ran. Beside it ``wait_share``, run / (run + runnable
    wait) of the live threads (schedstat): below 1 also when our own processes ask for more
    cores than there are, so it is reported, not used to reject."""

    pids: Sequence[int] = ()
    _start: dict[str, Any] = field(default_factory=dict)

    def _snapshot(self) -> dict[str, Any]:
        tree = descendants(os.getpid())
        per_pid = {pid: _schedstat(pid) for pid in {*tree, *self.pids}}
        ours = sum(_cpu_ticks(pid, children=True) for pid in tree)
        ours += sum(_cpu_ticks(pid, children=False) for pid in set(self.pids) - set(tree))
        total, busy, steal = _proc_stat()
        return {
            "pids": per_pid,
            "ours": ours,
            "total": total,
            "busy": busy,
            "steal": steal,
            "pressure": _pressure_us(),
            "wall": time.monotonic(),
        }

    def start(self) -> ShareMeter:
        self._start = self._snapshot()
        return self

    def stop(self) -> Share:
        end = self._snapshot()
        run = wait = 0
        for pid, (run_ns, wait_ns) in end["pids"].items():
            before = self._start["pids"].get(pid, (0, 0))
            run += run_ns - before[0]
            wait += wait_ns - before[1]
        wall = max(end["wall"] - self._start["wall"], 1e-9)
        total = max(end["total"] - self._start["total"], 1)
        busy = end["busy"] - self._start["busy"]
        ours = end["ours"] - self._start["ours"]
        tick = os.sysconf("SC_CLK_TCK")
        return {
            "share": round(min(1.0, ours / busy), 4) if busy > 0 else 1.0,
            "cpu_s": round(ours / tick, 2),
            "machine_busy_s": round(busy / tick, 2),
            "wait_share": round(run / (run + wait), 4) if run + wait else 1.0,
            "run_s": round(run / 1e9, 3),
            "wait_s": round(wait / 1e9, 3),
            "steal": round((end["steal"] - self._start["steal"]) / total, 4),
            "cpu_pressure": round((end["pressure"] - self._start["pressure"]) / 1e6 / wall, 4),
            "load_average": round(os.getloadavg()[0], 2),
            "wall_s": round(wall, 3),
        }


def service_pids(names: Sequence[str] = ("org.elasticsearch", "redis-server")) -> list[int]:
    """Pids of the shared services (read only: their share is measured, never changed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(name in command for name in names):
            found.append(int(entry.name))
    return found


# --- cores -------------------------------------------------------------------------------


class Pinning(TypedDict):
    load_generator: list[int]
    services: list[int]
    applied: bool
    note: str


def plan_cores(cores: Sequence[int] | None = None) -> Pinning:
    """Which cores the load generator and the services under test get. With 4 cores or more
    the load generator gets one to itself, the services the rest. With fewer nothing is pinned:
    on 2 cores, a core taken for the load generator would leave Elasticsearch, the web and the
    worker one core, measuring a machine half the size; the interference is recorded instead
    (every figure's machine share)."""
    available = sorted(cores if cores is not None else os.sched_getaffinity(0))
    if len(available) >= 4:
        return {
            "load_generator": available[-1:],
            "services": available[:-1],
            "applied": True,
            "note": f"load generator on core {available[-1]}, services on the other "
            f"{len(available) - 1}",
        }
    return {
        "load_generator": available,
        "services": available,
        "applied": False,
        "note": f"{len(available)} cores: not pinned (one core each would halve the stack "
        "under test); interference is in each figure's machine share",
    }


def pin(pid: int, cores: Sequence[int]) -> None:
    """Every thread of a process and of its descendants onto ``cores``."""
    for member in descendants(pid):
        try:
            tasks = [int(t.name) for t in Path(f"/proc/{member}/task").iterdir()]
        except OSError:
            continue
        for task in tasks:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(task, set(cores))


# --- rounds and figures ------------------------------------------------------------------


@dataclass
class Round:
    value: float
    share: Share


def timed_round(measure: Callable[[], float], pids: Sequence[int] = ()) -> Round:
    """One round of ``measure`` (which returns the round's figure) with its machine share."""
    meter = ShareMeter(pids).start()
    value = measure()
    return Round(value, meter.stop())


def interleave_calls(
    rounds: int, arms: Mapping[str, Callable[[int], T]], pids: Sequence[int] = ()
) -> dict[str, list[tuple[T, Share]]]:
    """``rounds`` rounds of every arm (each called with the round's number), alternating their
    order (A B, B A, A B, ...) so that a drift over the run falls on every arm alike; each
    call's result with its machine share."""
    names = list(arms)
    found: dict[str, list[tuple[T, Share]]] = {name: [] for name in names}
    for number in range(rounds):
        for name in names if number % 2 == 0 else reversed(names):
            meter = ShareMeter(pids).start()
            result = arms[name](number)
            found[name].append((result, meter.stop()))
    return found


def interleave(
    rounds: int, arms: Mapping[str, Callable[[], float]], pids: Sequence[int] = ()
) -> dict[str, list[Round]]:
    """``interleave_calls`` of arms that each return one figure."""
    calls = {name: (lambda _number, measure=measure: measure()) for name, measure in arms.items()}
    found = interleave_calls(rounds, calls, pids)
    return {name: [Round(value, share) for value, share in got] for name, got in found.items()}


def rounds_of(calls: Sequence[tuple[Mapping[str, Any], Share]], key: str) -> list[Round]:
    """One key of every round's result, with the round's machine share (rounds without it
    left out)."""
    return [
        Round(float(result[key]), share)
        for result, share in calls
        if isinstance(result.get(key), int | float) and not isinstance(result.get(key), bool)
    ]


class PeakRss:
    """Polls VmRSS and VmHWM (the kernel's peak) of every descendant of this process whose
    command line holds ``match``, every ``interval_s``, in a thread: the peak of a process that
    exits before the end is kept too."""

    def __init__(self, match: str, interval_s: float = 0.5) -> None:
        self.match = match.encode()
        self.interval_s = interval_s
        self.peak_mb: dict[int, float] = {}
        self.rss_mb: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _read(self) -> None:
        for pid in descendants(os.getpid()):
            try:
                if self.match not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    continue
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                key, _, value = line.partition(":")
                if key == "VmHWM":
                    mb = int(value.split()[0]) / 1024
                    self.peak_mb[pid] = max(self.peak_mb.get(pid, 0.0), mb)
                elif key == "VmRSS":
                    self.rss_mb[pid] = int(value.split()[0]) / 1024

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._read()

    def __enter__(self) -> PeakRss:
        self._read()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self) -> float:
        """The highest VmHWM of any matching process seen (MB), 0 if none was."""
        return round(max(self.peak_mb.values(), default=0.0), 1)


def keep_undisturbed(
    rounds: Sequence[Round], min_share: float = MIN_SHARE
) -> tuple[list[Round], int, bool]:
    """The rounds whose machine share reached ``min_share``, how many were rejected, and
    whether too few were left (then every round is kept and the figure is marked disturbed)."""
    kept = [r for r in rounds if r.share["share"] >= min_share]
    if len(kept) >= min(MIN_KEPT, len(rounds)):
        return kept, len(rounds) - len(kept), False
    return list(rounds), 0, True


def _git_commit(root: Path) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return ""
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return done.stdout.strip() + ("-dirty" if dirty else "")


@dataclass
class Run:
    """One benchmark run: every figure recorded through it carries the run's id and commit."""

    commit: str = ""
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    min_share: float = MIN_SHARE
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def here(cls, min_share: float = MIN_SHARE) -> Run:
        return cls(commit=_git_commit(Path(__file__).resolve().parent.parent), min_share=min_share)

    def _meta(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "commit": self.commit,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def record(
        self,
        key: str,
        samples: Sequence[float] | Sequence[Round] | Summary,
        *,
        unit: str,
        warm_up: str | int | None = None,
        share: Share | None = None,
        what: str = "",
        **extra: Any,
    ) -> dict[str, Any]:
        """Store a figure: from rounds (each with its machine share: disturbed ones rejected),
        from plain samples (one measurement's latencies, say; ``share`` is that
        measurement's), or from a Summary made elsewhere. Returns the stored record."""
        rejected, disturbed = 0, False
        rounds: list[float] = []
        numbers: list[int] = []
        shares: list[float] = []
        if isinstance(samples, Summary):
            summary = samples
        elif samples and isinstance(samples[0], Round):
            every = [r for r in samples if isinstance(r, Round)]
            kept, rejected, disturbed = keep_undisturbed(every, self.min_share)
            rounds = [r.value for r in kept]
            # Which rounds were kept: a ratio pairs the rounds both its parts kept.
            numbers = [n for n, r in enumerate(every) if any(r is k for k in kept)]
            shares = [r.share["share"] for r in kept]
            summary = summarise(rounds)
        else:
            summary = summarise([float(x) for x in samples if not isinstance(x, Round)])
        if share is not None:
            shares.append(share["share"])
            disturbed = disturbed or share["share"] < self.min_share
        entry: dict[str, Any] = summary.as_dict() | {
            "unit": unit,
            "what": what,
            "warm_up": warm_up,
            "machine_share": round(min(shares), 4) if shares else None,
            "rejected_rounds": rejected,
            "disturbed": disturbed,
        }
        if rounds:
            entry["rounds"] = [_round(v) for v in rounds]
            entry["round_numbers"] = numbers
        entry |= extra
        entry |= self._meta()
        self.figures[key] = entry
        return entry

    def ratio(
        self, key: str, numerator: str, denominator: str, *, what: str = ""
    ) -> dict[str, Any]:
        """``numerator / denominator`` of two figures recorded in this run: per round when
        both have as many interleaved rounds, else the ratio of medians with the interval
        of the quotient's bounds (low/high, high/low). Figures from another run are refused."""
        top, bottom = self.figures.get(numerator), self.figures.get(denominator)
        if top is None or bottom is None:
            raise CrossRunRatioError(
                f"{key}: {numerator} or {denominator} was not measured in this run"
            )
        check_same_run(top, bottom)
        if top["run_id"] != self.run_id:
            raise CrossRunRatioError(f"{key}: figures from run {top['run_id']}, not {self.run_id}")
        # Pair the rounds both parts kept (by round number: interleaved rounds side by side).
        top_by = dict(zip(top.get("round_numbers", []), top.get("rounds", []), strict=True))
        bottom_by = dict(
            zip(bottom.get("round_numbers", []), bottom.get("rounds", []), strict=True)
        )
        common = sorted(set(top_by) & set(bottom_by))
        if common and all(bottom_by[n] for n in common):
            summary = paired_ratio([top_by[n] for n in common], [bottom_by[n] for n in common])
            method = "per-round ratios, order statistics"
        else:
            summary = Summary(
                median=top["median"] / bottom["median"],
                low=top["low"] / bottom["high"] if bottom["high"] else math.nan,
                high=top["high"] / bottom["low"] if bottom["low"] else math.inf,
                n=min(top["n"], bottom["n"]),
                confidence=max(0.0, top["confidence"] + bottom["confidence"] - 1),
                method="ratio of medians, interval from the bounds (Bonferroni)",
            )
            method = summary.method
        entry = summary.as_dict() | {
            "unit": "ratio",
            "what": what or f"{numerator} / {denominator}",
            "method": method,
            "of": [numerator, denominator],
            "disturbed": bool(top.get("disturbed") or bottom.get("disturbed")),
        }
        entry |= self._meta()
        self.figures[key] = entry
        return entry


def check_same_run(*figures: Mapping[str, Any]) -> None:
    """Raise CrossRunRatioError unless every figure carries the same run id."""
    ids = {figure.get("run_id") for figure in figures}
    if len(ids) != 1 or None in ids:
        raise CrossRunRatioError(f"figures from different runs: {sorted(map(str, ids))}")
