"""The search's facets, each declared once: the search logic (web/search.py), the page, the
JSON API, saved searches, entity pages and the OpenAPI document all read this table.

A new facet is one line here: its name (as in URLs and the API), the keyword field it counts
and filters on, its heading on the page, its kind and its place among the page's facets.
``tests/test_search_facets.py`` checks that each field is in the index mapping and that the
page and the API show the same facets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict

# What a facet's values are: plain terms, or names of an entity kind that has its own pages
# (/entities/<kind>/<name>). A place's value is its GeoNames id, labelled with its name.
FacetKind = Literal["term", "person", "organisation", "place"]


@dataclass(frozen=True)
class Facet:
    name: str
    field: str
    label: str
    kind: FacetKind
    # Its position among the page's facets (the API and its parameters follow FACETS' order).
    page_order: int


_DECLARED = (
    Facet("source", "source", "Source", "term", page_order=0),
    Facet("language", "language", "Language", "term", page_order=6),
    Facet("people", "people", "People", "person", page_order=1),
    Facet("organisations", "organisations", "Organisations", "organisation", page_order=2),
    # A place is its GeoNames id: "Kiev" and "Kyiv" are one entry, two Springfields are two.
    # Its label is the name the newest article gives that id (web/search.py's place_label); a
    # value that is not an id (a link from before ids) filters on the name (PLACE_NAME_FIELD).
    Facet("places", "places.geonameid", "Places", "place", page_order=3),
    Facet("keywords", "keywords", "Keywords", "term", page_order=4),
    Facet("country", "dateline.country", "Dateline country", "term", page_order=5),
    # A story (issue 17: shared/stories.py) by its id, labelled with its record's title.
    Facet("story", "story.id", "Story", "term", page_order=7),
)
# Facet name -> its declaration. OR within a facet, AND across facets.
FACETS: dict[str, Facet] = {facet.name: facet for facet in _DECLARED}
PLACE_NAME_FIELD = "places.name"
# The page's order.
ON_PAGE: tuple[Facet, ...] = tuple(sorted(_DECLARED, key=lambda facet: facet.page_order))
# An entity kind -> the facet of its names ("person" -> "people"), for the entity pages.
ENTITY_FACETS: dict[str, str] = {f.kind: f.name for f in _DECLARED if f.kind != "term"}


class FacetValue(TypedDict):
    """One value of a facet in a search's answer (``facets[name]``, in the page and the API)."""

    value: str
    # Matching articles with this value, the other facets' selections applied; None for a
    # place selected by name (an older link), which the count by id cannot say.
    count: int | None
    selected: bool
    label: NotRequired[str]  # places only: the place's name (the value is its id)
