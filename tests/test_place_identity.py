"""A place is its GeoNames id across the index: facets, entity pages and the map (real stack)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("worker")]

WORD = "quokkaplace"  # only these articles contain it
KYIV = "703448"
ARTICLES = [
    # spaCy's small model finds "Kyiv" beside "Ukraine" (alone it often misses it).
    ("2025-03-03", "Talks in Kiev", f"Officials met in Kiev, Ukraine, on Monday for {WORD} talks."),
    (
        "2025-03-04",
        "Talks in Kyiv",
        f"Officials met in Kyiv, Ukraine, on Tuesday for {WORD} talks.",
    ),
]


@pytest.fixture(scope="module")
def indexed(
    ingest_app: Flask, sample_text: str, wait_indexed_module: Callable[[list[str]], None]
) -> dict[str, str]:
    client = ingest_app.test_client()
    payload = [
        {
            "title": title,
            "body": body,
            "source": "Place Wire",
            "published_at": f"{day}T09:00:00Z",
            "url": f"https://places.example/{number}",
            "language": "en",
        }
        for number, (day, title, body) in enumerate(ARTICLES)
    ]
    response = client.post("/articles", json=payload)
    assert response.status_code == 202, response.get_json()
    ids = [article["id"] for article in response.get_json()["articles"]]
    # The sample, posted as the other stack tests post it (same id: no second copy).
    response = client.post(
        "/articles?source=Trend",
        data=sample_text.encode(),
        content_type="text/plain; charset=utf-8",
    )
    assert response.status_code == 202, response.get_json()
    sample = response.get_json()["articles"][0]["id"]
    wait_indexed_module([*ids, sample])
    return {"kiev": ids[0], "kyiv": ids[1], "sample": sample}


def test_kiev_and_kyiv_are_one_facet_entry_with_one_label(
    web_client: FlaskClient, indexed: dict[str, str]
) -> None:
    result = web_client.get("/api/search", query_string={"q": WORD}).get_json()
    places = result["facets"]["places"]
    kyiv = [p for p in places if p["value"] == KYIV or p["label"] in ("Kiev", "Kyiv")]
    assert [(p["value"], p["label"], p["count"]) for p in kyiv] == [(KYIV, "Kyiv", 2)]
    # Selecting it finds both articles; so does an older link by name.
    for value in (KYIV, "Kyiv"):
        chosen = web_client.get("/api/search", query_string={"q": WORD, "places": value})
        assert chosen.get_json()["total"] == 2


def test_one_entity_page_for_both_spellings(
    web_client: FlaskClient, indexed: dict[str, str]
) -> None:
    profile = web_client.get(f"/api/entities/place/{KYIV}").get_json()
    assert profile["name"] == "Kyiv"
    assert profile["total"] >= 2
    [where] = profile["locations"]
    assert {"Kiev", "Kyiv"} <= set(where["mentioned_as"])
    for written in ("Kiev", "Kyiv"):  # links by name lead to the one page
        response = web_client.get(f"/entities/place/{written}")
        assert response.status_code == 301
        assert response.headers["Location"].endswith(f"/entities/place/{KYIV}")


def test_the_sample_names_khiva_and_termez_everywhere(
    web_client: FlaskClient, indexed: dict[str, str]
) -> None:
    article = web_client.get(f"/api/articles/{indexed['sample']}").get_json()
    names = {place["name"] for place in article["places"]}
    assert {"Khiva", "Termez"} <= names
    assert not names & {"Xiva", "Tirmiz"}
    page = web_client.get(f"/articles/{indexed['sample']}").get_data(as_text=True)
    assert 'href="/entities/place/1513604">Khiva<' in page
    assert 'href="/entities/place/1215957">Termez<' in page
    svg = page.split('<figure class="place-map">', 1)[1].split("</figure>", 1)[0]
    labels = re.findall(r'<text class="map-label[^"]*"[^>]*>([^<]*)</text>', svg)
    assert not {"Xiva", "Tirmiz"} & set(labels)
    facets = web_client.get("/api/search", query_string={"q": "Saidzhanov"}).get_json()
    facet_labels = {p["label"] for p in facets["facets"]["places"]}
    assert {"Khiva", "Termez"} <= facet_labels
    assert web_client.get("/api/entities/place/1513604").get_json()["name"] == "Khiva"


def test_a_saved_place_filter_shows_the_place_name(
    web_client: FlaskClient, indexed: dict[str, str]
) -> None:
    response = web_client.post("/api/saved-searches", json={"q": WORD, "places": KYIV})
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    try:
        assert created["params"]["filters"]["places"] == [KYIV]
        for path in (f"/saved/{created['id']}", "/saved"):
            page = web_client.get(path).get_data(as_text=True)
            assert "Kyiv" in page, path
            assert f": {KYIV}<" not in page, path
            assert f">{KYIV}<" not in page, path
    finally:
        deleted = web_client.delete(f"/api/saved-searches/{created['id']}")  # by its owner
        assert deleted.status_code == 204
