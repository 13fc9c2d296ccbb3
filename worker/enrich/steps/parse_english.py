"""spaCy's parse of the body, read by the entity, quote, keyphrase and date steps
(worker.enrich.nlp)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from worker.enrich.nlp import NLP_MODEL, parse_input, parse_inputs
from worker.enrich.nlp import SUPPORTED_LANGUAGES as NLP_LANGUAGES
from worker.enrich.nlp import warm_up as load_parser
from worker.enrich.step import Document, Step, skipped, truncated


def parse_english(docs: Sequence[Mapping[str, Any]]) -> list[Document]:
    """spaCy's parse of every article in a language it has a model for, in one ``nlp.pipe``;
    the entity, quote and date steps read it."""
    chosen = [index for index, doc in enumerate(docs) if doc["language"] in NLP_LANGUAGES]
    results = [skipped(f"no parser for language {doc['language']}") for doc in docs]
    inputs = [parse_input(docs[i]["body"]) for i in chosen]
    for index, bounded, parsed in zip(chosen, inputs, parse_inputs(inputs), strict=True):
        results[index] = {"_parsed": parsed, "_parsed_chars": bounded.chars}
        results[index] |= truncated(*bounded.cuts)
    return results


# Writes working state only (``_parsed``, ``_parsed_chars``): nothing indexed.
STEP = Step(
    "parse_english",
    parse_english,
    batch=True,
    models={"nlp": lambda: NLP_MODEL},
    warm_up=load_parser,
)
