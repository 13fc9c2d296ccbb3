"""What is rising (issue 17): a term's count in a recent window against its baseline.

One pure function scores a term (an entity, a keyphrase, a story, a saved search's matches) for
the web's ``/rising`` (web/rising.py) and the worker's spike alerts (worker/alerts.py), so both
fire on the same evidence.

The score
---------
A term seen ``baseline`` times in the baseline window (by default the 14 days before the recent
window) is expected, if nothing changed, to be seen

    expected = (baseline + PRIOR) * recent_window / baseline_window

times in the recent window (by default the last 24 hours). ``PRIOR`` (half an article) is a
pseudo-count: a term never seen before is expected a little above zero, so its ratio is finite
and a division by zero cannot happen. The recent count is then tested against a Poisson
distribution of that mean: ``p = P(X >= recent | expected)``, the chance of seeing at least this
many if the rate had not changed. The score is the surprise ``-log10(p)``: 2 means a 1-in-100
chance, 5 a 1-in-100,000 chance. It grows with the size of the jump *and* with the amount of
evidence: 2 against an expected 0.1 (surprise 2.3) is weaker than 20 against an expected 2
(surprise 12.7), though both are twenty times the rate.

A term is **rising** when all three hold:

- ``recent >= min_count`` (setting ``NEWSROOM_RISING_MIN_COUNT``): small counts never fire, however
  unexpected (three articles naming a new person are not a trend);
- ``score >= min_score`` (``NEWSROOM_RISING_MIN_SCORE``), the surprise;
- ``ratio >= MIN_RATIO``: at least twice the expected rate, so a very frequent term with a
  statistically certain but small rise (1,050 where 1,000 were expected) is not news.

Defaults were tuned on synthetic timelines (``python -m quality rising``; docs/QUALITY.md).

Cost: the tail probability is the regularised lower incomplete gamma function ``P(recent,
expected)``, summed as a series in log space (no overflow, no underflow) of at most
``MAX_TERMS`` terms; beyond ``NORMAL_FROM`` expected articles the Poisson law is replaced by its
normal approximation (the signed root of the likelihood-ratio statistic), which is exact enough
there. So each score costs at most a few hundred floating-point operations, whatever the counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

PRIOR = 0.5
MIN_RATIO = 2.0
# Scores are capped here (a probability below 1e-300 is as certain as it gets).
MAX_SCORE = 300.0
MAX_TERMS = 2_000
NORMAL_FROM = 500.0
DEFAULT_MIN_COUNT = 3
DEFAULT_MIN_SCORE = 3.0


@dataclass(frozen=True)
class Score:
    recent: int
    baseline: int
    expected: float  # recent articles expected from the baseline rate (with the prior)
    ratio: float  # recent / expected
    score: float  # -log10 P(X >= recent), X ~ Poisson(expected); 0 when not above expected
    rising: bool

    def as_dict(self) -> dict[str, float | int | bool]:
        return {
            "recent": self.recent,
            "baseline": self.baseline,
            "expected": round(self.expected, 3),
            "ratio": round(self.ratio, 2),
            "score": round(self.score, 2),
            "rising": self.rising,
        }


def log_poisson_tail(k: int, mu: float) -> float:
    """``ln P(X >= k)`` for ``X ~ Poisson(mu)``, ``mu > 0``: the regularised lower incomplete
    gamma ``P(k, mu)`` as its series, in log space. 0.0 (probability 1) for ``k <= 0``."""
    if k <= 0:
        return 0.0
    if mu <= 0:
        raise ValueError("the expected count must be positive")
    if mu >= NORMAL_FROM:
        return _log_normal_tail(k, mu)
    # P(k, mu) = e^-mu mu^k / k! * sum_n mu^n / ((k+1)...(k+n))
    term = 1.0
    total = 1.0
    for n in range(1, MAX_TERMS + 1):
        term *= mu / (k + n)
        total += term
        if term < total * 1e-15:
            break
    log_p = -mu + k * math.log(mu) - math.lgamma(k + 1) + math.log(total)
    return min(0.0, log_p)


def _log_normal_tail(k: int, mu: float) -> float:
    """The same tail for a large mean: the signed root of the Poisson deviance is nearly
    standard normal; evaluated at ``k - 0.5`` (continuity)."""
    x = k - 0.5
    if x <= mu:
        return math.log(max(0.5 * math.erfc((x - mu) / math.sqrt(2 * mu)), 1e-300))
    z = math.sqrt(2 * (x * math.log(x / mu) - (x - mu)))
    tail = 0.5 * math.erfc(z / math.sqrt(2))
    if tail > 0:
        return math.log(tail)
    # erfc underflows beyond z ~ 38: its asymptote, ln(phi(z) / z).
    return -0.5 * z * z - math.log(z * math.sqrt(2 * math.pi))


def score(
    recent: int,
    baseline: int,
    *,
    window_ratio: float,
    min_count: int = DEFAULT_MIN_COUNT,
    min_score: float = DEFAULT_MIN_SCORE,
    min_ratio: float = MIN_RATIO,
    prior: float = PRIOR,
) -> Score:
    """Score a term seen ``recent`` times in the recent window and ``baseline`` times in the
    baseline window; ``window_ratio`` is the recent window's length over the baseline's
    (1/14 for a day against two weeks). See the module's documentation."""
    if window_ratio <= 0 or not math.isfinite(window_ratio):
        raise ValueError("window_ratio must be a positive number")
    recent, baseline = max(0, int(recent)), max(0, int(baseline))
    expected = (baseline + max(prior, 1e-9)) * window_ratio
    ratio = recent / expected
    surprise = 0.0
    if recent > expected:
        surprise = min(MAX_SCORE, -log_poisson_tail(recent, expected) / math.log(10))
    rising = recent >= min_count and surprise >= min_score and ratio >= min_ratio
    return Score(recent, baseline, expected, ratio, surprise, rising)


