"""Every country polygon of the map's Natural Earth data draws on the map (web/maps.py).

For each country record: a point deep inside it (the pole of inaccessibility of its largest
ring, holes taken out), the map framed on it as an article naming the country frames it, and
the SVG's own path data filled with the even-odd rule the style sheet uses, computed at that
point. Before the fix of 2026-12 the contiguous United States (and Canada, Russia, China,
Japan, Chile, Greenland) came out as sea: simplifying a ring can give a MultiPolygon, which
the drawing dropped.

Pure functions, no services; all 250 records, each rendered highlighted and as background,
take a few seconds.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.ops import polylabel

from web.maps import UNITS_PER_PX, ArticleMap, MapPoint, View, _world, map_view, render_map

SVG = "{http://www.w3.org/2000/svg}"
# An interior at least this many pixels from the border (at the view's scale) must be filled;
# thinner land (Vatican City, atoll rims) is below what the simplification (0.6 px) and the
# integer tenths of a pixel keep, so there the highlight must reach within NEAR_PX of it.
FILLED_PX = 1.0
NEAR_PX = 1.5


@dataclass(frozen=True)
class _Probe:
    code: str
    name: str
    lon: float
    lat: float
    depth_deg: float  # distance from the point to the nearest border or hole
    frame: tuple[float, float, float, float]  # the bounds of its largest ring


@functools.cache
def _probes() -> tuple[_Probe, ...]:
    probes = []
    for country in _world():
        areas = shapely.area(country.rings)
        largest = int(np.argmax(areas))
        shell = country.rings[largest]
        # Rings inside the largest are its holes (Lesotho in South Africa, lakes).
        others = np.delete(country.rings, largest)
        holes = others[shapely.contains(shell, others)] if len(others) else others
        land = shapely.difference(shell, shapely.union_all(holes)) if len(holes) else shell
        if land.geom_type != "Polygon":
            land = max(shapely.get_parts(land), key=lambda p: p.area)
        point = polylabel(land, tolerance=max(1e-4, 1e-3 * land.length))
        probes.append(
            _Probe(
                code=country.code,
                name=country.name,
                lon=point.x,
                lat=point.y,
                depth_deg=float(shapely.distance(point, land.boundary)),
                frame=country.main_bbox,
            )
        )
    return tuple(probes)


def _rings(d: str) -> Iterator[NDArray[np.int64]]:
    """The absolute vertices of each ring of path data made of ``M x y l dx dy ... z``."""
    for match in re.finditer(r"M(-?\d+) (-?\d+)l([-\d ]*)z", d):
        steps = np.array(re.findall(r"-?\d+", match.group(3)), dtype=np.int64).reshape(-1, 2)
        start = np.array([[int(match.group(1)), int(match.group(2))]], dtype=np.int64)
        yield np.vstack([start, start + np.cumsum(steps, axis=0)])


@functools.lru_cache(maxsize=64)
def _edges(d: str) -> NDArray[np.float64]:
    """Every edge of every ring of the path, closing edges included: (n, 4) x0 y0 x1 y1."""
    parts = [np.column_stack((ring, np.roll(ring, -1, axis=0))).astype(float) for ring in _rings(d)]
    return np.concatenate(parts) if parts else np.empty((0, 4))


def _filled(d: str, x: float, y: float) -> bool:
    """Is (x, y) filled by this path under the even-odd rule? Count the crossings of a ray
    to the right with every edge of every ring."""
    x0, y0, x1, y1 = _edges(d).T
    spans = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return int(np.count_nonzero(spans & (x < at))) % 2 == 1


def _distance(d: str, x: float, y: float) -> float:
    """From (x, y) to the nearest edge of the path, in the SVG's units."""
    best = np.inf
    for ring in _rings(d):
        a = ring.astype(float)
        b = np.roll(a, -1, axis=0)
        ab = b - a
        length2 = np.maximum((ab**2).sum(axis=1), 1e-12)
        t = np.clip(((np.array([x, y]) - a) * ab).sum(axis=1) / length2, 0, 1)
        nearest = a + t[:, None] * ab
        best = min(best, float(np.hypot(nearest[:, 0] - x, nearest[:, 1] - y).min()))
    return best


@dataclass
class _Drawn:
    view: View
    background: str
    highlights: list[str]  # path data of each highlighted shape
    dots: list[tuple[float, float, float]]  # highlighted specks: cx, cy, r


def _draw(probe: _Probe, highlight: bool) -> _Drawn:
    """The map framed on the country's largest ring, as ``map_view`` frames a named country
    (two markers at its corners give the same frame for records sharing an ISO code)."""
    lon_min, lat_min, lon_max, lat_max = probe.frame
    data = ArticleMap(
        points=(MapPoint("a", "a", lat_min, lon_min), MapPoint("b", "b", lat_max, lon_max)),
        countries={probe.code: probe.name} if highlight else {},
        named={},
    )
    view = map_view(data)
    assert view is not None
    found = re.search(r"<svg\b.*?</svg>", render_map(data), re.S)
    assert found
    svg = ET.fromstring(found.group(0))
    background = ""
    highlights = []
    dots = []
    for element in svg:
        classes = element.attrib.get("class", "").split()
        if element.tag == f"{SVG}path" and classes == ["map-land"]:
            background = element.attrib["d"]
        elif element.tag == f"{SVG}path" and "map-hl" in classes:
            highlights.append(element.attrib["d"])
        elif element.tag == f"{SVG}circle" and "map-hl" in classes:
            dots.append(tuple(float(element.attrib[k]) for k in ("cx", "cy", "r")))
    return _Drawn(view, background, highlights, dots)  # type: ignore[arg-type]


