"""Entity types checked against the gazetteer, the article's context and a lexicon (issue 13):
the rules of ``worker.enrich.entities._check_type`` one by one, then whole sentences through the
real spaCy model (no services needed)."""

from __future__ import annotations

from typing import Any

import pytest

from worker.enrich.entities import (
    _check_type,
    _Evidence,
    extract_entities,
    gazetteer_place,
    is_english_word,
)
from worker.enrich.nlp import parse_texts


def _check(
    kind: str,
    name: str,
    *,
    tokens: frozenset[str] = frozenset(),
    lowercase: frozenset[str] = frozenset(),
    **evidence: Any,
) -> tuple[str, str] | None:
    found = _Evidence(**({"mid_sentence": True, "person_labels": 1} | evidence))
    return _check_type(kind, name, name, found, set(tokens), set(lowercase))


# --- the rules --------------------------------------------------------------------------------


def test_a_gazetteer_city_of_several_words_is_a_place() -> None:
    assert _check("person", "Alice Springs") == ("place", "Alice Springs")
    assert _check("organisation", "Alice Springs") == ("place", "Alice Springs")


def test_a_country_is_a_place_even_after_a_title() -> None:
    assert _check("person", "Jordan") == ("place", "Jordan")
    assert _check("person", "Hungary", titled=True) == ("place", "Hungary")  # "Miss Hungary"


def test_a_word_of_a_full_name_in_the_article_is_a_person() -> None:
    # "Michael Jordan scored 30 points. Jordan said ..."
    assert _check("person", "Jordan", tokens=frozenset({"michael", "jordan"})) == (
        "person",
        "Jordan",
    )


def test_a_small_town_needs_place_context() -> None:
    # Marlow (18,000 people): a surname as often as a town.
    assert _check("organisation", "Marlow") == ("organisation", "Marlow")
    assert _check("person", "Marlow") == ("person", "Marlow")
    assert _check("organisation", "Marlow", place_context=True) == ("place", "Marlow")
    assert _check("person", "Marlow", in_place_list=True) == ("place", "Marlow")


def test_a_title_keeps_a_town_named_person_a_person() -> None:
    assert _check("person", "Howard", titled=True, place_context=True) == ("person", "Howard")
    assert _check("person", "Lincoln", titled=True) == ("person", "Lincoln")
    assert _check("person", "Lincoln") == ("place", "Lincoln")  # 290,000 people, no evidence


def test_only_a_big_citys_other_name_takes_a_persons_name() -> None:
    assert gazetteer_place("Bush", person=True) is None  # Būsh, Egypt: not with its accent
    assert gazetteer_place("White House") is None  # Casablanca's translated name
    assert _check("person", "Bush") == ("person", "Bush")
    kiev = gazetteer_place("Kiev", person=True)
    assert kiev is not None
    assert kiev.country_code == "UA"


def test_acronyms_are_no_towns() -> None:
    assert _check("organisation", "UN") == ("organisation", "UN")  # not Un, India
    assert _check("organisation", "EU") == ("organisation", "EU")  # not the word "eu"
    assert _check("organisation", "DRC") == ("place", "DRC")  # a country still


def test_a_place_by_context_is_no_person_even_unknown_to_the_gazetteer() -> None:
    assert _check("person", "Tora Bora", place_context=True) == ("place", "Tora Bora")
    # spaCy calls it a place at least twice as often as a person.
    assert _check("person", "Tora Bora", place_labels=2, person_labels=1) == (
        "place",
        "Tora Bora",
    )
    assert _check("person", "Beyonce", place_labels=3, person_labels=2) == ("person", "Beyonce")


def test_a_capitalised_common_word_is_no_name() -> None:
    # Only ever at the start of a sentence: the capital says nothing.
    assert _check("person", "Diamond", mid_sentence=False) is None
    # Also written in lower case in the article.
    assert _check("organisation", "Police", lowercase=frozenset({"police"})) is None
    assert _check("organisation", "Government", lowercase=frozenset({"government"})) is None
    # An organisation at a sentence start alone stays: "Apple said ..."
    assert _check("organisation", "Apple", mid_sentence=False) == ("organisation", "Apple")
    # Evidence of a person wins: "Mr Diamond".
    assert _check("person", "Diamond", mid_sentence=False, titled=True) == ("person", "Diamond")
    # Not common words: names, names with an apostrophe.
    assert _check("person", "Saidzhanov", mid_sentence=False) == ("person", "Saidzhanov")
    assert _check("person", "O'Neill", mid_sentence=False) == ("person", "O'Neill")


@pytest.mark.parametrize(
    ("word", "english"),
    [
        ("Diamond", True),
        ("Police", True),
        ("Mosques", True),
        ("Verdicts", True),
        ("Casualties", True),
        ("He", True),
        ("Saidzhanov", False),
        ("Marlow", False),
    ],
)
def test_english_words_come_from_the_models_lexicon(word: str, english: bool) -> None:
    assert is_english_word(word) is english


# --- whole sentences through the model --------------------------------------------------------


def _entities(text: str) -> dict[str, Any]:
    return extract_entities(parse_texts([text])[0], dateline_place=None)


def _place_names(found: dict[str, Any]) -> set[str]:
    return {place["name"] for place in found["places"]} | {
        place["name"] for place in found["unresolved_places"]
    }


def test_sentences_alice_springs_and_tora_bora() -> None:
    found = _entities(
        "Police said the fire in Alice Springs had been put out. Alice Springs residents "
        "were told to stay indoors. US forces bombed caves at Tora Bora overnight. Fighters "
        "at Tora Bora were said to be trapped."
    )
    assert found["people"] == []
    assert {"Alice Springs", "Tora Bora"} <= _place_names(found)


def test_sentences_jordan_the_country_and_the_player() -> None:
    player = _entities("Michael Jordan scored 30 points. Jordan said he was tired.")
    assert player["people"] == ["Michael Jordan"]
    assert "Jordan" not in _place_names(player)
    country = _entities(
        "King Abdullah of Jordan met the prime minister. Jordan has long been an ally."
    )
    assert "Jordan" not in country["people"]
    assert "Jordan" in _place_names(country)


def test_sentences_mr_howard_stays_a_person() -> None:
    found = _entities("Mr Howard said the poll would be in November. Howard told reporters.")
    assert found["people"] == ["Howard"]


def test_sentences_marlow_after_in_is_a_place() -> None:
    found = _entities(
        "Police in Marlow said the river had burst its banks. Marlow Police closed the bridge."
    )
    assert "Marlow" not in found["organisations"]
    assert "Marlow" in _place_names(found)
