"""Unit tests of the pure parts of bounded work: the time budget of an article's enrichment and
the classification of errors (worker/enrich/budget.py, worker/errors.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError, ConnectionError, ConnectionTimeout
from redis.exceptions import (
    BusyLoadingError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.tasks import split_heavy
from worker.enrich import Step, enrich_batch
from worker.enrich.budget import BudgetExceeded, time_limit
from worker.errors import KINDS, classify

# --- the time budget -------------------------------------------------------------------------


def test_time_limit_interrupts_a_catastrophic_regex() -> None:
    pattern = re.compile(r"(\s*\n\s*)+x")
    text = " " * 40_000 + "\n" + " " * 40_000
    started = time.perf_counter()
    with pytest.raises(BudgetExceeded), time_limit(0.3):
        pattern.search(text)
    assert time.perf_counter() - started < 2


def test_time_limit_leaves_quick_work_alone_and_disarms() -> None:
    with time_limit(1.0):
        total = sum(range(1000))
    assert total == 499500
    time.sleep(1.2)  # the timer is gone: nothing fires after the block


def _payload(n: int, body: str = "Plain text.") -> dict[str, Any]:
    return {"id": f"{n:032x}", "body": body, "received_at": "2026-12-01T10:00:00+00:00"}


def _spin(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A step that never ends on one article."""
    if "spin" in doc["body"]:
        while True:
            pass
    return {"seen": True}


def _steady(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {"steady": True}


def test_an_article_over_its_budget_is_a_permanent_failure_naming_the_step() -> None:
    payloads = [_payload(1), _payload(2, "spin forever"), _payload(3)]
    started = time.perf_counter()
    result = enrich_batch(
        payloads, steps=(Step("_steady", _steady), Step("_spin", _spin)), budget_s=0.5
    )
    assert time.perf_counter() - started < 5
    assert [doc["id"] for doc in result.documents] == [payloads[0]["id"], payloads[2]["id"]]
    assert result.permanent == {payloads[1]["id"]}
    reason = result.failures[payloads[1]["id"]]
    assert reason.startswith("enrichment step _spin exceeded the article's time budget (0.5 s")


def _spin_batch(docs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [_spin(doc) for doc in docs]


def test_a_batch_step_over_budget_falls_back_to_one_article_at_a_time() -> None:
    payloads = [_payload(1), _payload(2, "spin forever")]
    result = enrich_batch(
        payloads, steps=(Step("_spin_batch", _spin_batch, batch=True),), budget_s=0.5
    )
    assert [doc["id"] for doc in result.documents] == [payloads[0]["id"]]
    assert result.permanent == {payloads[1]["id"]}


def test_other_failures_stay_retryable() -> None:
    def broken(doc: Mapping[str, Any]) -> dict[str, Any]:
        raise ValueError("no")

    result = enrich_batch([_payload(1)], steps=(Step("broken", broken),), budget_s=5)
    assert result.permanent == set()
    assert result.failures == {_payload(1)["id"]: "enrichment step broken failed: ValueError: no"}


# --- classifying errors ----------------------------------------------------------------------


def _api_error(status: int, kind: str) -> ApiError:
    meta = ApiResponseMeta(
        status=status,
        http_version="1.1",
        headers=HttpHeaders(),
        duration=0.0,
        node=NodeConfig("http", "127.0.0.1", 9200),
    )
    body = {"error": {"type": kind, "reason": f"a {kind}"}, "status": status}
    return ApiError(kind, meta, body)


@pytest.mark.parametrize(
    ("error", "kind", "transient"),
    [
        (_api_error(429, "es_rejected_execution_exception"), "es_429", True),
        (_api_error(429, "circuit_breaking_exception"), "es_circuit_breaker", True),
        (_api_error(503, "master_not_discovered_exception"), "es_no_master", True),
        (_api_error(503, "unavailable_shards_exception"), "es_5xx", True),
        (_api_error(500, "internal_server_error"), "es_5xx", True),
        (_api_error(404, "index_not_found_exception"), "es_index_missing", True),
        (_api_error(400, "strict_dynamic_mapping_exception"), "es_rejected", False),
        (_api_error(413, "content_too_long"), "es_rejected", False),
        (ConnectionError("refused"), "es_connection", True),
        (ConnectionTimeout("slow"), "es_timeout", True),
        (OutOfMemoryError("OOM command not allowed"), "redis_oom", True),
        (
            ReadOnlyError("READONLY You can't write against a read only replica."),
            "redis_readonly",
            True,
        ),
        (BusyLoadingError("LOADING"), "redis_loading", True),
        (RedisConnectionError("refused"), "redis_connection", True),
        (ResponseError("MISCONF"), "redis_error", True),
        (KeyError("id"), "unexpected", False),
    ],
)
def test_classify(error: Exception, kind: str, transient: bool) -> None:
    failure = classify(error)
    assert (failure.kind, failure.transient) == (kind, transient)
    assert failure.kind in KINDS
    assert failure.reason.startswith(f"{kind}: {type(error).__name__}: ")


def test_an_elasticsearch_answer_is_quoted_in_the_reason() -> None:
    failure = classify(_api_error(400, "mapper_parsing_exception"))
    assert failure.reason == (
        "es_rejected: ApiError: 400 mapper_parsing_exception: a mapper_parsing_exception"
    )


# --- heavy articles take the bulk queue ---------------------------------------------------------


def test_heavy_articles_are_split_off_by_their_text() -> None:
    payloads: list[dict[str, Any]] = [
        {"id": "a", "body": "x" * 100},
        {"id": "b", "body": "x" * 150, "html": "<p>" + "y" * 60 + "</p>"},
        {"id": "c", "body": None, "html": "z" * 201},
        {"id": "d", "body": "x" * 200},
    ]
    light, heavy = split_heavy(payloads, 200)
    assert [p["id"] for p in light] == ["a", "d"]
    assert [p["id"] for p in heavy] == ["b", "c"]


def test_time_limit_fires_again_when_a_library_swallows_it() -> None:
    """trafilatura and dateparser catch Exception around their slow paths: one alarm would
    be lost there, so the budget keeps firing until the block ends."""
    swallowed = 0

    def library_call() -> None:
        nonlocal swallowed
        while True:
            try:
                while True:
                    pass
            except Exception:  # what such a library does
                swallowed += 1
                if swallowed > 1:
                    raise

    started = time.perf_counter()
    with pytest.raises(BudgetExceeded), time_limit(0.2):
        library_call()
    assert swallowed == 2
    assert time.perf_counter() - started < 2
