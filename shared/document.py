"""The enriched article document as indexed: what the worker writes and the web reads.

Its keys are the article mapping's top-level properties, no more, no fewer
(tests/test_steps_mapping.py checks it against the worker's full mapping): the core fields
(shared/index/mapping.py) and those the enrichment steps declare (worker/enrich/steps/). Most
are optional: a step that does not apply writes nothing, a search reads part of ``_source``, and
Elasticsearch keeps ``embedding`` out of ``_source``.
"""

from __future__ import annotations

from typing import Any, Required, TypedDict


class GeoPoint(TypedDict):
    lat: float
    lon: float


class Dateline(TypedDict, total=False):
    raw: Required[str]  # as written, e.g. "BAKU, Azerbaijan, September 30."
    place: Required[str]
    region: str
    country: str
    country_code: str
    location: GeoPoint
    date_text: str
    agency: str


class Sentiment(TypedDict):
    score: float  # mean compound score of the sentences, -1 .. +1
    label: str  # "positive", "negative" or "neutral"
    positive: float  # share of positive sentences
    negative: float


class DateMention(TypedDict):
    text: str
    date: str  # ISO date
    resolution: str  # "day", "month", "year", ...


class Place(TypedDict, total=False):
    name: Required[str]
    country: str | None
    country_code: str | None
    kind: str
    location: GeoPoint
    geonameid: int  # the place's identity (facets, /entities/place/<id>)
    mentions: int
    mentioned_as: list[str]


class UnresolvedPlace(TypedDict):
    name: str
    mentions: int


class EntityMention(TypedDict, total=False):
    name: Required[str]
    mentions: Required[int]
    mentioned_as: list[str]  # the forms as written
    merged: str  # why a short form became a name known from other articles


class EntityMentions(TypedDict, total=False):
    people: list[EntityMention]
    organisations: list[EntityMention]


class Quote(TypedDict):
    text: str
    speaker: str | None
    speaker_mention: str | None
    verb: str | None
    attribution: str | None
    start: int  # character offsets in the body
    end: int
    paragraphs: int
    part: int
    parts: int


class Duplicates(TypedDict):
    cluster_id: str
    duplicate_of: str | None
    near_duplicates: list[str]
    similarity: float | None


class Story(TypedDict):
    id: str  # "s<id of the article that started it>" (shared/stories.py)
    similarity: float | None  # cosine with the story it joined; None: it started the story


class SuggestContexts(TypedDict):
    kind: list[str]


class Suggestion(TypedDict):
    input: list[str]  # "<later words>\x1c<text to show>" (shared/suggest.py)
    weight: int
    contexts: SuggestContexts


class Enrichment(TypedDict):
    version: str
    steps: list[str]
    skipped: list[str]  # "<step>: <reason>"
    truncated: list[str]  # "<step>: <what was cut>"
    models: dict[str, str]  # model kind -> "<package> <version>"


class EnrichedDocument(TypedDict, total=False):
    # As posted (or found in a posted HTML page), and what the system stamps.
    id: Required[str]
    url: str | None
    source: str | None
    title: str | None
    body: Required[str]
    authors: list[str]
    language: str | None
    published_at: str | None  # ISO date or date-time
    published_at_source: str | None  # "given", "html", "date_line", "dateline"
    received_at: Required[str]
    content_type: str | None
    metadata: dict[str, Any]  # client fields we do not model, never indexed
    original: dict[str, Any]  # what the client sent, for re-enrichment, never indexed
    enrichment: Enrichment
    indexed_at: str
    revision: int
    content_hash: str
    # Written by the enrichment steps.
    body_reflowed: bool
    dateline: Dateline
    language_detected: bool
    title_derived: bool
    word_count: int
    reading_time_minutes: int
    people: list[str]
    organisations: list[str]
    places: list[Place]
    unresolved_places: list[UnresolvedPlace]
    entity_mentions: EntityMentions
    quotes: list[Quote]
    keywords: list[str]
    summary: str
    sentiment: Sentiment
    dates_mentioned: list[DateMention]
    suggest: list[Suggestion]
    embedding: list[float]
    duplicates: Duplicates
    story: Story  # shared/stories.py; absent on documents indexed before stories
    seen_at: str  # when its news happened: published_at (not in the future), else received_at
