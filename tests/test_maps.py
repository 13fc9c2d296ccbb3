"""The article page's map (web/maps.py): projection, framing, markup, and the page itself."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from web.maps import (
    HEIGHT,
    MIN_SPAN_DEG,
    UNITS_PER_PX,
    WIDTH,
    ArticleMap,
    MapPoint,
    View,
    article_map,
    article_map_data,
    fit_view,
    map_view,
    render_map,
)

SVG = "{http://www.w3.org/2000/svg}"
BAKU = (49.89201, 40.37767)  # lon, lat (GeoNames)
TOKYO, LIMA, PARIS = (139.69, 35.69), (-77.03, -12.04), (2.35, 48.85)


def _place(name: str, code: str, country: str, lon: float, lat: float, **extra: Any) -> Any:
    return {
        "name": name,
        "country_code": code,
        "country": country,
        "location": {"lat": lat, "lon": lon},
        **extra,
    }


def _svg(markup: str) -> ET.Element:
    """The map's <svg>, parsed as XML: it must be well-formed on its own."""
    found = re.search(r"<svg\b.*?</svg>", markup, re.S)
    assert found, "no <svg> in the markup"
    return ET.fromstring(found.group(0))


def _path_points(d: str) -> list[tuple[int, int]]:
    """Absolute vertices of path data made of M x y, l dx dy ..., z."""
    points: list[tuple[int, int]] = []
    command, numbers = "", list[int]()
    for token in re.findall(r"[MlzZ]|-?\d+", d):
        if token in "MlzZ":
            command, numbers = token, []
            continue
        numbers.append(int(token))
        if len(numbers) == 2:
            dx, dy = numbers
            numbers = []
            if command == "M":
                points.append((dx, dy))
            else:
                x, y = points[-1]
                points.append((x + dx, y + dy))
    return points


def _circles(svg: ET.Element) -> list[ET.Element]:
    return list(svg.iter(f"{SVG}circle"))


# --- projection and framing -----------------------------------------------------------------


def test_one_point_is_centred_and_not_a_street_plan() -> None:
    view = fit_view([BAKU])
    assert view.project(*BAKU) == pytest.approx((WIDTH / 2, HEIGHT / 2))
    lon_min, lat_min, lon_max, lat_max = view.bounds()
    # At least MIN_SPAN_DEG across (in degrees at the middle parallel), at most 3x that.
    across = (lon_max - lon_min) * view.x_stretch
    assert MIN_SPAN_DEG - 1e-9 <= across <= 3 * MIN_SPAN_DEG
    assert lat_max - lat_min == pytest.approx(across * HEIGHT / WIDTH)


def test_bounds_and_projection_agree() -> None:
    view = View(lon0=10.0, lat0=45.0, px_per_deg=20.0, x_stretch=math.cos(math.radians(45)))
    lon_min, lat_min, lon_max, lat_max = view.bounds()
    assert view.project(lon_min, lat_max) == pytest.approx((0, 0))
    assert view.project(lon_max, lat_min) == pytest.approx((WIDTH, HEIGHT))
    # North is up, east is right, and a degree of longitude is shorter than one of latitude.
    x0, y0 = view.project(10, 45)
    x1, y1 = view.project(11, 46)
    assert x1 > x0
    assert y1 < y0
    assert x1 - x0 == pytest.approx((y0 - y1) * math.cos(math.radians(45)))


def test_every_point_lands_inside_with_padding() -> None:
    points = [BAKU, (69.24, 41.31), (44.79, 41.72), (39.66, 66.96 - 30)]
    view = fit_view(points)
    for lon, lat in points:
        x, y = view.project(lon, lat)
        assert 0.1 * WIDTH <= x <= 0.9 * WIDTH
        assert 0.1 * HEIGHT <= y <= 0.9 * HEIGHT


def test_world_spread_shows_at_most_the_world() -> None:
    view = fit_view([TOKYO, LIMA, PARIS])
    lon_min, _, lon_max, _ = view.bounds()
    assert lon_min >= -180 - 1e-9
    assert lon_max <= 180 + 1e-9
    for lon, lat in (TOKYO, LIMA, PARIS):
        x, y = view.project(lon, lat)
        assert 0 < x < WIDTH
        assert 0 < y < HEIGHT


