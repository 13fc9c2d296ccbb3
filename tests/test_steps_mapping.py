"""Every enrichment step's output against the strict article mapping, without Celery or
Elasticsearch: a field a step writes but does not declare (or declares with another type) is
found here, not in production as dead letters.

Each registered step runs, as the runner runs it, on varied real inputs (the given sample,
corpus articles, an HTML page, hard-wrapped wire copy, German text, a near-empty text); every
field it returns must be declared by that step or by the core, with a value of a type the
mapping takes, and every property it declares must be written on some input. The mapping's
top-level properties are each declared once (by the core or one declarer), and the typed
document (shared/document.py) has exactly those keys.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from quality.corpus import news_articles
from shared.article import ArticlePayload
from shared.document import EnrichedDocument
from shared.index import CORE_PROPERTIES
from shared.schema import ArticleIn, to_payload
from tests.conftest import SAMPLE
from worker.enrich import STEPS, Document, Step, enrich_batch
from worker.enrich.duplicates import DuplicateInfo
from worker.enrich.names import Merge, apply_merges
from worker.enrich.registry import article_mappings, fragments, model_kinds

RECEIVED = datetime(2025, 10, 2, 9, 0, tzinfo=UTC)
PAGE = """<html><head><title>Harbour reopens | Example Wire</title>
<meta property="og:site_name" content="Example Wire"><meta name="author" content="Jane Doe">
<meta property="article:published_time" content="2025-09-29T08:00:00Z"></head><body>
<nav>Home | World</nav><article><h1>Harbour reopens</h1>
<p>ROTTERDAM, Sept 29 (Reuters) - The port of Rotterdam reopened on Monday after a storm,
the harbour master Anna de Vries said. "We are open again and ships are moving," she said.</p>
<p>Ships queued for two days while engineers from Siemens checked the cranes, officials at the
Port of Rotterdam Authority said on Tuesday.</p></article>
<footer>Copyright Example Wire. All rights reserved.</footer></body></html>"""
WIRE = """Storm closes Baltic ports

STOCKHOLM, Feb 26 (Reuters) - Sweden closed three of its Baltic
ports on Thursday as a storm with gusts of 120 km an hour swept
the coast, the Swedish Maritime Administration said.

"We expect to reopen on Saturday at the earliest," spokesman
Lars Lindqvist told reporters in Stockholm. Ferries to Helsinki
and Tallinn were cancelled until further notice.
"""
GERMAN = (
    "BERLIN, 30. September. Die Bundesregierung hat am Dienstag neue Regeln für den "
    "Wohnungsbau beschlossen. Bauministerin Klara Geywitz sagte, die Genehmigungen sollten "
    "schneller werden. Die Opposition kritisierte den Entwurf als zu zaghaft."
)


def _payloads() -> list[ArticlePayload]:
    articles = [ArticleIn(body=SAMPLE.read_text(encoding="utf-8"), source="Trend")]
    corpus = news_articles()
    for article in (corpus[0], corpus[len(corpus) // 2], corpus[-1]):
        articles.append(ArticleIn(title=article.title or None, body=article.text))
    articles += [
        ArticleIn(html=PAGE),
        ArticleIn(body=WIRE),
        ArticleIn(body=GERMAN),
        ArticleIn(body="Ok."),
    ]
    return [
        to_payload(
            article,
            content_type="text/html" if article.html else "text/plain",
            received_at=RECEIVED,
        )
        for article in articles
    ]


def _recording(step: Step, outputs: list[Document]) -> Step:
    """``step`` unchanged, each of its outputs copied into ``outputs`` before the runner merges it."""

    def keep(fields: Document) -> Document:
        outputs.append(dict(fields))
        return fields

    def run_batch(docs: Sequence[Mapping[str, Any]]) -> list[Document]:
        return [keep(fields) for fields in step.run_batch(docs)]

    def run_one(doc: Mapping[str, Any]) -> Document:
        return keep(step.run_one(doc))

    return Step(step.name, run_batch if step.batch else run_one, batch=step.batch)


@cache
def _enriched() -> tuple[dict[str, list[Document]], tuple[EnrichedDocument, ...]]:
    """Each registered step's outputs, and the final documents, over every input."""
    outputs: dict[str, list[Document]] = {step.name: [] for step in STEPS}
    steps = [_recording(step, outputs[step.name]) for step in STEPS]
    result = enrich_batch(_payloads(), steps)
    assert not result.failures
    return outputs, tuple(result.documents)


# --- checking a value against the mapping ----------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _date(value: Any) -> bool:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def _point(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"lat", "lon"}
        and _is_number(value["lat"])
        and _is_number(value["lon"])
        and -90 <= value["lat"] <= 90
        and -180 <= value["lon"] <= 180
    )


def _suggestion(value: Any, field: Mapping[str, Any]) -> bool:
    if isinstance(value, str):
        return True
    contexts = {context["name"] for context in field.get("contexts", [])}
    return (
        isinstance(value, dict)
        and set(value) <= {"input", "weight", "contexts"}
        and isinstance(value["input"], list)
        and all(isinstance(text, str) for text in value["input"])
        and isinstance(value.get("weight", 1), int)
        and set(value.get("contexts", {})) <= contexts
        and all(
            isinstance(items, list) and all(isinstance(item, str) for item in items)
            for items in value.get("contexts", {}).values()
        )
    )


