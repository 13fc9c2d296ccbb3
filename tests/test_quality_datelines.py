"""The dateline evaluation's arithmetic on three hand-made labelled openings (not the data)."""

from __future__ import annotations

import hashlib

import pytest

from quality.datelines import Label, Reading, score, summarise
from quality.sources import sampled, split_of

# A dated opening with a region and an accepted gazetteer name, one with no month-day in its
# dateline, and one with no dateline at all.
KIEV = Label("hand", "1", "caps", True, "Kiev", "UA", 3, 5, ("Kyiv",))
PORTLAND = Label("hand", "2", "caps-region", True, "Portland", "US", None, None)
NONE = Label("hand", "3", "none", False, None, None, None, None)


def test_a_gazetteer_name_the_label_accepts_counts_and_a_region_is_stripped() -> None:
    kyiv = score(KIEV, Reading(True, "KYIV", "UA", 3, 5))
    assert (kyiv.detected, kyiv.place, kyiv.country, kyiv.month_day) == (True, True, True, True)
    portland = score(PORTLAND, Reading(True, "Portland, Ore.", "US"))
    assert (portland.place, portland.month_day, portland.place_and_month_day) == (True,) * 3


def test_wrong_parts_are_scored_apart() -> None:
    wrong_day = score(KIEV, Reading(True, "Kiev", "UA", 3, 6))
    assert (wrong_day.place, wrong_day.month_day, wrong_day.place_and_month_day) == (
        True,
        False,
        False,
    )
    wrong_place = score(KIEV, Reading(True, "Kievskiy", None, 3, 5))
    assert (wrong_place.place, wrong_place.country, wrong_place.month_day) == (False, False, True)
    missed = score(PORTLAND, Reading(False))
    assert (missed.detected, missed.place, missed.country) == (False, False, False)


def test_summary_figures() -> None:
    scores = [
        score(KIEV, Reading(True, "Kyiv", "UA", 3, 5)),  # all right
        score(PORTLAND, Reading(True, "Portland", "US", 1, 2)),  # a month-day that is not there
        score(NONE, Reading(True, "A.I.")),  # a false positive
    ]
    figures = summarise(scores)
    assert figures["openings"] == 3
    assert figures["with_dateline"] == 2
    assert figures["false_positives"] == 1
    assert figures["detected"] == pytest.approx(2 / 3)
    assert figures["place_right"] == 1.0
    assert figures["country_right"] == 1.0
    assert figures["month_day_right"] == 0.5
    assert figures["place_and_month_day_right"] == 0.5
    assert summarise([score(NONE, Reading(False))])["place_right"] is None


def test_the_split_rule_is_the_documented_hash() -> None:
    digest = hashlib.sha1(b"lee:lee.cor:3", usedforsecurity=False).hexdigest()
    assert split_of("lee", "lee.cor:3") == ("test" if digest[0] in "01234567" else "dev")
    assert split_of("tm", "acq/reut-00001.xml") == "dev"  # named in the issue: dev whatever
    assert sampled("newspaper4k", "cnn_001.txt")  # small sources are whole
    keep = hashlib.sha1(b"rcv1-lda:0", usedforsecurity=False).hexdigest()[1]
    assert sampled("rcv1-lda", "0") == (int(keep, 16) < 6)
