"""Searches that find something and dates people use (issue 14, items 6 and 7), on the real
stack: the sample article and a few stories posted to ingest, enriched by the worker.

One module-scoped set: stories dated relative to now (hours and days back, so the presets have
something on each side of their bounds), two without a date, and the sample.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("worker")]

WORD = "wallabydate"  # only this module's stories contain it
NOW = datetime.now(UTC).replace(microsecond=0)
# name -> (age, or None for no date; title; body)
STORIES: dict[str, tuple[timedelta | None, str, str]] = {
    "hours": (
        timedelta(hours=2),
        f"Ferry strike at the {WORD} harbour",
        f"The {WORD} harbour ferry strike went on for a second day, union officials said.",
    ),
    "yesterday": (
        timedelta(hours=26),
        f"Council of {WORD} meets on parking",
        f"The {WORD} council met to discuss parking fees in the old town.",
    ),
    "days": (
        timedelta(days=3),
        f"Tram and ferry strike spreads in {WORD}",
        f"Tram drivers joined the strike; {WORD} ferry crews stayed out and the harbour of "
        f"{WORD} was quiet.",
    ),
    "weeks": (
        timedelta(days=20),
        f"Gardens reopen in {WORD}",
        f"The {WORD} botanical gardens reopened after the winter storms.",
    ),
    "months": (
        timedelta(days=200),
        f"Library extension opens in {WORD}",
        f"The {WORD} library opened its new reading rooms to the public.",
    ),
    "years": (
        timedelta(days=800),
        f"Old bridge of {WORD} restored",
        f"Masons finished restoring the old stone bridge of {WORD}.",
    ),
    "undated1": (
        None,
        f"Choir of {WORD} sings for charity",
        f"The {WORD} choir sang for the food bank and raised a record sum.",
    ),
    "undated2": (
        None,
        f"Chess club of {WORD} wins cup",
        f"The {WORD} chess club won the regional cup for the first time.",
    ),
}


def _published(name: str) -> str | None:
    age = STORIES[name][0]
    return None if age is None else (NOW - age).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def ids(
    ingest_app: Flask, wait_indexed_module: Callable[[list[str]], None], sample_text: str
) -> dict[str, str]:
    client = ingest_app.test_client()
    # Posted as the other modules post it, so the index holds one copy of the sample.
    sample = client.post(
        "/articles?source=Trend",
        data=sample_text.encode(),
        content_type="text/plain; charset=utf-8",
    )
    assert sample.status_code == 202, sample.get_json()
    payload = []
    for number, (name, (_, title, body)) in enumerate(STORIES.items()):
        story: dict[str, Any] = {
            "title": title,
            "body": body,
            "source": "Wallaby Wire",
            "url": f"https://findable.example/{number}",
            "language": "en",
        }
        if (published := _published(name)) is not None:
            story["published_at"] = published
        payload.append(story)
    response = client.post("/articles", json=payload)
    assert response.status_code == 202, response.get_json()
    found = dict(zip(STORIES, (a["id"] for a in response.get_json()["articles"]), strict=True))
    found["sample"] = sample.get_json()["articles"][0]["id"]
    wait_indexed_module(list(found.values()))
    return found


def _search(client: FlaskClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/search", query_string={"mode": "keyword", **params})
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def _names(result: dict[str, Any], ids: dict[str, str]) -> set[str]:
    by_id = {value: key for key, value in ids.items()}
    return {by_id.get(hit["id"], hit["id"]) for hit in result["hits"]}


def _page(client: FlaskClient, **params: Any) -> str:
    response = client.get("/", query_string=params)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _link(page: str, text: str) -> str:
    """The href of the link whose text is ``text``."""
    found = re.search(r'<a href="([^"]+)"[^>]*>\s*' + re.escape(text), page)
    assert found, text
    return unescape(found.group(1))


# --- item 6: searches that find something ------------------------------------------------------


def test_the_natural_question_finds_the_sample_first(
    web_client: FlaskClient, ids: dict[str, str]
) -> None:
    question = "media cooperation between countries"
    strict = _search(web_client, q=question, exact="1")
    assert ids["sample"] not in {hit["id"] for hit in strict["hits"]}
    assert strict["relaxed"] is None
    found = _search(web_client, q=question)
    assert found["hits"][0]["id"] == ids["sample"]
    assert found["relaxed"]["from"] == "all words"
    assert found["relaxed"]["to"] == "most words"
    assert found["relaxed"]["words"] == question.split()
    assert found["relaxed"]["all_words_total"] == strict["total"]
    page = _page(web_client, q=question, mode="keyword")
    assert "showing articles with most of them" in page
    assert "all of: <q>media</q>, <q>cooperation</q>, <q>between</q>, <q>countries</q>" in page
    # The way back to every word answers as typed.
    back = web_client.get(_link(page, "Only articles with all the words"))
    assert back.status_code == 200
    assert "showing articles with most of them" not in back.get_data(as_text=True)


def test_a_phrase_is_never_relaxed(web_client: FlaskClient, ids: dict[str, str]) -> None:
    # "hours" holds the phrase and 2 of the 3 plain words; "days" holds every word, but
    # not as the phrase: relaxing must keep the phrase required.
    found = _search(web_client, q=f'"{WORD} harbour" strike ferry tram')
    assert found["relaxed"] is not None
    assert _names(found, ids) == {"hours"}
    for hit in found["hits"]:
        shown = re.sub("<[^>]+>", "", hit["snippet"] + " " + (hit["title_html"] or ""))
        assert f"{WORD} harbour" in shown.lower()
    # An exclusion stays law too.
    excluded = _search(web_client, q=f"{WORD} strike ferry tram -harbour")
    assert excluded["relaxed"] is None or "hours" not in _names(excluded, ids)
    assert not {"hours", "days"} & _names(excluded, ids)


def test_a_misspelling_shows_the_corrected_results(
    web_client: FlaskClient, ids: dict[str, str]
) -> None:
    typed = "Wallabydtae"
    found = _search(web_client, q=typed)
    # The user's case, not the index's lower case.
    assert found["corrected"] == {"from": typed, "to": "Wallabydate"}
    assert found["total"] == len(STORIES)
    assert _names(found, ids) == set(STORIES)
    page = _page(web_client, q=typed, mode="keyword")
    assert "Showing results for <strong>Wallabydate</strong>" in page
    assert "articles for <q>Wallabydate</q>" in page
    back = _link(page, typed)
    assert "exact=1" in back
    as_typed = web_client.get(back)
    assert as_typed.status_code == 200
    text = as_typed.get_data(as_text=True)
    assert "No articles match" in text
    assert "Did you mean" in text
    exact = _search(web_client, q=typed, exact="1")
    assert exact["total"] == 0
    assert exact["corrected"] is None
    assert exact["did_you_mean"] == "Wallabydate"


# --- item 7: dates people use ------------------------------------------------------------------


@pytest.mark.usefixtures("ids")
@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("24h", {"hours"}),
        ("week", {"hours", "yesterday", "days"}),
        ("month", {"hours", "yesterday", "days", "weeks"}),
        ("year", {"hours", "yesterday", "days", "weeks", "months"}),
    ],
)
def test_presets(
    web_client: FlaskClient, ids: dict[str, str], when: str, expected: set[str]
) -> None:
    found = _search(web_client, q=WORD, when=when, size=20)
    assert _names(found, ids) == expected
    assert found["when"] == when
    assert found["timeline"]["without_date"] is None


def test_time_of_day_filters(web_client: FlaskClient, ids: dict[str, str]) -> None:
    hours = datetime.fromisoformat(_published("hours") or "")
    since = (hours - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    assert _names(_search(web_client, q=WORD, **{"from": since}), ids) == {"hours"}
    until = (hours - timedelta(minutes=5)).isoformat()  # with its offset
    before = _search(web_client, q=WORD, to=until, size=20)
    assert "hours" not in _names(before, ids)
    assert "yesterday" in _names(before, ids)
    bad = web_client.get("/api/search", query_string={"q": WORD, "from": "2025-13-01T10:00"})
    assert bad.status_code == 400
    assert bad.get_json()["parameter"] == "from"


def test_undated_are_counted_and_listed(web_client: FlaskClient, ids: dict[str, str]) -> None:
    found = _search(web_client, q=WORD, size=20)
    assert found["total"] == len(STORIES)
    assert found["timeline"]["without_date"] == 2
    assert sum(bucket["count"] for bucket in found["timeline"]["buckets"]) == len(STORIES) - 2
    page = _page(web_client, q=WORD, mode="keyword")
    listed = web_client.get(_link(page, "2 articles without a date"))
    assert listed.status_code == 200
    assert "Listing only the articles without a publication date" in listed.get_data(as_text=True)
    undated = _search(web_client, q=WORD, undated="1")
    assert _names(undated, ids) == {"undated1", "undated2"}
    assert undated["undated"] is True
    # A date filter says it leaves them out; with undated=1 too, nothing is left.
    dated = _page(web_client, q=WORD, when="week")
    assert "A date filter leaves out the articles without a date" in dated
    assert 'aria-current="true">past week' in dated
    assert _search(web_client, q=WORD, undated="1", when="year")["total"] == 0


def test_words_and_meaning_relax_the_words_too(
    web_client: FlaskClient, ids: dict[str, str]
) -> None:
    found = _search(web_client, q="media cooperation between countries", mode="hybrid")
    assert found["mode"] == "hybrid"
    assert found["relaxed"] is not None
    assert found["hits"][0]["id"] == ids["sample"]
