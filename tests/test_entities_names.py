"""People's names merged across articles (worker/enrich/names.py): the decision as a pure
function, then whole articles through the real spaCy model and the real Redis (the run's
database, a key prefix of each test's own, removed afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis

from shared.clients import get_redis
from shared.document import EnrichedDocument
from shared.settings import Settings
from worker.enrich.entities import extract_entities
from worker.enrich.names import count_keys, decide, merge_names
from worker.enrich.nlp import parse_texts
from worker.enrich.suggest import suggestion_inputs

# --- the decision -----------------------------------------------------------------------------


def test_a_surname_merges_into_the_one_known_full_name() -> None:
    merge = decide("Arafat", {"Yasser Arafat": 3}, min_articles=2)
    assert merge is not None
    assert merge.full == "Yasser Arafat"
    assert merge.reason == "short form of 'Yasser Arafat', seen in 3 articles"


def test_a_name_seen_too_seldom_is_not_known() -> None:
    assert decide("Arafat", {"Yasser Arafat": 1}, min_articles=2) is None


def test_two_known_people_make_a_surname_ambiguous() -> None:
    assert decide("Smith", {"John Smith": 4, "Jane Smith": 2}, min_articles=2) is None
    # One seen once is not known: it does not stand in the way.
    merge = decide("Smith", {"John Smith": 4, "Jane Smith": 1}, min_articles=2)
    assert merge is not None
    assert merge.full == "John Smith"


def test_the_start_of_a_longer_name_and_hyphen_variants() -> None:
    merge = decide("Abdel Aziz", {"Abdel-Aziz al-Rantissi": 2}, min_articles=2)
    assert merge is not None
    assert merge.full == "Abdel-Aziz al-Rantissi"
    spelling = decide(
        "Abdel Aziz al-Rantissi",
        {"Abdel-Aziz al-Rantissi": 5, "Abdel Aziz al-Rantissi": 2},
        min_articles=2,
    )
    assert spelling is not None
    assert spelling.reason == "spelling of 'Abdel-Aziz al-Rantissi', seen in 5 articles"
    # The spelling seen as often or more stays.
    assert (
        decide(
            "Abdel-Aziz al-Rantissi", {"Abdel-Aziz al-Rantissi": 5, "Abdel Aziz al-Rantissi": 2}, 2
        )
        is None
    )
    # Two longer names begin the same way: no merge.
    assert decide("Kim Jong", {"Kim Jong Un": 3, "Kim Jong Il": 3}, min_articles=2) is None


def test_a_given_name_known_as_such_is_no_surname() -> None:
    known = {"George Michael": 4, "Michael Flynn": 3}
    assert decide("Michael", known, min_articles=2) is None
    assert decide("Flynn", known, min_articles=2) is not None


def test_initials_are_words_across_articles() -> None:
    known = {"George W. Bush": 18}
    assert decide("George H. W. Bush", known, min_articles=2) is None
    merge = decide("George W Bush", known, min_articles=2)
    assert merge is not None
    assert merge.reason == "spelling of 'George W. Bush', seen in 18 articles"


def test_a_word_inside_a_name_is_no_surname() -> None:
    assert decide("Aziz", {"Abdel-Aziz al-Rantissi": 5}, min_articles=2) is None
    assert decide("Rantissi", {"Abdel-Aziz al-Rantissi": 5}, min_articles=2) is not None


def test_a_surname_after_a_particle() -> None:
    merge = decide("Assad", {"Bashar al-Assad": 2}, min_articles=2)
    assert merge is not None
    assert merge.full == "Bashar al-Assad"
    assert decide("al-Assad", {"Bashar al-Assad": 2}, min_articles=2) is not None
    # A hyphenated surname is one word: "Murza" is no surname of "Vladimir Kara-Murza".
    assert decide("Kara-Murza", {"Vladimir Kara-Murza": 2}, min_articles=2) is not None
    assert decide("Murza", {"Vladimir Kara-Murza": 2}, min_articles=2) is None


# --- within one article -----------------------------------------------------------------------


def _people(text: str) -> list[str]:
    found = extract_entities(parse_texts([text])[0], dateline_place=None)
    people: list[str] = found["people"]
    return people


def test_within_an_article_variants_and_starts_of_a_name_merge() -> None:
    assert _people(
        "Hamas leader Abdel-Aziz al-Rantissi was killed. Abdel Aziz had vowed revenge. "
        "Rantissi was 56."
    ) == ["Abdel-Aziz al-Rantissi"]


def test_within_an_article_a_son_or_a_cut_is_another_name() -> None:
    people = _people(
        "He will dine with his friend, Donald Trump. The company is run by Eric and "
        "Donald Trump Jr. and Allen Weisselberg."
    )
    assert "Donald Trump" in people
    assert "Donald Trump Jr" in people


# --- across articles, on the real Redis -------------------------------------------------------


@pytest.fixture
def name_index(services: None, settings: Settings) -> Iterator[tuple[redis.Redis, str]]:
    client = get_redis(settings)
    prefix = f"{settings.index_prefix}-names-{uuid.uuid4().hex[:8]}"
    yield client, prefix
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def _article(article_id: str, text: str) -> EnrichedDocument:
    found = extract_entities(parse_texts([text])[0], dateline_place=None)
    doc: dict[str, Any] = {"id": article_id, "title": None, **found}
    doc["quotes"] = [{"speaker": name, "speaker_mention": name} for name in found["people"]]
    doc["suggest"] = suggestion_inputs(doc)
    return cast(EnrichedDocument, doc)  # the fields name merging reads, quotes in part


def _merge(
    index: tuple[redis.Redis, str], *docs: EnrichedDocument, **options: int
) -> dict[str, Any]:
    client, prefix = index
    return merge_names(docs, redis_client=client, prefix=prefix, ttl_s=600, **options)


ARAFAT = "Palestinian leader Yasser Arafat met the envoy in Ramallah on Monday."
ARAFAT_AGAIN = "Yasser Arafat said on Tuesday he wanted a ceasefire to hold."
ARAFAT_SHORT = "Talks resumed after Mr Arafat called for calm, officials said."


def test_a_short_form_merges_into_a_name_from_earlier_articles(
    name_index: tuple[redis.Redis, str],
) -> None:
    _merge(name_index, _article("a1", ARAFAT))
    _merge(name_index, _article("a2", ARAFAT_AGAIN))
    later = _article("a3", ARAFAT_SHORT)
    assert later["people"] == ["Arafat"]
    merges = _merge(name_index, later)
    assert merges["a3"]["Arafat"].full == "Yasser Arafat"
    assert later["people"] == ["Yasser Arafat"]
    (entry,) = later["entity_mentions"]["people"]
    assert entry["name"] == "Yasser Arafat"
    assert entry["mentioned_as"] == ["Arafat"]
    assert entry["merged"] == "short form of 'Yasser Arafat', seen in 2 articles"
    assert later["quotes"][0]["speaker"] == "Yasser Arafat"
    assert later["quotes"][0]["speaker_mention"] == "Arafat"
    suggested = [entry["input"][0] for entry in later["suggest"]]
    assert "Yasser Arafat" in suggested
    assert "Arafat" not in suggested


def test_articles_of_one_batch_count_for_each_other(name_index: tuple[redis.Redis, str]) -> None:
    docs = [
        _article("b1", "Hamas leader Abdel-Aziz al-Rantissi was killed in Gaza."),
        _article("b2", "Crowds mourned Abdel-Aziz al-Rantissi in Gaza City."),
        _article("b3", "Abdel Aziz had vowed revenge, his aides said."),
    ]
    merges = _merge(name_index, *docs)
    assert merges["b3"]["Abdel Aziz"].full == "Abdel-Aziz al-Rantissi"
    assert docs[2]["people"] == ["Abdel-Aziz al-Rantissi"]
    assert merges["b1"] == {}


def test_two_known_people_of_one_surname_merge_nothing(
    name_index: tuple[redis.Redis, str],
) -> None:
    for article_id, text in [
        ("c1", "Donald Trump spoke in Ohio."),
        ("c2", "Donald Trump spoke in Iowa."),
        ("c3", "Businesswoman Ivanka Trump spoke to reporters in Dallas."),
        ("c4", "Businesswoman Ivanka Trump spoke to reporters in Austin."),
    ]:
        assert _article(article_id, text)["people"], text
        _merge(name_index, _article(article_id, text))
    later = _article("c5", "Mr Trump arrived late, aides said.")
    assert _merge(name_index, later)["c5"] == {}
    assert later["people"] == ["Trump"]


def test_the_index_is_capped_and_expires(name_index: tuple[redis.Redis, str]) -> None:
    client, prefix = name_index
    docs = [
        cast(EnrichedDocument, {"id": f"d{i}", "people": [f"Person{i} Smith"]}) for i in range(5)
    ]
    _merge(name_index, *docs, max_per_key=3)
    (surname_key,) = [key for key in count_keys("Anyone Smith", prefix) if ":last:" in key]
    assert client.hlen(surname_key) == 3
    assert 0 < client.ttl(surname_key) <= 600
    # The name counted last stays; the least seen others go.
    assert "Person4 Smith" in client.hgetall(surname_key)