# A leaf value of each field type: what Elasticsearch takes without coercing surprises (a
# keyword takes a whole number too, stored as its text: places' GeoNames ids).
_LEAF_CHECKS = {
    "keyword": lambda value, field: isinstance(value, str) or type(value) is int,
    "text": lambda value, field: isinstance(value, str),
    "integer": lambda value, field: type(value) is int,
    "float": lambda value, field: _is_number(value),
    "boolean": lambda value, field: isinstance(value, bool),
    "date": lambda value, field: _date(value),
    "geo_point": lambda value, field: _point(value),
    "completion": _suggestion,
}


def mapping_problems(value: Any, field: Mapping[str, Any], path: str) -> list[str]:
    """Why ``value`` does not fit the mapping ``field`` (empty when it does)."""
    if value is None:
        return []  # null is a missing value to Elasticsearch
    kind = field.get("type", "object")
    if kind == "dense_vector":
        if (
            isinstance(value, list)
            and len(value) == field["dims"]
            and all(_is_number(item) for item in value)
        ):
            return []
        return [f"{path}: not a vector of {field['dims']} numbers"]
    if isinstance(value, list):  # any field takes an array of its values
        return [p for item in value for p in mapping_problems(item, field, f"{path}[]")]
    if kind in {"object", "nested"}:
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__} for an object"]
        if field.get("enabled") is False:
            return []
        return properties_problems(value, field.get("properties", {}), f"{path}.")
    check = _LEAF_CHECKS.get(kind)
    if check is None:
        return [f"{path}: no check for mapping type {kind}"]
    return [] if check(value, field) else [f"{path}: {value!r} does not fit {kind}"]


def properties_problems(
    doc: Mapping[str, Any], properties: Mapping[str, Any], prefix: str = ""
) -> list[str]:
    problems = []
    for key, value in doc.items():
        if key not in properties:
            problems.append(f"{prefix}{key}: not in the mapping (dynamic: strict)")
        else:
            problems += mapping_problems(value, properties[key], f"{prefix}{key}")
    return problems


# --- the tests -------------------------------------------------------------------------------


def test_the_checker_refuses_what_elasticsearch_would() -> None:
    properties = article_mappings()["properties"]
    assert properties_problems({"body": "text", "word_count": 3}, properties) == []
    assert properties_problems({"headline": "x"}, properties)
    assert properties_problems({"word_count": "3"}, properties)
    assert properties_problems({"dateline": {"place": "Baku", "lat": 40.4}}, properties)
    assert properties_problems({"dateline": {"location": {"lat": 91, "lon": 0}}}, properties)
    assert properties_problems({"embedding": [0.1] * 3}, properties)
    assert properties_problems({"quotes": [{"text": "x", "start": 1.5}]}, properties)
    assert properties_problems(
        {"suggest": [{"input": ["x"], "contexts": {"mood": ["x"]}}]}, properties
    )
    assert properties_problems({"enrichment": {"models": {"tea_leaves": "x"}}}, properties)


@pytest.mark.parametrize("step", STEPS, ids=[step.name for step in STEPS])
def test_each_step_writes_only_what_it_declares_with_mapped_types(step: Step) -> None:
    outputs, _ = _enriched()
    properties = article_mappings()["properties"]
    allowed = set(step.properties) | set(CORE_PROPERTIES)
    written: set[str] = set()
    for fields in outputs[step.name]:
        stored = {key: value for key, value in fields.items() if not key.startswith("_")}
        assert set(stored) <= allowed, f"{step.name} writes undeclared {set(stored) - allowed}"
        assert properties_problems(stored, properties) == []
        written |= set(stored)
    unwritten = set(step.properties) - written
    assert not unwritten, f"{step.name} declares {unwritten} but wrote them on no input"


def test_finished_documents_and_the_pipeline_stages_fit_the_mapping() -> None:
    """The whole document as indexed: the steps' fields, ``enrichment``, what worker/pipeline.py
    adds after the steps (near-duplicates, merged names) and what indexing stamps."""
    _, documents = _enriched()
    properties = article_mappings()["properties"]
    merged_someone = False
    for doc in documents:
        final = copy.deepcopy(doc)
        final["duplicates"] = DuplicateInfo(doc["id"], doc["id"], ["x"], 0.87).as_fields()
        final["enrichment"]["models"]["near_duplicates"] = "MinHash"
        if final.get("people"):
            short = final["people"][0]
            apply_merges(final, {short: Merge(f"Sir {short}", 3, "short form, seen in 3")})
            merged_someone = True
        final |= {"original": {"body": "as posted"}, "revision": 1, "content_hash": "ab12"}
        final["indexed_at"] = RECEIVED.isoformat()
        assert properties_problems(final, properties) == []
    assert merged_someone


def test_every_property_is_declared_once() -> None:
    declared: dict[str, list[str]] = {name: ["core"] for name in CORE_PROPERTIES}
    for declarer, fragment in fragments().items():
        for name in fragment:
            declared.setdefault(name, []).append(declarer)
    twice = {name: by for name, by in declared.items() if len(by) > 1}
    assert not twice
    assert set(declared) == set(article_mappings()["properties"])
    kinds = model_kinds()
    assert len(kinds) == len(set(kinds))  # each model kind recorded by one declarer


def test_the_typed_document_names_only_mapped_fields() -> None:
    """Every field the typed document (what the web reads) names is in the mapping, and so is
    every core field; a step's new field is named there when something reads it, so adding a
    step stays one file and one registry line."""
    keys = EnrichedDocument.__required_keys__ | EnrichedDocument.__optional_keys__
    mapped = set(article_mappings()["properties"])
    assert keys <= mapped, sorted(keys - mapped)
    assert set(CORE_PROPERTIES) <= keys, sorted(set(CORE_PROPERTIES) - keys)
