"""Autocomplete on the real index: /api/suggest over titles and names (issue 4, item 7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.clients import get_elasticsearch
from shared.settings import Settings
from shared.suggest import DISPLAY_SEPARATOR
from web.suggest import MAX_PREFIX_CHARS

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("worker")]

PERSON = "Ottoline Quarrington"
OTHER_PERSON = "Elspeth Quarrie"
ORGANISATION = "Brindlemoor Transit Authority"
FERRY_TITLE = "Zephyrine ferry terminal opens in the old harbour"
GARDEN_TITLE = "Ottoline gardens reopen after the storm"
# Names and titles made up for these tests, so nothing else in the index completes them.
ARTICLES = {
    "ferry": {
        "title": FERRY_TITLE,
        "body": (
            f"Mayor {PERSON} opened the new ferry terminal on Monday. "
            f'"The terminal will change the harbour," Quarrington said. Officials from the '
            f"{ORGANISATION} attended, and Quarrington thanked the workers."
        ),
    },
    # The same headline from another outlet: offered once.
    "ferry_again": {
        "title": FERRY_TITLE,
        "body": f"{PERSON} opened the terminal, the {ORGANISATION} said in a statement.",
    },
    # Starts like the person's name: the name is mentioned three times, so it ranks first.
    "gardens": {
        "title": GARDEN_TITLE,
        "body": (
            f"{PERSON} walked through the gardens on Sunday. Quarrington praised the "
            "volunteers, and Quarrington promised new trees before the winter."
        ),
    },
    # Another "Quarr..." named once: seen past the three articles naming Ottoline Quarrington.
    "pilot": {
        "title": "Calm crossing for the morning ferry",
        "body": f"{OTHER_PERSON}, a ferry pilot, said the crossing was calm on Tuesday.",
    },
    # Elasticsearch refuses these characters in a completion input: they must not cost the
    # article its place in the index.
    "control": {
        "title": "Yarrowmere\x1ftide\x1etables for the week",
        "body": "The tide tables for the coming week were published on Friday.",
    },
}


@pytest.fixture(scope="module")
def ids(ingest_app: Any, wait_indexed_module: Callable[[list[str]], None]) -> dict[str, str]:
    client = ingest_app.test_client()
    payload = [
        {
            **article,
            "url": f"https://suggest.example/{key}",
            "source": "Suggest Gazette",
            "language": "en",
            "published_at": "2025-09-30T09:00:00Z",
        }
        for key, article in ARTICLES.items()
    ]
    response = client.post("/articles", json=payload)
    assert response.status_code == 202, response.get_json()
    found = dict(zip(ARTICLES, (a["id"] for a in response.get_json()["articles"]), strict=True))
    wait_indexed_module(list(found.values()))
    return found


def _suggest(client: FlaskClient, q: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/suggest", query_string={"q": q, **params})
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    assert body["query"] == q
    suggestions: list[dict[str, Any]] = body["suggestions"]
    # What the inputs carry to find the text to show never shows.
    assert not any(DISPLAY_SEPARATOR in item["text"] for item in suggestions), suggestions
    return suggestions


def _texts(suggestions: list[dict[str, Any]], kind: str) -> list[str]:
    return [item["text"] for item in suggestions if item["kind"] == kind]


def test_a_title_completes_from_its_start_and_opens_its_article(
    web_client: FlaskClient, ids: dict[str, str]
) -> None:
    suggestions = _suggest(web_client, "zephyr")
    titles = [item for item in suggestions if item["kind"] == "title"]
    # Two articles share the headline: one suggestion, naming one of them.
    assert [item["text"] for item in titles] == [FERRY_TITLE]
    assert titles[0]["article_id"] in {ids["ferry"], ids["ferry_again"]}


def test_a_later_word_of_a_title_completes_it_too(
    web_client: FlaskClient, ids: dict[str, str]
) -> None:
    assert FERRY_TITLE in _texts(_suggest(web_client, "terminal op"), "title")
    assert GARDEN_TITLE in _texts(_suggest(web_client, "gardens re"), "title")


def test_a_person_completes_from_the_first_name_or_the_surname(
    web_client: FlaskClient, ids: dict[str, str]
) -> None:
    for prefix in ("ottol", "Quarring", "QUARRINGTON"):
        suggestions = _suggest(web_client, prefix)
        # Named in three articles, offered once, and shown whole even for the surname.
        assert _texts(suggestions, "person") == [PERSON], (prefix, suggestions)
        assert all("article_id" not in item for item in suggestions if item["kind"] != "title")


def test_an_organisation_completes_from_a_later_word(
    web_client: FlaskClient, ids: dict[str, str]
) -> None:
    assert _texts(_suggest(web_client, "brindle"), "organisation") == [ORGANISATION]
    assert ORGANISATION in _texts(_suggest(web_client, "transit auth"), "organisation")


def test_a_name_mentioned_often_ranks_above_a_title_starting_alike(
    web_client: FlaskClient, ids: dict[str, str]
) -> None:
    suggestions = _suggest(web_client, "Ottoline")
    assert [(item["kind"], item["text"]) for item in suggestions[:2]] == [
        ("person", PERSON),
        ("title", GARDEN_TITLE),
    ]
    assert suggestions[1]["article_id"] == ids["gardens"]


def test_one_typo_is_forgiven_from_four_characters(
    web_client: FlaskClient, ids: dict[str, str]
) -> None:
    assert PERSON in _texts(_suggest(web_client, "Qurr"), "person")
    assert _texts(_suggest(web_client, "Ottolnie"), "person") == [PERSON]
    # Shorter prefixes match exactly only: "Qur" is one edit from "Qua..." but too short.
    assert PERSON not in _texts(_suggest(web_client, "Qur"), "person")


def test_a_name_in_many_articles_does_not_crowd_out_the_others(
    web_client: FlaskClient, ids: dict[str, str]
) -> None:
    # Without skip_duplicates the two best "Quarr..." inputs would both be Ottoline
    # Quarrington's (three articles), and Elspeth Quarrie would not make the list.
    assert _texts(_suggest(web_client, "Quarr", size=2), "person") == [PERSON, OTHER_PERSON]


def test_size_limits_the_suggestions(web_client: FlaskClient, ids: dict[str, str]) -> None:
    assert len(_suggest(web_client, "Ottoline")) >= 2
    assert len(_suggest(web_client, "Ottoline", size=1)) == 1


def test_control_characters_in_a_title_cost_nothing(
    web_client: FlaskClient, ids: dict[str, str]
) -> None:
    # The fixture waited for "indexed": the article was not refused over its title.
    assert _texts(_suggest(web_client, "yarrowmere"), "title") == [
        "Yarrowmere tide tables for the week"
    ]
    assert _texts(_suggest(web_client, "tables for"), "title") == [
        "Yarrowmere tide tables for the week"
    ]


@pytest.mark.parametrize("q", ["", "   ", "\t"])
def test_nothing_typed_gives_no_suggestions(web_client: FlaskClient, q: str) -> None:
    assert _suggest(web_client, q) == []
    response = web_client.get("/api/suggest")
    assert response.status_code == 200
    assert response.get_json() == {"query": "", "suggestions": []}


@pytest.mark.parametrize(
    "q",
    [
        '"',
        "\\",
        "\\\\",
        '"Ottoline',
        "😀",
        "Ott😀",
        "*",
        "a*b?",
        "<script>alert(1)</script>",
        "\x00\x1f",
        "e\u0301",  # a combining accent
        "ü" * MAX_PREFIX_CHARS,
        "q" * MAX_PREFIX_CHARS,
        "{}[]()~^:/!",
        "-",
    ],
)
def test_odd_input_never_fails(web_client: FlaskClient, ids: dict[str, str], q: str) -> None:
    suggestions = _suggest(web_client, q)
    assert all(item["kind"] in {"title", "person", "organisation", "place"} for item in suggestions)


def test_a_quote_before_a_name_still_finds_it(web_client: FlaskClient, ids: dict[str, str]) -> None:
    assert _texts(_suggest(web_client, '"Ottoline'), "person") == [PERSON]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"q": "x" * (MAX_PREFIX_CHARS + 1)}, "q"),
        ({"q": "ott", "size": "0"}, "size"),
        ({"q": "ott", "size": "21"}, "size"),
        ({"q": "ott", "size": "many"}, "size"),
    ],
)
def test_bad_parameters_are_a_problem_not_an_error(
    web_client: FlaskClient, params: dict[str, str], parameter: str
) -> None:
    response = web_client.get("/api/suggest", query_string=params)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["parameter"] == parameter


def test_the_article_api_leaves_the_inputs_out(
    web_client: FlaskClient, ids: dict[str, str], settings: Settings
) -> None:
    stored = get_elasticsearch(settings).get(index=settings.articles_alias, id=ids["ferry"])
    assert stored["_source"]["suggest"]  # the worker filled it ...
    article = web_client.get(f"/api/articles/{ids['ferry']}").get_json()
    assert article["title"] == FERRY_TITLE
    assert "suggest" not in article  # ... and it is index machinery, not article data


def test_the_page_loads_the_script_and_the_listbox(web_client: FlaskClient) -> None:
    response = web_client.get("/")
    html = response.get_data(as_text=True)
    assert '<script src="/static/app.js" defer></script>' in html
    assert 'id="search-input"' in html
    assert 'id="search-suggestions"' in html
    assert 'role="listbox"' in html
    assert 'data-suggest-url="/api/suggest"' in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    # The empty home page focuses the box; a results page leaves the keys to the page.
    assert " autofocus" in html
    assert " autofocus" not in web_client.get("/?q=harbour").get_data(as_text=True)
    script = web_client.get("/static/app.js")
    assert script.status_code == 200
    assert "javascript" in (script.mimetype or "")
    assert b'getElementById("search-suggestions")' in script.data