@dataclass(frozen=True)
class Windows:
    """The recent window [recent_start, end) and the baseline [baseline_start, recent_start)."""

    end: datetime
    recent_hours: int
    baseline_days: int

    @property
    def recent_start(self) -> datetime:
        return self.end - timedelta(hours=self.recent_hours)

    @property
    def baseline_start(self) -> datetime:
        return self.recent_start - timedelta(days=self.baseline_days)

    @property
    def ratio(self) -> float:
        """The recent window's length over the baseline's: ``score``'s ``window_ratio``."""
        return self.recent_hours / (24 * self.baseline_days)

    def recent_range(self, field: str) -> dict[str, Any]:
        """A range filter on ``field`` (a date) for the recent window."""
        return _range(field, self.recent_start, self.end)

    def baseline_range(self, field: str) -> dict[str, Any]:
        return _range(field, self.baseline_start, self.recent_start)

    def whole_range(self, field: str) -> dict[str, Any]:
        """Both windows: from the baseline's start to the recent window's end."""
        return _range(field, self.baseline_start, self.end)

    def as_dict(self) -> dict[str, Any]:
        return {
            "recent": {"from": iso(self.recent_start), "to": iso(self.end)},
            "baseline": {"from": iso(self.baseline_start), "to": iso(self.recent_start)},
            "recent_hours": self.recent_hours,
            "baseline_days": self.baseline_days,
        }


def windows(now: datetime, recent_hours: int, baseline_days: int) -> Windows:
    """The windows ending at the minute after ``now`` (so what was seen this minute counts;
    requests made within one minute are the same request, which a cache may answer)."""
    end = now.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return Windows(end, recent_hours, baseline_days)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _range(field: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {"range": {field: {"gte": iso(start), "lt": iso(end)}}}


def count_request(filters: list[dict[str, Any]], aggs: dict[str, Any]) -> dict[str, Any]:
    """A search body that only counts: no hits, no total, every clause in filter context (no
    scoring; the shard request cache may answer it), no scripts."""
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"bool": {"filter": filters}},
        "aggs": aggs,
    }
