"""The held-out judge's pure parts: the split rule, re-using verdicts, the figures. No data
read (the held-out stories stay unread here: the lines below are made up)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from quality import heldout


def _sha1(key: str) -> str:
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()


def test_choose_takes_smallest_sha1_keys_skips_empty_and_repeated_lines() -> None:
    lines = {
        "a.cor": ["one story", "", "two  stories", "three"],
        "b.cor": ["Two stories", "four", "five"],
    }
    chosen = heldout.choose(lines, count=4)
    keys = [s.key for s in chosen]
    candidates = ["a.cor:1", "a.cor:3", "a.cor:4", "b.cor:1", "b.cor:2", "b.cor:3"]
    ranked = sorted(candidates, key=lambda k: _sha1("lee:" + k))
    # "two  stories" and "Two stories" are one text: whichever ranks first is kept.
    repeated = {"a.cor:3", "b.cor:1"}
    first_of_pair = min(repeated, key=lambda k: ranked.index(k))
    expected = [k for k in ranked if k not in repeated or k == first_of_pair][:4]
    assert keys == expected
    assert "a.cor:2" not in keys  # the empty line is never a story
    assert all(s.text == s.text.strip() and s.text for s in chosen)


def _output(people: list[str], places: list[dict[str, Any]], keywords: list[str]) -> dict[str, Any]:
    return {
        "people": people,
        "organisations": ["Acme"],
        "places": places,
        "keywords": keywords,
        "summary": "x",
        "article_words": 10,
        "summary_words": 6,
    }


def _place(name: str, geonameid: int) -> dict[str, Any]:
    return {"name": name, "geonameid": geonameid, "mentioned_as": [name]}


def test_pending_reuses_identical_items_only(tmp_path: Path) -> None:
    before = {
        "entities": [
            {"article": "f:1", "type": "person", "name": "Ann Lee", "geonameid": None,
             "verdict": "right", "kind": None, "reason": "ok"},
            {"article": "f:1", "type": "place", "name": "Perth", "geonameid": 1,
             "verdict": "right", "kind": None, "reason": "ok"},
            {"article": "f:1", "type": "organisation", "name": "Acme", "geonameid": None,
             "verdict": "wrong", "kind": "cut", "reason": "cut"},
        ],
        "keyphrases": [
            {"article": "f:1", "phrase": "rates said", "verdict": "not", "kind": "verb",
             "reason": "verb"},
        ],
    }  # fmt: skip
    path = tmp_path / "before.json"
    path.write_text(json.dumps(before))
    after = {
        "articles": {
            # Perth now resolves to another GeoNames entry: judged afresh.
            "f:1": _output(["Ann Lee", "Lee"], [_place("Perth", 2)], ["rates said", "rates"]),
        }
    }
    result = heldout.pending(after, [path, tmp_path / "missing.json"])
    verdicts = {(r["type"], r["name"]): r["verdict"] for r in result["entities"]}
    assert verdicts == {
        ("person", "Ann Lee"): "right",
        ("person", "Lee"): None,
        ("organisation", "Acme"): "wrong",
        ("place", "Perth"): None,
    }
    assert [(r["phrase"], r["verdict"]) for r in result["keyphrases"]] == [
        ("rates said", "not"),
        ("rates", None),
    ]
    assert result["reused"] == 3


def test_figures_count_precision_by_type_useful_share_and_summary_ratio() -> None:
    outputs = {
        "articles": {
            "f:1": _output(["Ann Lee", "Perth"], [_place("Perth", 1)], ["rates", "said rates"]),
            "f:2": {**_output([], [], []), "summary_words": 4},
        }
    }
    judgements = {
        "entities": [
            {"article": "f:1", "type": "person", "name": "Ann Lee", "verdict": "right"},
            {"article": "f:1", "type": "person", "name": "Perth", "verdict": "wrong",
             "kind": "wrong-type"},
            {"article": "f:1", "type": "place", "name": "Perth", "geonameid": 1,
             "verdict": "right"},
            # A judgement for an item no longer listed is ignored.
            {"article": "f:2", "type": "person", "name": "Gone", "verdict": "wrong"},
        ],
        "keyphrases": [
            {"article": "f:1", "phrase": "rates", "verdict": "useful"},
            {"article": "f:1", "phrase": "said rates", "verdict": "not", "kind": "verb"},
        ],
    }  # fmt: skip
    result = heldout.figures(outputs, judgements)
    person = result["entities"]["person"]
    assert (person["right"], person["wrong"], person["precision"]) == (1, 1, 0.5)
    assert person["errors"] == {"wrong-type": 1}
    assert result["entities"]["place"]["precision"] == 1.0
    assert result["entities"]["organisation"]["unjudged"] == 2  # "Acme" in both, never judged
    assert result["keyphrases"]["useful_share"] == 0.5
    assert result["keyphrases"]["with_reporting_verb"] == 1
    assert result["summaries"]["median_ratio"] == 0.5
    assert result["summaries"]["over_half_count"] == 1
