"""bench/stats.py: the intervals, the machine share and the refusal of cross-run ratios."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

from bench import report, stats
from bench.stats import CrossRunRatioError, Round, Run, ShareMeter


def _share(value: float) -> stats.Share:
    return {
        "share": value,
        "cpu_s": 1.0,
        "machine_busy_s": 1.0,
        "wait_share": 1.0,
        "run_s": 1.0,
        "wait_s": 0.0,
        "steal": 0.0,
        "cpu_pressure": 0.0,
        "load_average": 0.0,
        "wall_s": 1.0,
    }


def test_median_interval_of_five_rounds_is_their_range_at_93_75_percent() -> None:
    found = stats.summarise([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (found.median, found.low, found.high, found.n) == (3.0, 1.0, 5.0, 5)
    assert found.confidence == pytest.approx(1 - 2 / 32)


def test_median_interval_of_ten_is_second_to_ninth() -> None:
    found = stats.summarise(range(1, 11))
    assert (found.low, found.high) == (2.0, 9.0)
    assert found.confidence == pytest.approx(0.9785, abs=1e-4)


def test_interval_covers_the_true_median_about_95_percent_of_the_time() -> None:
    rng = random.Random(3)
    covered = 0
    for _ in range(400):
        found = stats.summarise(rng.expovariate(1.0) for _ in range(40))
        covered += found.low <= 0.6931 <= found.high
    assert 0.9 <= covered / 400 <= 0.995


def test_p99_interval_of_1000_samples() -> None:
    found = stats.quantile_interval([float(x) for x in range(1000)], 0.99)
    assert found.low < found.median < found.high
    assert found.confidence >= 0.95
    assert found.high <= 999


def test_too_few_samples_for_p99_say_their_coverage() -> None:
    found = stats.quantile_interval([float(x) for x in range(100)], 0.99)
    assert (found.low, found.high) == (0.0, 99.0)
    assert found.confidence < 0.95


def test_disturbed_rounds_are_rejected_and_too_many_mark_the_figure() -> None:
    rounds = [Round(v, _share(s)) for v, s in [(1, 0.95), (2, 0.5), (3, 0.9), (4, 0.99)]]
    kept, rejected, disturbed = stats.keep_undisturbed(rounds, 0.8)
    assert [r.value for r in kept] == [1, 3, 4]
    assert rejected == 1
    assert not disturbed
    kept, rejected, disturbed = stats.keep_undisturbed(rounds, 0.97)
    assert len(kept) == 4
    assert rejected == 0
    assert disturbed


def test_interleave_alternates_the_order() -> None:
    order: list[str] = []

    def arm(name: str) -> float:
        order.append(name)
        return 1.0

    found = stats.interleave(4, {"a": lambda: arm("a"), "b": lambda: arm("b")})
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert all(len(rounds) == 4 for rounds in found.values())
    assert 0 <= found["a"][0].share["share"] <= 1


def test_share_meter_sees_this_process_running() -> None:
    meter = ShareMeter().start()
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    found = meter.stop()
    assert found["run_s"] > 0
    assert found["cpu_s"] > 0
    assert 0 < found["share"] <= 1
    assert 0 < found["wait_share"] <= 1
    assert found["load_average"] == pytest.approx(os.getloadavg()[0], abs=5)


def test_a_ratio_of_two_runs_is_refused() -> None:
    first, second = Run(commit="a"), Run(commit="b")
    first.record("p99_100k", [10.0, 11.0, 12.0], unit="ms")
    second.record("p99_1m", [30.0, 31.0, 33.0], unit="ms")
    with pytest.raises(CrossRunRatioError):
        first.ratio("over", "p99_1m", "p99_100k")
    # Copying the other run's figure in does not get past the run id.
    first.figures["p99_1m"] = second.figures["p99_1m"]
    with pytest.raises(CrossRunRatioError):
        first.ratio("over", "p99_1m", "p99_100k")
    with pytest.raises(CrossRunRatioError):
        stats.check_same_run(first.figures["p99_100k"], second.figures["p99_1m"])


def test_same_run_ratio_per_round_and_record_metadata() -> None:
    run = Run(commit="abc")
    rounds = [Round(v, _share(0.9)) for v in (10.0, 20.0, 30.0, 40.0, 50.0)]
    big = run.record("big", [Round(v * 3, _share(0.9)) for v in (10, 20, 30, 40, 50)], unit="ms")
    run.record("small", rounds, unit="ms", warm_up=50)
    assert big["commit"] == "abc"
    assert big["run_id"] == run.run_id
    assert big["time"]
    assert run.figures["small"]["warm_up"] == 50
    assert run.figures["small"]["machine_share"] == 0.9
    found = run.ratio("big_over_small", "big", "small")
    assert found["median"] == pytest.approx(3.0)
    assert found["low"] == pytest.approx(3.0)
    assert found["of"] == ["big", "small"]
    assert found["run_id"] == run.run_id


def test_plan_cores() -> None:
    assert not stats.plan_cores([0, 1])["applied"]
    four = stats.plan_cores([0, 1, 2, 3])
    assert four["applied"]
    assert four["load_generator"] == [3]
    assert four["services"] == [0, 1, 2]


def _results(run: Run) -> dict[str, object]:
    return {
        "mode": "full",
        "date": "2026-12-02T00:00:00+00:00",
        "docs": 100_000,
        "machine": {"cores": 2, "cpu": "x", "memory_gb": 24.0, "load_average": [1, 1, 1]},
        "run": {"run_id": run.run_id, "commit": run.commit, "rounds": 5, "pinning": {}},
        "figures": run.figures,
    }


def test_summary_table_leads_with_interval_target_and_peer() -> None:
    run = Run(commit="abc")
    run.record("search_p99_ms", [Round(v, _share(0.9)) for v in (70, 75, 78, 90, 72)], unit="ms")
    run.record("baseline_match_all_p99_ms", [6.0, 7.0, 8.0], unit="ms")
    lines = report.summary_table(_results(run) | {"baseline_match_all_p99_ms": 7.0})
    row = next(line for line in lines if line.startswith("| `search_p99_ms`"))
    assert "| 75.0 |" in row
    assert "70.0–90.0 (93.8%, n=5)" in row
    assert "<= 80.0 met" in row
    assert "p99 7.0 ms" in row
    assert "abc" in row


def test_merge_drops_a_ratio_whose_parts_come_from_two_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench import __main__ as bench_main

    first = Run(commit="a")
    first.record("search_p99_ms", [Round(v, _share(0.9)) for v in (90, 95, 100)], unit="ms")
    first.record("search_p99_ms_at_1m", [Round(v, _share(0.9)) for v in (300, 310, 320)], unit="ms")
    first.ratio("search_p99_1m_over_100k", "search_p99_ms_at_1m", "search_p99_ms")
    recorded = _results(first) | {
        "versions": {"newsroom_commit": "a"},
        "search_p99_ms": 95.0,
        "search_p99_ms_at_1m": 310.0,
        "search_p99_1m_over_100k": first.figures["search_p99_1m_over_100k"]["median"],
    }
    (tmp_path / "recorded-full.json").write_text(json.dumps(recorded))
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    second = Run(commit="b")
    second.record(
        "search_p99_ms_at_1m", [Round(v, _share(0.9)) for v in (200, 210, 220)], unit="ms"
    )
    partial = _results(second) | {
        "versions": {"newsroom_commit": "b"},
        "search_p99_ms_at_1m": 210.0,
    }
    merged = bench_main.merge_into_recorded(partial, {"million"})
    assert "search_p99_1m_over_100k" not in merged
    assert "search_p99_1m_over_100k" not in merged["figures"]
    assert merged["refused_ratios"][0]["ratio"] == "search_p99_1m_over_100k"
    assert merged["search_p99_ms_at_1m"] == 210.0
    assert merged["targets"]["search_p99_1m_over_100k"]["measured"] is None


def test_peak_rss_keeps_the_peak_of_a_process_that_exited() -> None:
    import subprocess
    import sys

    code = "import time; block = bytearray(80 * 2**20); time.sleep(1.0)  # peak-rss-probe"
    with stats.PeakRss("peak-rss-probe", interval_s=0.1) as peak:
        subprocess.run([sys.executable, "-c", code], check=True)
    assert peak.peak() >= 80
    assert peak.peak_mb


def test_ratio_pairs_only_the_rounds_both_parts_kept() -> None:
    run = Run(commit="abc")
    shares_top = (0.9, 0.1, 0.9, 0.9, 0.9)  # round 1 of the numerator disturbed
    shares_bottom = (0.9, 0.9, 0.1, 0.9, 0.9)  # round 2 of the denominator disturbed
    run.record(
        "top",
        [Round(v, _share(s)) for v, s in zip((2, 99, 6, 8, 10), shares_top, strict=True)],
        unit="x",
    )
    run.record(
        "bottom",
        [Round(v, _share(s)) for v, s in zip((1, 2, 99, 4, 5), shares_bottom, strict=True)],
        unit="x",
    )
    found = run.ratio("top_over_bottom", "top", "bottom")
    assert found["n"] == 3
    assert found["median"] == pytest.approx(2.0)


def test_share_meter_counts_a_child_that_ran_and_exited_within_the_round() -> None:
    import subprocess
    import sys

    meter = ShareMeter().start()
    burn = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)
    found = meter.stop()
    assert found["cpu_s"] >= 0.3
    assert found["machine_busy_s"] >= found["cpu_s"] * 0.9
