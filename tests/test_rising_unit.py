"""The rising score (shared/rising.py): pure, no services."""

from __future__ import annotations

import math

import pytest

from shared.rising import MAX_SCORE, log_poisson_tail, score

DAY_OF_TWO_WEEKS = 1 / 14


def _brute_tail(k: int, mu: float) -> float:
    return math.log(
        sum(math.exp(-mu + j * math.log(mu) - math.lgamma(j + 1)) for j in range(k, k + 400))
    )


@pytest.mark.parametrize(
    ("k", "mu"), [(1, 0.1), (3, 0.05), (10, 2.0), (40, 2.0), (100, 50.0), (480, 450.0)]
)
def test_poisson_tail_matches_the_sum(k: int, mu: float) -> None:
    assert log_poisson_tail(k, mu) == pytest.approx(_brute_tail(k, mu), rel=1e-9)


def test_poisson_tail_edges() -> None:
    assert log_poisson_tail(0, 3.0) == 0.0
    assert log_poisson_tail(-2, 3.0) == 0.0
    with pytest.raises(ValueError, match="positive"):
        log_poisson_tail(3, 0.0)
    # The normal branch, beside the exact one at its border, and no underflow far out.
    assert log_poisson_tail(600, 500.0) == pytest.approx(log_poisson_tail(600, 499.9), rel=0.01)
    assert math.isfinite(log_poisson_tail(100_000, 500.0))
    assert math.isfinite(log_poisson_tail(10**9, 1e-6))


def test_small_counts_do_not_fire() -> None:
    # Never seen before, then two articles: very unlikely, but two articles are not a trend.
    two = score(2, 0, window_ratio=DAY_OF_TWO_WEEKS, min_count=3)
    assert two.score > 3
    assert not two.rising
    # One a day for two weeks, then one or two today: the usual.
    for today in (0, 1, 2):
        assert not score(today, 14, window_ratio=DAY_OF_TWO_WEEKS).rising


def test_a_jump_fires() -> None:
    jump = score(20, 14, window_ratio=DAY_OF_TWO_WEEKS)
    assert jump.rising
    assert jump.ratio > 10
    assert jump.score > 10
    # More evidence at the same ratio scores higher.
    assert score(40, 28, window_ratio=DAY_OF_TWO_WEEKS).score > jump.score


def test_a_frequent_term_needs_a_real_rise() -> None:
    # 1,000 a day; 1,050 today is certain to be more than chance, but not news.
    small_rise = score(1_050, 14_000, window_ratio=DAY_OF_TWO_WEEKS)
    assert not small_rise.rising
    assert score(2_500, 14_000, window_ratio=DAY_OF_TWO_WEEKS).rising


def test_no_division_by_zero_and_bounded() -> None:
    nothing = score(0, 0, window_ratio=DAY_OF_TWO_WEEKS)
    assert nothing.expected > 0
    assert nothing.ratio == 0
    assert nothing.score == 0
    assert not nothing.rising
    huge = score(10**9, 0, window_ratio=DAY_OF_TWO_WEEKS)
    assert huge.score == MAX_SCORE
    assert huge.rising
    assert math.isfinite(huge.ratio)
    # Negative counts (never from Elasticsearch) count as none.
    assert score(-5, -5, window_ratio=DAY_OF_TWO_WEEKS).recent == 0
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="window_ratio"):
            score(1, 1, window_ratio=bad)


def test_fewer_than_expected_scores_zero() -> None:
    falling = score(1, 140, window_ratio=DAY_OF_TWO_WEEKS)
    assert falling.score == 0
    assert falling.ratio < 1
    assert falling.as_dict()["rising"] is False
