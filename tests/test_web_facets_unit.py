"""The facets' one declaration (web/facets.py) against the index mapping and the pages' needs.
The page and the API showing the same facets on real articles: tests/test_search_facets.py."""

from __future__ import annotations

from typing import Any

from shared.index import CORE_PROPERTIES
from web.entities import KINDS as ENTITY_KINDS
from web.facets import ENTITY_FACETS, FACETS, ON_PAGE
from worker.enrich.registry import article_mappings


def _property(properties: dict[str, Any], field: str) -> dict[str, Any]:
    *parents, leaf = field.split(".")
    for parent in parents:
        properties = properties[parent]["properties"]
    found: dict[str, Any] = properties[leaf]
    return found


def test_every_facet_counts_a_keyword_field_of_the_mapping() -> None:
    """The worker's full mapping: shared.index's core properties and its steps' fragments."""
    properties = article_mappings()["properties"]
    assert set(CORE_PROPERTIES) <= set(properties)
    for name, facet in FACETS.items():
        assert facet.name == name
        assert _property(properties, facet.field)["type"] == "keyword", facet.field


def test_every_facet_has_a_label_and_a_place_on_the_page() -> None:
    labels = [facet.label for facet in FACETS.values()]
    assert all(label.strip() for label in labels)
    assert len(set(labels)) == len(labels)
    assert sorted(facet.page_order for facet in FACETS.values()) == list(range(len(FACETS)))
    assert {facet.name for facet in ON_PAGE} == set(FACETS)


def test_entity_facets_are_the_entity_pages_kinds() -> None:
    assert (
        ENTITY_KINDS
        == ENTITY_FACETS
        == {
            "person": "people",
            "organisation": "organisations",
            "place": "places",
        }
    )
    assert FACETS["places"].field == "places.geonameid"  # a place is its GeoNames id