def _where(drawn: _Drawn, probe: _Probe) -> tuple[float, float, float]:
    """The probe in SVG units, and its depth in pixels at the view's scale."""
    x, y = drawn.view.project(probe.lon, probe.lat)
    depth_px = probe.depth_deg * drawn.view.px_per_deg * min(1.0, drawn.view.x_stretch)
    return x * UNITS_PER_PX, y * UNITS_PER_PX, depth_px


def _highlight_problem(probe: _Probe) -> str | None:
    drawn = _draw(probe, highlight=True)
    x, y, depth_px = _where(drawn, probe)
    if depth_px >= FILLED_PX:
        if any(_filled(d, x, y) for d in drawn.highlights):
            return None
        return f"interior {depth_px:.1f} px deep drawn as sea"
    near = NEAR_PX * UNITS_PER_PX
    if any(np.hypot(cx - x, cy - y) <= r + near for cx, cy, r in drawn.dots):
        return None
    if any(_filled(d, x, y) or _distance(d, x, y) <= near for d in drawn.highlights):
        return None
    return f"nothing drawn within {NEAR_PX} px (interior {depth_px:.2f} px deep)"


def _background_problem(probe: _Probe) -> str | None:
    drawn = _draw(probe, highlight=False)
    x, y, depth_px = _where(drawn, probe)
    if depth_px < FILLED_PX or _filled(drawn.background, x, y):
        return None  # specks of land are left out of the background on purpose
    return f"interior {depth_px:.1f} px deep drawn as sea in the background"


def test_every_country_draws_highlighted_and_as_background() -> None:
    probes = _probes()
    assert len(probes) > 240  # Natural Earth 1:10m admin-0: 258 records, a few empty
    problems = []
    for probe in probes:
        if probe.code:  # only a country with an ISO code can be named and highlighted
            problem = _highlight_problem(probe)
            if problem:
                problems.append(f"{probe.code} {probe.name}: {problem}")
        problem = _background_problem(probe)
        if problem:
            problems.append(f"{probe.code or '--'} {probe.name}: {problem} ")
    assert not problems, "\n".join(problems)


def test_the_united_states_is_land_on_its_own_map() -> None:
    """The case that was reported: an article naming the United States (framed on the
    contiguous states, Alaska's Aleutians crossing the antimeridian in the same record)."""
    kansas = (-98.0, 38.5)
    data = ArticleMap(points=(), countries={"US": "United States"}, named={"US": (-77.0, 38.9)})
    view = map_view(data)
    assert view is not None
    found = re.search(r"<svg\b.*?</svg>", render_map(data), re.S)
    assert found
    svg = ET.fromstring(found.group(0))
    highlights = [
        p.attrib["d"] for p in svg.iter(f"{SVG}path") if "map-hl" in p.attrib.get("class", "")
    ]
    x, y = view.project(*kansas)
    assert any(_filled(d, x * UNITS_PER_PX, y * UNITS_PER_PX) for d in highlights)


def test_a_microstate_named_is_a_dot_where_it_is() -> None:
    """Vatican City is a tenth of a pixel across on the closest view: it gets a dot."""
    code, lon, lat = "VA", 12.4534, 41.9029
    data = ArticleMap(points=(), countries={code: code}, named={code: (lon, lat)})
    view = map_view(data)
    assert view is not None
    markup = str(render_map(data))
    dots = re.findall(r'<circle class="map-land map-hl" cx="(\d+)" cy="(\d+)" r="(\d+)">', markup)
    assert dots, markup[-400:]
    x, y = view.project(lon, lat)
    cx, cy, r = map(int, dots[0])
    assert np.hypot(cx - x * UNITS_PER_PX, cy - y * UNITS_PER_PX) <= r


def test_the_world_view_draws_every_country_big_enough_to_see() -> None:
    """The coarsest level of detail: every country highlighted at once, then none."""
    probes = _probes()
    corners = (MapPoint("a", "a", -60, -180), MapPoint("b", "b", 80, 180))
    for highlight in (True, False):
        countries = {p.code: p.name for p in probes if p.code} if highlight else {}
        data = ArticleMap(points=corners, countries=countries, named={})
        view = map_view(data)
        assert view is not None
        paths = re.findall(r'<path class="[^"]*" d="([^"]*)"', str(render_map(data)))
        sea = []
        for probe in probes:
            x, y = view.project(probe.lon, probe.lat)
            depth_px = probe.depth_deg * view.px_per_deg * min(1.0, view.x_stretch)
            if depth_px < FILLED_PX:
                continue
            if not any(_filled(d, x * UNITS_PER_PX, y * UNITS_PER_PX) for d in paths):
                sea.append(probe.name)
        assert not sea, (highlight, sea)