def test_view_near_a_pole_does_not_run_past_it() -> None:
    view = fit_view([(15.6, 78.2)])  # Longyearbyen
    _, _, _, lat_max = view.bounds()
    assert lat_max <= 90 + 1e-9
    x, y = view.project(15.6, 78.2)
    assert 0 < x < WIDTH
    assert 0 < y < HEIGHT


# --- what an article puts on its map ----------------------------------------------------------


def test_article_map_data_merges_the_dateline_and_skips_what_cannot_be_placed() -> None:
    article = {
        "dateline": {
            "place": "Baku",
            "country": "Azerbaijan",
            "country_code": "AZ",
            "location": {"lat": BAKU[1], "lon": BAKU[0]},
        },
        "places": [
            _place("Baku", "AZ", "Azerbaijan", *BAKU, kind="city"),
            _place("Uzbekistan", "UZ", "Uzbekistan", 69.24, 41.31, kind="country"),
            _place("Samarkand", "UZ", "Uzbekistan", 66.96, 39.65, mentioned_as=["Samarqand"]),
            _place("Asia", "", "", 89.3, 29.8, kind="continent"),
            _place("Nowhere", "ZZ", "", 999.0, 0.0),
            {"name": "No location", "country_code": "GE", "country": "Georgia"},
            "not a place",
        ],
    }
    data = article_map_data(article)
    assert [(p.label, p.dateline) for p in data.points] == [
        ("Baku", True),
        ("Samarqand", False),
    ]
    assert data.points[1].title == "Samarqand (Samarkand, Uzbekistan)"
    assert data.named == {"UZ": (69.24, 41.31)}
    assert data.countries == {"AZ": "Azerbaijan", "UZ": "Uzbekistan", "ZZ": "ZZ", "GE": "Georgia"}


@pytest.mark.parametrize(
    "article",
    [
        {},
        {"places": [], "dateline": None},
        {"places": [{"name": "Atlantis", "location": None}]},
        {"dateline": {"place": "", "location": {"lat": 1, "lon": 2}}},
    ],
)
def test_nothing_to_place_means_no_map(article: dict[str, Any]) -> None:
    assert article_map(article) == ""


# --- markup -----------------------------------------------------------------------------------


def test_hostile_names_are_text() -> None:
    hostile = '<script>alert("x")</script>'
    article = {
        "dateline": {
            "place": hostile,
            "country": '"><svg onload=alert(1)>',
            "country_code": "AZ",
            "location": {"lat": BAKU[1], "lon": BAKU[0]},
        },
        "places": [_place("Ganja", "AZ", "' onmouseover='x", 46.36, 40.68, mentioned_as=[hostile])],
    }
    markup = str(article_map(article))
    assert "<script" not in markup
    assert "<svg onload" not in markup
    assert "' onmouseover='" not in markup
    svg = _svg(markup)  # still well-formed
    titles = [t.text for t in svg.iter(f"{SVG}title")]
    assert f'{hostile}, "><svg onload=alert(1)> (dateline)' in titles
    assert hostile in svg.attrib["aria-label"]
    assert hostile in [t.text for t in svg.iter(f"{SVG}text")]


def test_markers_land_where_projected_and_paths_stay_in_the_frame() -> None:
    data = ArticleMap(
        points=(
            MapPoint("Baku", "Baku (dateline)", BAKU[1], BAKU[0], dateline=True),
            MapPoint("Tbilisi", "Tbilisi, Georgia", 41.72, 44.79),
        ),
        countries={"AZ": "Azerbaijan", "GE": "Georgia"},
        named={},
    )
    view = map_view(data)
    assert view is not None
    svg = _svg(render_map(data))
    assert svg.attrib["viewBox"] == f"0 0 {WIDTH * UNITS_PER_PX} {HEIGHT * UNITS_PER_PX}"
    circles = {c.find(f"{SVG}title").text: c for c in _circles(svg)}  # type: ignore[union-attr]
    for title, (lon, lat) in (("Baku (dateline)", BAKU), ("Tbilisi, Georgia", (44.79, 41.72))):
        x, y = view.project(lon, lat)
        assert abs(int(circles[title].attrib["cx"]) - x * UNITS_PER_PX) <= 1
        assert abs(int(circles[title].attrib["cy"]) - y * UNITS_PER_PX) <= 1
    assert "map-dateline" in circles["Baku (dateline)"].attrib["class"]
    assert "map-dateline" not in circles["Tbilisi, Georgia"].attrib["class"]
    # Clipped to the frame (4 px of margin, so no border shows along the edge).
    margin = 4 * UNITS_PER_PX + 1
    paths = list(svg.iter(f"{SVG}path"))
    assert len(paths) == 3  # the rest of the world, then the two highlighted countries
    for path in paths:
        vertices = _path_points(path.attrib["d"])
        assert vertices
        assert all(-margin <= x <= WIDTH * UNITS_PER_PX + margin for x, _ in vertices)
        assert all(-margin <= y <= HEIGHT * UNITS_PER_PX + margin for _, y in vertices)


