"""Unit tests of the autocomplete inputs and of reading suggestions back (no services needed)."""

from __future__ import annotations

from typing import Any

from shared.document import Suggestion
from shared.index import SUGGEST_MAX_INPUT_CHARS
from shared.suggest import DISPLAY_SEPARATOR, KINDS, clean_text, display_text
from web.suggest import shape_suggestions, suggest_body
from worker.enrich.registry import article_mappings
from worker.enrich.suggest import (
    MAX_NAME_CHARS,
    SHOWN_TITLE_CHARS,
    TITLE_SUFFIX_WEIGHT,
    TITLE_WEIGHT,
    name_inputs,
    shown_title,
    suggestion_inputs,
    title_inputs,
)

DOC: dict[str, Any] = {
    "title": "Harbour board meets in Paris on the EU ferry plan",
    "people": ["Ottoline Quarrington", "Joe Biden"],
    "organisations": ["Brindlemoor Transit Authority"],
    "places": [{"name": "Paris", "mentions": 2}, {"name": "Lyon"}],
    "entity_mentions": {
        "people": [
            {"name": "Ottoline Quarrington", "mentions": 3},
            {"name": "Joe Biden", "mentions": 1},
        ],
        "organisations": [{"name": "Brindlemoor Transit Authority", "mentions": 25}],
    },
}


def _by_kind(entries: list[Suggestion]) -> dict[str, list[Suggestion]]:
    found: dict[str, list[Suggestion]] = {}
    for entry in entries:
        (kind,) = entry["contexts"]["kind"]
        found.setdefault(kind, []).append(entry)
    return found


def test_titles_are_entered_whole_and_from_each_later_word() -> None:
    entries = _by_kind(suggestion_inputs(DOC))
    whole, later = entries["title"]
    assert whole == {
        "input": ["Harbour board meets in Paris on the EU ferry plan"],
        "weight": TITLE_WEIGHT,
        "contexts": {"kind": ["title"]},
    }
    assert later["weight"] == TITLE_SUFFIX_WEIGHT < TITLE_WEIGHT
    # Short words are not where anyone starts typing; acronyms are. Each later start
    # carries the title to show.
    assert [text.split(DISPLAY_SEPARATOR)[0] for text in later["input"]] == [
        "board meets in Paris on the EU",
        "meets in Paris on the EU ferry plan",
        "Paris on the EU ferry plan",
        "the EU ferry plan",
        "EU ferry plan",
        "ferry plan",
        "plan",
    ]
    assert {display_text(text) for text in later["input"]} == {DOC["title"]}


def test_names_carry_the_full_name_after_their_later_words() -> None:
    entries = _by_kind(suggestion_inputs(DOC))
    people = {entry["input"][0]: entry for entry in entries["person"]}
    assert people["Ottoline Quarrington"]["input"] == [
        "Ottoline Quarrington",
        f"Quarrington{DISPLAY_SEPARATOR}Ottoline Quarrington",
    ]
    assert [display_text(text) for text in people["Ottoline Quarrington"]["input"]] == [
        "Ottoline Quarrington",
        "Ottoline Quarrington",
    ]
    places = {entry["input"][0]: entry["weight"] for entry in entries["place"]}
    assert places == {"Paris": 20, "Lyon": 10}


def test_weights_follow_mentions_and_a_passing_mention_ranks_below_a_title() -> None:
    entries = _by_kind(suggestion_inputs(DOC))
    weights = {entry["input"][0]: entry["weight"] for entry in entries["person"]}
    assert weights["Ottoline Quarrington"] > TITLE_WEIGHT > weights["Joe Biden"]
    # Mentions are counted up to a cap: a name repeated 25 times is not 25 times as likely.
    (organisation,) = entries["organisation"]
    assert organisation["weight"] == 100


def test_control_characters_never_reach_the_index() -> None:
    # Elasticsearch rejects the whole document over \x00, \x1e or \x1f in a completion input.
    doc = {
        "title": "Tide\x1ftable\x00 for\x1e the\tweek",
        "people": ["Ana\x1f Lima", "\x1f", "", "   "],
        "organisations": ["A" * (MAX_NAME_CHARS + 1)],
        "places": [{"name": None}, {"name": "—"}],
    }
    entries = suggestion_inputs(doc)
    texts = [text for entry in entries for text in entry["input"]]
    # Only the one separator this code puts there, once.
    for text in texts:
        assert text.count(DISPLAY_SEPARATOR) <= 1, text
        assert not any(ord(ch) < 32 for ch in text.replace(DISPLAY_SEPARATOR, "")), text
    assert texts[0] == "Tide table for the week"
    assert {display_text(text) for text in texts[:5]} == {"Tide table for the week"}
    assert _by_kind(entries)["person"] == [
        {
            "input": ["Ana Lima", f"Lima{DISPLAY_SEPARATOR}Ana Lima"],
            "weight": 10,
            "contexts": {"kind": ["person"]},
        }
    ]
    assert "organisation" not in _by_kind(entries)  # too long to be a name
    assert "place" not in _by_kind(entries)  # nothing to type


