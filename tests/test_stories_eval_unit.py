"""The B-cubed scorer of issue 17's story assignment, on hand-computed cases, and the shape of
the labelled set (quality/data/stories.json; the labels only, no package is read)."""

from __future__ import annotations

import json
from collections import Counter
from fractions import Fraction

import pytest

from quality.stories import DATA, bcubed, split_of

GOLD = {"a": "e1", "b": "e1", "c": "e2"}


def _close(got: tuple[float, float, float], want: tuple[Fraction, Fraction, Fraction]) -> None:
    assert got == pytest.approx(tuple(float(x) for x in want))


def test_perfect_assignment_scores_one() -> None:
    _close(bcubed({"a": "x", "b": "x", "c": "y"}, GOLD), (Fraction(1), Fraction(1), Fraction(1)))


def test_all_singletons() -> None:
    # precision 1 each; recall a 1/2, b 1/2, c 1 -> 2/3; F1 = 2 * 2/3 / (5/3) = 4/5
    _close(bcubed({d: d for d in GOLD}, GOLD), (Fraction(1), Fraction(2, 3), Fraction(4, 5)))


def test_all_in_one() -> None:
    # precision a 2/3, b 2/3, c 1/3 -> 5/9; recall 1; F1 = 2 * 5/9 / (14/9) = 5/7
    _close(bcubed(dict.fromkeys(GOLD, "all"), GOLD), (Fraction(5, 9), Fraction(1), Fraction(5, 7)))


def test_mixed_case() -> None:
    gold = {"1": "A", "2": "A", "3": "A", "4": "B", "5": "B"}
    assigned = {"1": "x", "2": "x", "3": "y", "4": "y", "5": "y"}
    # precision: 1, 1, 1/3, 2/3, 2/3 -> 11/15; recall: 2/3, 2/3, 1/3, 1, 1 -> 11/15
    _close(bcubed(assigned, gold), (Fraction(11, 15), Fraction(11, 15), Fraction(11, 15)))


def test_cluster_names_do_not_matter() -> None:
    assigned = {"a": "x", "b": "y", "c": "y"}
    renamed = {"a": "q", "b": "r", "c": "r"}
    assert bcubed(assigned, GOLD) == bcubed(renamed, GOLD)


def test_missing_document_is_its_own_cluster_and_extra_ones_are_ignored() -> None:
    assigned = {"a": "x", "b": "x", "z": "x"}  # c missing, z not in gold
    _close(bcubed(assigned, GOLD), (Fraction(1), Fraction(1), Fraction(1)))
    # Two missing documents never share a cluster, even of the same event.
    _close(bcubed({"c": "y"}, GOLD), (Fraction(1), Fraction(2, 3), Fraction(4, 5)))


def test_empty_gold_is_refused() -> None:
    with pytest.raises(ValueError, match="no gold"):
        bcubed({}, {})


def test_split_rule_is_the_documented_one() -> None:
    # sha1("story:taft") starts with "b" (dev); sha1("story:cricket") with "0" (test).
    assert split_of("taft") == "dev"
    assert split_of("cricket") == "test"


def test_labelled_set_shape() -> None:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    events = data["events"]
    keys = [event["key"] for event in events]
    assert len(keys) == len(set(keys))
    docs = Counter(doc["doc_id"] for event in events for doc in event["documents"])
    assert max(docs.values()) == 1  # an article is in one event
    assert len(docs) >= 300
    assert sum(not event["distractor"] for event in events) >= 30
    for event in events:
        assert event["split"] == split_of(event["group"])
        assert event["documents"]
        assert all(doc["doc_id"].split(":")[0] in ("weka", "lee") for doc in event["documents"])
    by_key = {event["key"]: event for event in events}
    assert len(data["hard_negatives"]) >= 5
    for pair in data["hard_negatives"]:
        a, b = (by_key[key] for key in pair["events"])
        assert a["group"] == b["group"]
        assert a["split"] == b["split"] == pair["split"]
    for split in ("dev", "test"):
        assert sum(e["split"] == split and not e["distractor"] for e in events) >= 30