def test_named_countries_are_highlighted_and_framed_whole() -> None:
    article = {"places": [_place("France", "FR", "France", 2.35, 48.85, kind="country")]}
    svg = _svg(article_map(article))
    highlighted = [p for p in svg.iter(f"{SVG}path") if "map-hl" in p.attrib["class"]]
    assert [p.find(f"{SVG}title").text for p in highlighted] == ["France"]  # type: ignore[union-attr]
    assert not _circles(svg)  # a named country is a shape, not a dot at its capital
    # Metropolitan France is all in view (Natural Earth has it under "-99" as ISO_A2; the
    # map reads ISO_A2_EH), Brest to Menton, Dunkirk to Corsica.
    view = map_view(article_map_data(article))
    assert view is not None
    lon_min, lat_min, lon_max, lat_max = view.bounds()
    assert lon_min < -4.8
    assert lat_min < 41.3
    assert lon_max > 9.6
    assert lat_max > 51.1


def test_sizes_stay_small() -> None:
    regional = article_map(
        {
            "dateline": {
                "place": "Baku",
                "country_code": "AZ",
                "country": "Azerbaijan",
                "location": {"lat": BAKU[1], "lon": BAKU[0]},
            }
        }
    )
    world = article_map(
        {
            "places": [
                _place("Tokyo", "JP", "Japan", *TOKYO),
                _place("Lima", "PE", "Peru", *LIMA),
                _place("Paris", "FR", "France", *PARIS),
            ]
        }
    )
    assert 2_000 < len(regional.encode()) < 30_000
    assert 10_000 < len(world.encode()) < 60_000


# --- the article page, over the real stack ----------------------------------------------------


@pytest.mark.stack
@pytest.mark.usefixtures("worker")
def test_article_page_maps_the_sample(
    ingest_client: FlaskClient,
    web_client: FlaskClient,
    wait_indexed: Callable[[list[str]], None],
    sample_text: str,
) -> None:
    response = ingest_client.post(
        "/articles?source=Trend",
        data=sample_text.encode(),
        content_type="text/plain; charset=utf-8",
    )
    assert response.status_code in (200, 201, 202), response.get_data(as_text=True)
    article_id = response.get_json()["articles"][0]["id"]
    wait_indexed([article_id])

    page = web_client.get(f"/articles/{article_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    svg = _svg(html)
    assert " style=" not in re.search(r"<svg\b.*?</svg>", html, re.S).group(0)  # type: ignore[union-attr]

    # The dateline marker sits where Baku projects in the page's view.
    article = web_client.get(f"/api/articles/{article_id}").get_json()
    assert article["dateline"]["country_code"] == "AZ"
    view = map_view(article_map_data(article))
    assert view is not None
    dateline = [c for c in _circles(svg) if "map-dateline" in c.attrib["class"]]
    assert len(dateline) == 1
    x, y = view.project(*BAKU)
    assert abs(int(dateline[0].attrib["cx"]) - x * UNITS_PER_PX) <= 2 * UNITS_PER_PX
    assert abs(int(dateline[0].attrib["cy"]) - y * UNITS_PER_PX) <= 2 * UNITS_PER_PX
    assert 0 < x < WIDTH
    assert 0 < y < HEIGHT

    # Azerbaijan is highlighted, and Baku lies within its outline's bounds.
    highlighted = {
        p.find(f"{SVG}title").text: _path_points(p.attrib["d"])  # type: ignore[union-attr]
        for p in svg.iter(f"{SVG}path")
        if "map-hl" in p.attrib["class"]
    }
    assert "Azerbaijan" in highlighted
    xs = [vx for vx, _ in highlighted["Azerbaijan"]]
    ys = [vy for _, vy in highlighted["Azerbaijan"]]
    cx, cy = int(dateline[0].attrib["cx"]), int(dateline[0].attrib["cy"])
    assert min(xs) <= cx <= max(xs)
    assert min(ys) <= cy <= max(ys)