def test_no_title_and_no_entities_give_no_inputs() -> None:
    assert suggestion_inputs({"title": None}) == []
    assert suggestion_inputs({"title": '" — "'}) == []


def test_every_input_fits_the_mapping_whole() -> None:
    mapping = article_mappings()["properties"]["suggest"]
    assert mapping["max_input_length"] == SUGGEST_MAX_INPUT_CHARS
    assert mapping["contexts"] == [{"name": "kind", "type": "category"}]
    longest_name = " ".join(["Abcdefghi"] * 5)  # 49 characters
    assert len(longest_name) <= MAX_NAME_CHARS
    assert max(len(text) for text in name_inputs(longest_name)) <= SUGGEST_MAX_INPUT_CHARS
    for long_title in ("Wordy " * 60, "x" * 300, "Harbour " + "y" * 300):
        whole, later = title_inputs(long_title)
        assert len(whole) <= SHOWN_TITLE_CHARS
        assert all(len(text) <= SUGGEST_MAX_INPUT_CHARS for text in later)
        assert whole.endswith("…")
        assert {display_text(text) for text in later} <= {whole}


def test_a_long_title_is_shown_cut_at_a_word() -> None:
    title = "The harbour board met on Monday to discuss the ferry timetable for the coming winter"
    assert len(title) > SHOWN_TITLE_CHARS
    assert shown_title(title) == (
        "The harbour board met on Monday to discuss the ferry timetable for the coming…"
    )
    assert shown_title("Short and whole") == "Short and whole"


def test_the_separator_cannot_come_from_the_text() -> None:
    inputs = name_inputs(f"Alpha{DISPLAY_SEPARATOR}Beta | Gamma")
    assert inputs[0] == "Alpha Beta | Gamma"
    assert {display_text(text) for text in inputs} == {"Alpha Beta | Gamma"}


def test_clean_text() -> None:
    assert clean_text("  a\n\nb\x00c  ") == "a b c"


def test_the_request_asks_each_kind_once_without_hits() -> None:
    body = suggest_body("quar", 5)
    assert body["size"] == 0
    assert body["_source"] is False  # the inputs carry what to show
    assert set(body["suggest"]) == set(KINDS)
    person = body["suggest"]["person"]
    assert person["prefix"] == "quar"
    assert person["completion"]["contexts"] == {"kind": ["person"]}
    assert person["completion"]["skip_duplicates"] is True
    assert person["completion"]["size"] == 5


def _option(text: str, score: float, article_id: str = "a") -> dict[str, Any]:
    return {"text": text, "_id": article_id, "_score": score}


def test_suggestions_merge_by_score_show_full_names_and_titles_and_dedupe() -> None:
    response = {
        "suggest": {
            "title": [
                {
                    "options": [
                        _option(f"harbour{DISPLAY_SEPARATOR}Old harbour", 60, "t1"),
                        _option("Old harbour", 50, "t2"),
                        _option("Harbour news", 40, "t3"),
                    ]
                }
            ],
            "person": [
                {
                    "options": [
                        _option(f"Harbourne{DISPLAY_SEPARATOR}Ann Harbourne", 150),
                        _option("Harbour Lee", 40),
                        # One typo away, and heavily weighted: still after every exact match.
                        _option(f"Harbor{DISPLAY_SEPARATOR}Jo Harbor", 400),
                    ]
                }
            ],
            "organisation": [{"options": [_option("ann harbourne", 120)]}],
            "place": [{"options": []}],
        }
    }
    assert shape_suggestions(response, "harbou", 10) == [
        {"text": "Ann Harbourne", "kind": "person"},
        {"text": "Old harbour", "kind": "title", "article_id": "t1"},
        # A tie goes to the name.
        {"text": "Harbour Lee", "kind": "person"},
        {"text": "Harbour news", "kind": "title", "article_id": "t3"},
        {"text": "Jo Harbor", "kind": "person"},
    ]
    assert len(shape_suggestions(response, "harbou", 2)) == 2
    assert shape_suggestions({}, "harbou", 5) == []
