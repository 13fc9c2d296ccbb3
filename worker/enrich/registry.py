"""The enrichment steps in the order they run, and what the worker derives from them: the full
article mapping, the model versions recorded with every article and the warm-up.

Adding a step is one new file and one line here: write ``worker/enrich/steps/<name>.py`` with
the step's function and its ``STEP`` declaration (worker/enrich/step.py: the mapping properties
it writes, its models, its warm-up), then list ``<name>.STEP`` in ``STEPS`` where it must run.
``tests/test_steps_mapping.py`` checks its output against the mapping it declared. The typed
document the web reads (shared/document.py) names a new field once something reads it; the same
test holds every name there to the mapping. Bump ``ENRICHMENT_VERSION`` when any step's output
changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from shared.index import article_mappings as core_article_mappings
from worker import stories
from worker.enrich import duplicates
from worker.enrich.step import Step
from worker.enrich.steps import (
    add_suggestions,
    count_body_words,
    date_from_dateline,
    derive_missing_title,
    embed_articles,
    extract_html,
    find_dateline,
    find_dates,
    find_entities,
    find_keywords,
    find_quotes,
    identify_language,
    parse_english,
    reflow_body,
    score_sentiment,
    strip_date_line,
    summarise_article,
    take_headline,
)

# Bump when any step's output changes, so re-enrichment can target documents made by older code.
# 3: autocomplete inputs (suggest).
# 4: bounded work per article: enrichment.truncated; bodies over 100,000 characters or 25,000
# tokens parsed up to a line break (quotes too), pages over 20,000 elements cut, the same page
# extracted the same every time (docs/RELIABILITY.md, "Bounded enrichment").
# 5: text that holds on unseen copy (issue 13): hard-wrapped bodies reflowed (body_reflowed), the
# first line kept unless clearly a headline, datelines across agencies and decades, relative
# dates against the article's own date, entity types checked, names merged across articles,
# places by English name, keyphrases as noun phrases, summaries a real reduction.
ENRICHMENT_VERSION = "5"

STEPS: tuple[Step, ...] = (
    extract_html.STEP,
    strip_date_line.STEP,
    reflow_body.STEP,
    take_headline.STEP,
    find_dateline.STEP,
    identify_language.STEP,
    date_from_dateline.STEP,
    derive_missing_title.STEP,
    count_body_words.STEP,
    parse_english.STEP,
    find_entities.STEP,
    find_quotes.STEP,
    find_keywords.STEP,
    summarise_article.STEP,
    score_sentiment.STEP,
    find_dates.STEP,
    add_suggestions.STEP,
    embed_articles.STEP,
)

# Who declares which top-level properties beside the core (shared.index.CORE_PROPERTIES): each
# step, and worker/pipeline.py's near-duplicate and story stages, which need state every worker
# shares.
NEAR_DUPLICATES = "near_duplicates (worker/pipeline.py)"
STORIES = "stories (worker/pipeline.py, worker/stories.py)"


def fragments(steps: tuple[Step, ...] = STEPS) -> dict[str, Mapping[str, Any]]:
    """Declarer -> the top-level mapping properties it declares."""
    declared: dict[str, Mapping[str, Any]] = {step.name: step.properties for step in steps}
    declared[NEAR_DUPLICATES] = duplicates.PROPERTIES
    declared[STORIES] = stories.PROPERTIES
    return declared


def model_kinds(steps: tuple[Step, ...] = STEPS) -> list[str]:
    """Every ``enrichment.models.<kind>`` the worker records."""
    return [kind for step in steps for kind in step.models] + [duplicates.MODEL_KIND]


def article_mappings() -> dict[str, Any]:
    """The full mapping of the documents this worker writes: core fields and steps' fragments.
    A property declared by two steps is an error."""
    properties: dict[str, Any] = {}
    for declarer, fragment in fragments().items():
        for name, field in fragment.items():
            if name in properties:
                raise ValueError(f"mapping property {name} declared twice (again by {declarer})")
            properties[name] = field
    return core_article_mappings(properties, model_kinds(), enrichment_version=ENRICHMENT_VERSION)


@lru_cache(maxsize=1)
def model_versions() -> dict[str, str]:
    """What produced the enrichment, for provenance and targeted re-enrichment: model kind ->
    "<package> <version>" (near-duplicates' method is added by worker/pipeline.py)."""
    return {kind: name() for step in STEPS for kind, name in step.models.items()}


def warm_up() -> None:
    """Load every step's models and data now (language models, gazetteer, parser, lexicon,
    embedding model), not on the first article."""
    for step in STEPS:
        if step.warm_up is not None:
            step.warm_up()


def named(*names: str) -> tuple[Step, ...]:
    """The registered steps of these names, in the order given (tests run a few steps alone)."""
    by_name = {step.name: step for step in STEPS}
    return tuple(by_name[name] for name in names)
