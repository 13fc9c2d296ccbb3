"""The drills' own checks (tests/drill_support.py) fail where they must: a census in which
good articles were dead-lettered instead of indexed, a dead letter with the wrong reason, an
older version indexed, a MONITOR line read wrongly. Pure functions: no services."""

from __future__ import annotations

import base64
import json
from collections import Counter

from shared.tasks import PROCESS_ARTICLES_TASK
from tests.drill_support import (
    Census,
    _placement_problems,
    _unquote,
    newest_version_problems,
)

GOOD = {"a" * 32, "b" * 32}
POISON = "c" * 32
WHY = "the HTML page has no main text"


def _census(indexed: set[str], dead: dict[str, str], received_at: dict[str, str]) -> Census:
    return Census(
        accepted=len(indexed | set(dead)),
        indexed=indexed,
        dead=set(dead),
        lost=set(),
        unexpected=set(),
        duplicated=set(),
        bad_versions=[],
        status_mismatches=[],
        lost_states=Counter(),
        received_at=received_at,
        dead_reasons=dead,
        dead_attempts=dict.fromkeys(dead, 3),
        state_errors={i: f"dead-lettered after 3 attempt(s): {why}" for i, why in dead.items()},
    )


def test_expected_placement_passes() -> None:
    census = _census(GOOD, {POISON: f"enrichment step failed: {WHY}"}, {})
    assert _placement_problems(census, GOOD, {POISON: WHY}) == []


def test_good_articles_dead_lettered_instead_of_indexed_fail() -> None:
    # Nothing is "lost" here (accepted = indexed ∪ dead): the old census passed this.
    census = _census(set(), dict.fromkeys(GOOD, "gave up after 8 retries"), {})
    problems = _placement_problems(census, GOOD, {})
    assert any(p.startswith("indexed: 2 expected missing") for p in problems), problems
    assert any("gave up after 8 retries" in p for p in problems), problems


def test_a_dead_letter_with_another_reason_fails() -> None:
    census = _census(GOOD, {POISON: "429: es_rejected_execution_exception"}, {})
    problems = _placement_problems(census, GOOD, {POISON: WHY})
    assert len(problems) == 1, problems
    assert "without the expected reason" in problems[0], problems


def test_the_newest_accepted_version_must_be_indexed() -> None:
    old, new = "2026-12-01T10:00:00.000001+00:00", "2026-12-01T10:00:00.000002+00:00"
    article = "a" * 32
    versions = {article: {old, new}}
    assert newest_version_problems(_census({article}, {}, {article: new}), versions) == []
    stale = newest_version_problems(_census({article}, {}, {article: old}), versions)
    assert len(stale) == 1, stale
    assert "newest accepted is " + new in stale[0], stale
    unknown = newest_version_problems(_census({article}, {}, {article: new}), {})
    assert len(unknown) == 1, unknown
    assert "no accepted version" in unknown[0], unknown


def test_monitor_arguments_are_unquoted_as_redis_quotes_them() -> None:
    # sdscatrepr: \\ \" \n \r \t \a \b and \xHH for any other unprintable byte.
    assert _unquote(rb"a\"b\\c\n\r\t\a\b\x00\xc3\xa9") == b'a"b\\c\n\r\t\a\b\x00\xc3\xa9'
    body = base64.b64encode(json.dumps([[[{"id": "x", "received_at": "t"}]], {}, {}]).encode())
    envelope = json.dumps({"body": body.decode(), "headers": {"task": PROCESS_ARTICLES_TASK}})
    assert json.loads(_unquote(envelope.replace('"', '\\"').encode()))["body"] == body.decode()
