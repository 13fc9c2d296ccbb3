"""Entity pages on the real index (issue 4, item 9): a person's, organisation's or place's
stories, timeline, quotes and the entities named beside it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("worker")]

# Invented names, so no other test's articles count here. Checked with the worker's spaCy
# model: each article's people, organisations and places are as noted.
ARTICLES = [
    # Mark Zorblatt (quoted), Peter Vrask; Tarnwick Harbour Authority; Winnipeg, Adelaide.
    (
        "2025-01-10",
        "Zorblatt backs the bridge",
        '"We will build the new bridge," said Mark Zorblatt, the mayor of Winnipeg. The '
        "Tarnwick Harbour Authority backed the plan. Zorblatt met Peter Vrask in Adelaide, "
        "Australia.",
    ),
    # Mark Zorblatt (quoted); Tarnwick Harbour Authority; Adelaide.
    (
        "2025-02-12",
        "Zorblatt in Adelaide",
        'Mark Zorblatt flew to Adelaide, Australia, on Monday. "The bridge is on schedule," '
        "Zorblatt told reporters. The Tarnwick Harbour Authority agreed.",
    ),
    # Only "Zorblatt": merged into Mark Zorblatt, the one known person of that surname (at index
    # time: worker/enrich/names.py; the form as written stays in entity_mentions).
    (
        "2025-03-20",
        "Council meets",
        "The city council met in Winnipeg, Canada, on Tuesday. Zorblatt spoke at length about "
        "the bridge and the weather.",
    ),
    # Anna Vrask (quoted); Adelaide.
    (
        "2025-03-22",
        "A bakery opens",
        'Anna Vrask, a baker, opened a new shop in Adelaide, Australia. "Bread is back," Anna '
        "Vrask said.",
    ),
    # Only "Vrask": Peter or Anna, so merged into neither.
    (
        "2025-03-25",
        "Market day",
        "The market in Adelaide, Australia, was busy on Sunday. Ms. Vrask spoke about bread "
        "and the weather.",
    ),
]
SPEAKER = "Dilshod Saidzhanov"


@pytest.fixture(scope="module")
def indexed(ingest_app: Flask, wait_indexed_module: Callable[[list[str]], None]) -> list[str]:
    client = ingest_app.test_client()
    payload = [
        {
            "title": title,
            "body": body,
            "source": "Entity Wire",
            "published_at": f"{day}T09:00:00Z",
            "url": f"https://entities.example/{number}",
            "language": "en",
        }
        for number, (day, title, body) in enumerate(ARTICLES)
    ]
    response = client.post("/articles", json=payload)
    assert response.status_code == 202, response.get_json()
    ids = [article["id"] for article in response.get_json()["articles"]]
    wait_indexed_module(ids)
    return ids


@pytest.fixture(scope="module")
def sample_id(
    ingest_app: Flask, sample_text: str, wait_indexed_module: Callable[[list[str]], None]
) -> str:
    # Posted as test_pipeline and test_search_facets post it: the same id, so no second copy
    # of the sample disturbs their counts and rankings.
    response = ingest_app.test_client().post(
        "/articles?source=Trend",
        data=sample_text.encode(),
        content_type="text/plain; charset=utf-8",
    )
    assert response.status_code == 202, response.get_json()
    article_id: str = response.get_json()["articles"][0]["id"]
    wait_indexed_module([article_id])
    return article_id


def _profile(client: FlaskClient, kind: str, name: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/entities/{kind}/{quote(name)}", query_string=params)
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def _counts(items: list[dict[str, Any]]) -> dict[str, int]:
    return {item["name"]: item["count"] for item in items}


def test_a_persons_stories_merge_a_unique_surname(
    web_client: FlaskClient, indexed: list[str]
) -> None:
    profile = _profile(web_client, "person", "Mark Zorblatt")
    assert (profile["kind"], profile["name"]) == ("person", "Mark Zorblatt")
    # Two articles name him in full, one only as "Zorblatt": indexed under the full name.
    assert profile["total"] == 3
    assert profile["also_written_as"] == []
    assert profile["search"] == {"people": ["Mark Zorblatt"]}
    council = web_client.get(f"/api/articles/{indexed[2]}").get_json()
    assert council["people"] == ["Mark Zorblatt"]
    [person] = council["entity_mentions"]["people"]
    assert person["name"] == "Mark Zorblatt"
    assert person["mentioned_as"] == ["Zorblatt"]
    assert person["merged"].startswith("short form of 'Mark Zorblatt'")
    assert [story["title"] for story in profile["stories"]] == [
        "Council meets",
        "Zorblatt in Adelaide",
        "Zorblatt backs the bridge",
    ]
    assert (profile["first_published"], profile["last_published"]) == ("2025-01-10", "2025-03-20")
    # The search page's filter gives the same stories.
    search = web_client.get("/api/search", query_string=profile["search"]).get_json()
    assert search["total"] == 3


@pytest.mark.usefixtures("indexed")
def test_the_timeline_counts_weeks(web_client: FlaskClient) -> None:
    timeline = _profile(web_client, "person", "Mark Zorblatt")["timeline"]
    # 10 January to 20 March: 69 days, drawn in weeks (Monday to Sunday).
    assert timeline["interval"] == "week"
    buckets = timeline["buckets"]
    assert (buckets[0], buckets[-1]) == (
        {"date": "2025-01-06", "count": 1},
        {"date": "2025-03-17", "count": 1},
    )
    assert len(buckets) == 11
    assert sum(bucket["count"] for bucket in buckets) == 3
    assert {"date": "2025-02-10", "count": 1} in buckets


@pytest.mark.usefixtures("indexed")
def test_a_persons_quotes(web_client: FlaskClient, indexed: list[str]) -> None:
    quotes = _profile(web_client, "person", "Mark Zorblatt")["quotes"]
    assert (quotes["total"], quotes["articles"]) == (2, 2)
    assert [(q["text"], q["article"]["id"]) for q in quotes["items"]] == [
        ("The bridge is on schedule", indexed[1]),
        ("We will build the new bridge", indexed[0]),
    ]
    assert quotes["items"][0]["article"]["title"] == "Zorblatt in Adelaide"
    assert {q["speaker"] for q in quotes["items"]} == {"Mark Zorblatt"}


@pytest.mark.usefixtures("indexed")
def test_entities_named_alongside(web_client: FlaskClient) -> None:
    together = _profile(web_client, "person", "Mark Zorblatt")["cooccurring"]
    assert _counts(together["people"]) == {"Peter Vrask": 1}
    assert _counts(together["organisations"]) == {"Tarnwick Harbour Authority": 2}
    assert _counts(together["places"]) == {
        "Adelaide": 2,
        "Australia": 2,
        "Winnipeg": 2,
        "Canada": 1,
    }
    authority = _profile(web_client, "organisation", "Tarnwick Harbour Authority")
    assert authority["total"] == 2
    assert _counts(authority["cooccurring"]["people"]) == {"Mark Zorblatt": 2, "Peter Vrask": 1}
    assert authority["cooccurring"]["organisations"] == []
    assert "quotes" not in authority


@pytest.mark.usefixtures("indexed")
def test_a_shared_surname_is_merged_into_no_one(web_client: FlaskClient) -> None:
    for name in ("Peter Vrask", "Anna Vrask"):
        profile = _profile(web_client, "person", name)
        assert profile["total"] == 1
        assert profile["also_written_as"] == []
    bare = _profile(web_client, "person", "Vrask")
    assert bare["total"] == 1
    assert bare["stories"][0]["title"] == "Market day"
    assert _counts(bare["longer_names"]) == {"Anna Vrask": 1, "Peter Vrask": 1}
    # The bare "Zorblatt" was indexed under the one full name it is short for: no article is
    # left naming the bare form.
    assert web_client.get("/api/entities/person/Zorblatt").status_code == 404


@pytest.mark.usefixtures("indexed")
def test_a_place_with_where_it_is(web_client: FlaskClient) -> None:
    winnipeg = _profile(web_client, "place", "Winnipeg")
    assert winnipeg["total"] == 2
    [where] = winnipeg["locations"]
    assert (where["country"], where["country_code"]) == ("Canada", "CA")
    assert where["location"] == pytest.approx({"lat": 49.88, "lon": -97.15}, abs=0.05)
    assert where["stories"] == 2
    assert _counts(winnipeg["cooccurring"]["people"]) == {"Mark Zorblatt": 2, "Peter Vrask": 1}
    assert "Winnipeg" not in _counts(winnipeg["cooccurring"]["places"])
    assert "quotes" not in winnipeg


@pytest.mark.usefixtures("indexed")
def test_size_limits_the_stories_not_the_counts(web_client: FlaskClient) -> None:
    profile = _profile(web_client, "person", "Mark Zorblatt", size=1)
    assert profile["total"] == 3
    assert [story["title"] for story in profile["stories"]] == ["Council meets"]
    assert web_client.get("/api/entities/person/Mark%20Zorblatt?size=0").status_code == 400


def test_the_samples_speaker_and_places(web_client: FlaskClient, sample_id: str) -> None:
    # Other tests may index the sample too: at least this copy counts.
    profile = _profile(web_client, "person", SPEAKER, size=100)
    assert sample_id in {story["id"] for story in profile["stories"]}
    own = [q for q in profile["quotes"]["items"] if q["article"]["id"] == sample_id]
    assert len(own) == 5
    assert own[0]["text"].startswith("The heads of state of Uzbekistan and Azerbaijan")
    assert profile["quotes"]["total"] >= 5
    tashkent = _profile(web_client, "place", "Tashkent")
    assert SPEAKER in _counts(tashkent["cooccurring"]["people"])
    assert tashkent["locations"][0]["country"] == "Uzbekistan"


# --- the pages --------------------------------------------------------------------------------


@pytest.mark.usefixtures("indexed")
def test_the_person_page(web_client: FlaskClient, indexed: list[str]) -> None:
    response = web_client.get("/entities/person/Mark%20Zorblatt")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<h1>Mark Zorblatt</h1>" in page
    assert "Named in 3 articles" in page
    assert "We will build the new bridge" in page
    for article_id in indexed[:3]:
        assert f'href="/articles/{article_id}"' in page
    assert 'href="/entities/person/Peter%20Vrask"' in page
    assert 'href="/entities/organisation/Tarnwick%20Harbour%20Authority"' in page
    assert 'href="/entities/place/6183235">Winnipeg<' in page  # a place is its GeoNames id
    # "Search all stories" and every timeline bar filter the search page on the name.
    timeline = page.split('class="timeline"', 1)[1]
    bar = timeline.split('<a href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    params = parse_qs(urlsplit(bar).query)
    assert params == {
        "people": ["Mark Zorblatt"],
        "from": ["2025-01-06"],
        "to": ["2025-01-12"],
    }
    narrowed = web_client.get("/api/search", query_string=params).get_json()
    assert [hit["title"] for hit in narrowed["hits"]] == ["Zorblatt backs the bridge"]
    assert "/?people=Mark+Zorblatt" in page.replace("%20", "+")


@pytest.mark.usefixtures("indexed")
def test_the_place_page(web_client: FlaskClient) -> None:
    page = web_client.get("/entities/place/6183235").get_data(as_text=True)
    assert "<h1>Winnipeg</h1>" in page
    assert "in Canada" in page
    assert "49.88" in page
    assert "/?places=6183235" in page
    profile = web_client.get("/api/entities/place/6183235").get_json()
    assert (profile["name"], profile["geonameid"]) == ("Winnipeg", "6183235")


@pytest.mark.usefixtures("indexed")
def test_a_place_page_by_name_leads_to_its_id(web_client: FlaskClient) -> None:
    """Links made before places were ids keep working: the name redirects to the id."""
    response = web_client.get("/entities/place/Winnipeg")
    assert response.status_code == 301
    assert response.headers["Location"].endswith("/entities/place/6183235")
    # The API answers the name itself, with the place (or places) it points to.
    profile = web_client.get("/api/entities/place/Winnipeg").get_json()
    assert [loc["geonameid"] for loc in profile["locations"]] == [6183235]


@pytest.mark.usefixtures("indexed")
def test_the_article_page_links_to_entity_pages(
    web_client: FlaskClient, indexed: list[str]
) -> None:
    page = web_client.get(f"/articles/{indexed[0]}").get_data(as_text=True)
    # People, quote speakers, organisations and places.
    assert page.count('href="/entities/person/Mark%20Zorblatt"') == 2
    assert 'href="/entities/organisation/Tarnwick%20Harbour%20Authority"' in page
    assert 'href="/entities/place/2078025">Adelaide<' in page


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("indexed")
@pytest.mark.parametrize(
    "path",
    [
        "/api/entities/thing/Mark%20Zorblatt",  # no such kind
        "/api/entities/person/Nobody%20Zorblatt",  # in no article
        "/api/entities/place/Mark%20Zorblatt",  # a person, not a place
        "/api/entities/person/Zorbl.%2A",  # regex syntax is literal
        "/api/entities/person/%22",
        "/api/entities/person/a~b@c%23d",
        # Lucene's regular expression syntax in every suffix of a name: all literal.
        "/api/entities/person/Mark%20Zorbl.%2A%20%28%5B%3C1-9%3E%5C%20%22%40%23%26~%20Zorblatt",
        "/api/entities/person/(%5B%3C1-9%3E%5C",
        "/api/entities/person/AC/DC",
        "/api/entities/person/" + "%20".join(["Word"] * 60),
    ],
)
def test_unknown_entities_are_404(web_client: FlaskClient, path: str) -> None:
    response = web_client.get(path)
    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "path",
    [
        "/api/entities/person/a%00b",
        "/api/entities/person/%0A",
        "/api/entities/person/" + "x" * 301,
        "/api/entities/person/%20%20",
    ],
)
def test_bad_names_are_400(web_client: FlaskClient, path: str) -> None:
    response = web_client.get(path)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["parameter"] == "name"


@pytest.mark.usefixtures("indexed")
def test_pages_for_unknown_entities_are_404(web_client: FlaskClient) -> None:
    for path in ("/entities/person/Nobody%20Zorblatt", "/entities/thing/x"):
        response = web_client.get(path)
        assert response.status_code == 404
        assert "Not found" in response.get_data(as_text=True)
    assert web_client.get("/entities/person/a%00b").status_code == 400


@pytest.mark.usefixtures("indexed")
def test_search_facets_link_to_profiles(web_client: FlaskClient) -> None:
    page = web_client.get("/", query_string={"people": "Mark Zorblatt"}).get_data(as_text=True)
    facets = page.split('class="facets"', 1)[1].split("</aside>", 1)[0]
    # A selected name's profile link follows its facet's list (one Tab stop per facet value:
    # the other names' arrows are out of the Tab order).
    assert '<p class="facet-profile"><a href="/entities/person/Mark%20Zorblatt">' in facets
    assert 'class="profile" href="/entities/organisation/Tarnwick%20Harbour%20Authority"' in facets
    assert 'class="profile" href="/entities/place/6183235"' in facets
    assert '<span class="value">Winnipeg</span>' in facets  # the id's label
    # Sources and languages have no profile.
    assert 'href="/entities/source/' not in facets
    assert facets.count('class="profile"') + facets.count('class="facet-profile"') == sum(
        facets.split("<h2>" + label + "</h2>", 1)[1].split("</section>", 1)[0].count("<li")
        for label in ("People", "Organisations", "Places")
    )
