"""The web UI in a real headless Chromium: search, facets, paging, history, the timeline, the
article page, the keyboard, autocomplete and hostile markup (issue 4, "Tests").

The app is served by a real HTTP server (werkzeug, in a thread) over this run's index.
Playwright drives Debian's ``/usr/bin/chromium``: Playwright's own browser download fails here,
so ``playwright install`` is never run. One browser per session, a fresh context per test.
Screenshots of the main pages land in ``tests/artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    Playwright,
    Response,
    expect,
    sync_playwright,
)
from werkzeug.serving import make_server

import web
from shared import accounts, saved_searches
from shared.clients import get_redis
from shared.settings import Settings
from tests.conftest import ROOT, drop_data
from tests.test_cli_ops import served

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.usefixtures("worker")]

CHROMIUM = Path("/usr/bin/chromium")
# No background traffic: the tests need loopback only (and the sandbox needs privileges that
# containers and CI runners lack).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = ROOT / "tests" / "artifacts" / "screenshots"

WORD = "wombatbrowse"  # only this module's articles contain it (all but the hostile one)
HOSTILE_WORD = "hostilewombat"  # only the hostile article contains it
SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=1">'
LINK = '<a href="javascript:window.__xss=1">click</a>'

CITIES = ["PARIS", "BERLIN", "MADRID", "LONDON", "ROME"]
MONTHS = ["Jan.", "Feb.", "March", "April", "May", "June", "July", "Aug.", "Sept.", "Oct."]
PEOPLE = ["Maria Lopez", "Thomas Keller", "Anna Novak", "James Whitfield", "Sofia Rossi"]
SOURCES = ["Harbour Gazette", "Valley Times", "Coastal Wire"]
TOPICS = [
    "open a new ferry terminal",
    "cut tram fares for students",
    "rebuild the old stone bridge",
    "plant trees along the river",
    "extend the night bus service",
    "repair the harbour wall",
    "build a cycle lane downtown",
]
GENERATED = 30


def _article(n: int) -> dict[str, Any]:
    """A short wire story; sources, people, cities and months vary so every facet, the pager
    and the timeline have something to show."""
    city, person, source = CITIES[n % 5], PEOPLE[n % 5 - 1], SOURCES[n % 3]
    topic, month, day = TOPICS[n % 7], n % 10 + 1, n % 27 + 1
    return {
        "title": f"{city.title()} council to {topic} ({WORD} {n})",
        "body": (
            f"{city}, {MONTHS[month - 1]} {day} ({source}) — The city council will {topic} "
            f"before winter, {person}, the head of the transport committee, said on Tuesday.\n"
            f'"This {WORD} plan has wide support among residents," {person} told reporters. '
            "The council votes next month; residents may comment until then."
        ),
        "source": source,
        "published_at": f"2025-{month:02d}-{day:02d}T09:00:00Z",
        "url": f"https://browser.example/{WORD}/{n}",
        "language": "en",
    }


# Every field a page shows carries the payloads: title, body, a person and a place in the text,
# the source (a facet value), the author and an unknown field (kept as metadata).
HOSTILE = {
    "title": f"{HOSTILE_WORD} {SCRIPT} {IMG} {LINK} council report",
    "body": (
        f"The {HOSTILE_WORD} council met on Monday. {SCRIPT} Officer {IMG} Jones said the vote "
        f"was close.\nIn {LINK} Springfield, {HOSTILE_WORD} residents {SCRIPT} cheered."
    ),
    "source": f"Wire {IMG}",
    "authors": [f"Jane {SCRIPT} Doe"],
    "published_at": "2025-06-15T12:00:00Z",
    "language": "en",
    "desk": f"{SCRIPT}{IMG}{LINK}",
}


@dataclass
class Watched:
    """A page with everything that must stay empty: dialogs, console errors (CSP violations
    among them), uncaught page errors and server errors."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.dialogs == [], self.dialogs
        assert self.console_errors == [], self.console_errors
        assert self.page_errors == [], self.page_errors
        assert self.server_errors == [], self.server_errors


# Module scope: the sync API keeps an event loop running in the main thread while it lives,
# which no later test module should inherit.
@pytest.fixture(scope="module")
def driver() -> Iterator[Playwright]:
    """Playwright itself (its device descriptors: ``driver.devices``)."""
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(driver: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
            "(scripts/test.sh installs it: apt-get install chromium)"
        )
    browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def server_url(web_app: Flask) -> Iterator[str]:
    """The web app (this run's settings and index) on a real HTTP server on a free port."""
    server = make_server("127.0.0.1", 0, web_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-web", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def corpus(
    ingest_app: Flask, wait_indexed_module: Callable[[list[str]], None], sample_text: str
) -> dict[str, str]:
    """The generated stories, the sample article and the hostile one, indexed; their ids."""
    client = ingest_app.test_client()
    # Posted as the other modules post it, so the index holds one copy of the sample, not one
    # per module (a second copy would change their counts and rankings).
    sample = client.post(
        "/articles?source=Trend",
        data=sample_text.encode(),
        content_type="text/plain; charset=utf-8",
    )
    assert sample.status_code == 202, sample.get_json()
    payload = [*(_article(n) for n in range(GENERATED)), HOSTILE]
    response = client.post("/articles", json=payload)
    assert response.status_code == 202, response.get_json()
    ids = [article["id"] for article in response.get_json()["articles"]]
    sample_id = sample.get_json()["articles"][0]["id"]
    wait_indexed_module([*ids, sample_id])
    return {"sample": sample_id, "hostile": ids[GENERATED]}


@pytest.fixture(scope="module")
def sample_title(web_app: Flask, corpus: dict[str, str]) -> str:
    """The title the worker derived for the sample (it has none of its own)."""
    article = web_app.test_client().get(f"/api/articles/{corpus['sample']}").get_json()
    title: str = article["title"]
    assert title.startswith("Uzbekistan and Azerbaijan"), title
    return title


@contextmanager
def _open(browser: Browser, server_url: str, **context: Any) -> Iterator[Watched]:
    ctx = browser.new_context(base_url=server_url, **context)
    page = ctx.new_page()
    # Navigations wait for "load"; assertions retry, so a short default keeps failures quick.
    page.set_default_timeout(10_000)
    watched = Watched(page)

    def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        # A CSP violation is reported as a console error: our markup must never cause one.
        if message.type == "error":
            watched.console_errors.append(f"{message.text} ({message.location})")

    def on_response(response: Response) -> None:
        if response.status >= 500:
            watched.server_errors.append(f"{response.status} {response.url}")

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.page_errors.append(str(error)))
    page.on("response", on_response)
    try:
        yield watched
        watched.assert_clean()
    finally:
        ctx.close()


@pytest.fixture
def ui(browser: Browser, server_url: str, corpus: dict[str, str]) -> Iterator[Watched]:
    """A fresh desktop-sized context over the indexed corpus."""
    with _open(browser, server_url, viewport={"width": 1280, "height": 900}) as watched:
        yield watched


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def _search_box(page: Page) -> Locator:
    return page.locator("header.masthead input[name=q]")


def _search(page: Page, text: str) -> None:
    """Type into the masthead box and press Enter, as a reader does."""
    box = _search_box(page)
    box.fill(text)
    box.press("Enter")
    page.wait_for_url(re.compile(r"[?&]q="))


def _params(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def _titles(page: Page) -> list[str]:
    return page.locator("ol.results li.result h2").all_inner_texts()


def _total(page: Page) -> int:
    text = page.locator("p.summary").inner_text()
    found = re.match(r"\s*([\d,]+)\+? articles?", text)
    assert found, text
    return int(found.group(1).replace(",", ""))


def _xss_fired(page: Page) -> bool:
    return bool(page.evaluate("typeof window.__xss !== 'undefined'"))


def test_search_pages_back_and_facet(ui: Watched, settings: Any) -> None:
    page = ui.page
    page.goto("/")
    _search(page, WORD)
    assert _params(page)["q"] == [WORD]
    # The generated stories are near-duplicates of one another: grouped, an entry stands for
    # its copies; the summary's link lists every copy, which the pager then pages through.
    expect(page.locator("ol.results p.copies").first).to_contain_text("copies from")
    assert len(_titles(page)) < settings.web_page_size
    page.locator("a.grouping").click()
    page.wait_for_url(re.compile(r"[?&]group=off"))
    first_page = _titles(page)
    assert len(first_page) == settings.web_page_size
    assert all(WORD in title for title in first_page), first_page
    total = _total(page)
    assert total >= GENERATED
    last = -(-total // settings.web_page_size)
    expect(page.locator("nav.pager")).to_contain_text(f"Page 1 of {last}")
    _shot(page, "search")

    page.locator("nav.pager a[rel=next]").click()
    page.wait_for_url(re.compile(r"[?&]page=2"))
    expect(page.locator("nav.pager")).to_contain_text(f"Page 2 of {last}")
    second_page = _titles(page)
    assert second_page
    assert not set(second_page) & set(first_page)
    assert page.locator("ol.results").get_attribute("start") == str(settings.web_page_size + 1)

    page.go_back()
    page.wait_for_url(lambda url: "page=" not in url)
    expect(page.locator("nav.pager")).to_contain_text(f"Page 1 of {last}")
    assert _titles(page) == first_page
    assert _search_box(page).input_value() == WORD

    source_facet = page.locator("section.facet", has=page.locator("h2", has_text="Source"))
    option = source_facet.locator("a", has_text="Valley Times")
    expect(option).to_have_attribute("aria-pressed", "false")
    shown = int(option.locator(".count").inner_text())
    assert 0 < shown < total
    option.click()
    page.wait_for_url(re.compile(r"[?&]source=Valley\+Times"))
    assert _params(page)["source"] == ["Valley Times"]
    selected = page.locator("section.facet li.selected a", has_text="Valley Times")
    expect(selected).to_have_attribute("aria-pressed", "true")
    expect(selected.locator(".count")).to_have_text(str(shown))
    assert _total(page) == shown
    sources = page.locator("ol.results .meta .source").all_inner_texts()
    assert sources
    assert set(sources) == {"Valley Times"}
    # Other facets count only what the selection leaves.
    people = page.locator("section.facet", has=page.locator("h2", has_text="People"))
    assert all(int(c) <= shown for c in people.locator(".count").all_inner_texts())
    _shot(page, "search-faceted")


def test_timeline_renders_and_a_bar_narrows(ui: Watched) -> None:
    page = ui.page
    page.goto(f"/?q={WORD}")
    timeline = page.locator("figure.timeline svg")
    expect(timeline).to_be_visible()
    bars = timeline.locator("rect.bar")
    assert bars.count() >= 2
    heights = [float(h or 0) for h in (b.get_attribute("height") for b in bars.all())]
    tallest = bars.nth(heights.index(max(heights)))
    box = tallest.bounding_box()
    assert box is not None
    assert box["height"] > 5, box
    assert box["width"] > 1, box
    label = tallest.locator("title").text_content() or ""
    found = re.search(r"(\d{4}-\d\d-\d\d)(?: to (\d{4}-\d\d-\d\d))?: (\d+) articles?", label)
    assert found, label
    start, end, count = found.group(1), found.group(2) or found.group(1), int(found.group(3))
    tallest.click()
    page.wait_for_url(re.compile(r"[?&]from="))
    params = _params(page)
    assert (params["from"], params["to"], params["q"]) == ([start], [end], [WORD])
    assert _total(page) == count
    expect(page.locator("form.refine input[type=date][name=from]")).to_have_value(start)
    for stamp in page.locator("ol.results .meta time").all():
        assert start <= (stamp.get_attribute("datetime") or "")[:10] <= end


def test_article_page_shows_title_summary_and_entities(
    ui: Watched, corpus: dict[str, str], sample_title: str
) -> None:
    page = ui.page
    page.goto("/")
    _search(page, "Saidzhanov")
    page.locator(f"ol.results h2 a[href='/articles/{corpus['sample']}']").click()
    page.wait_for_url(f"**/articles/{corpus['sample']}")
    expect(page.locator("article h1")).to_have_text(sample_title)
    expect(page).to_have_title(re.compile("Uzbekistan and Azerbaijan"))
    summary = page.locator("section.summary-box p")
    expect(summary).to_be_visible()
    assert len(summary.inner_text()) > 40
    entities = page.locator("section.entities")
    expect(entities.locator("h3", has_text="People")).to_be_visible()
    expect(entities).to_contain_text("Saidzhanov")
    expect(entities.locator("h3", has_text="Places")).to_be_visible()
    expect(entities).to_contain_text("Tashkent")
    expect(page.locator(".meta .source")).to_have_text("Trend")
    _shot(page, "article")
    # A person links to their own page, which lists this story among theirs.
    entities.locator("a", has_text="Saidzhanov").first.click()
    page.wait_for_url("**/entities/person/**")
    expect(page.locator("main h1")).to_contain_text("Saidzhanov")
    back = page.locator(f"main a[href='/articles/{corpus['sample']}']").first
    expect(back).to_contain_text("Uzbekistan and Azerbaijan")


def _assert_inert(ui: Watched) -> None:
    """Nothing of the payloads became markup, and nothing ran."""
    page = ui.page
    assert not _xss_fired(page)
    assert page.locator("main script, main img, main iframe").count() == 0
    assert page.locator("[onerror], [onload], [onclick]").count() == 0
    assert page.locator('a[href^="javascript:" i]').count() == 0
    ui.assert_clean()


def test_hostile_article_executes_nothing(ui: Watched, corpus: dict[str, str]) -> None:
    page = ui.page
    page.goto("/")
    _search(page, HOSTILE_WORD)
    # The highlighted title and snippet are the one place markup is let through (|safe).
    result = page.locator("ol.results li.result", has_text=HOSTILE_WORD).first
    expect(result.locator("h2")).to_contain_text(SCRIPT)
    expect(result.locator("h2 mark").first).to_have_text(HOSTILE_WORD)
    source_facet = page.locator("section.facet", has=page.locator("h2", has_text="Source"))
    expect(source_facet).to_contain_text(f"Wire {IMG}")
    _assert_inert(ui)

    result.locator("h2 a").click()
    page.wait_for_url(f"**/articles/{corpus['hostile']}")
    expect(page.locator("article h1")).to_have_text(HOSTILE["title"])
    body = page.locator("article .body")
    for payload in (SCRIPT, IMG, LINK):
        expect(body).to_contain_text(payload)
    expect(page.locator("p.byline")).to_contain_text(f"Jane {SCRIPT} Doe")
    desk = page.locator("section.facts dt", has_text="desk")
    expect(desk).to_have_count(1)
    expect(page.locator("section.facts dd", has_text="javascript:window.__xss")).to_have_text(
        HOSTILE["desk"]
    )
    _shot(page, "article-hostile")
    _assert_inert(ui)

    # The query itself is echoed on the page, in the box, the summary and the hints.
    page.goto("/?" + urlencode({"q": f"{SCRIPT}{IMG}"}))
    expect(_search_box(page)).to_have_value(f"{SCRIPT}{IMG}")
    _assert_inert(ui)
    # Every link the article page offers points at a page, never at script.
    page.goto(f"/articles/{corpus['hostile']}")
    for link in page.locator("article a").all():
        href = link.get_attribute("href") or ""
        assert href.startswith(("/", "http://", "https://", "?")), href
    _assert_inert(ui)


def test_slash_focuses_the_search_box(ui: Watched, corpus: dict[str, str]) -> None:
    page = ui.page
    page.goto(f"/articles/{corpus['sample']}")
    page.locator("article h1").click()  # away from the autofocused box
    box = _search_box(page)
    expect(box).not_to_be_focused()
    page.keyboard.press("/")
    expect(box).to_be_focused()
    # The key moved the focus; it was not typed into the box.
    expect(box).to_have_value("")


# --- the keyboard and phones (issue 16, item 9) ---------------------------------------------

# The focused element as the Tab key leaves it: what it is, which facet value it belongs to, how
# its focus shows (an outline's width, a box shadow, or for a link drawn in SVG its shape's
# stroke) and whether it is on the screen. Each is numbered when first met, so a walk ends when
# the focus comes round again (or leaves the page).
_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const seen = el.hasAttribute('data-tab-stop');
  if (!seen) el.setAttribute('data-tab-stop', document.querySelectorAll('[data-tab-stop]').length);
  const style = getComputedStyle(el);
  const shape = el instanceof SVGElement ? el.querySelector('rect, path, circle') : null;
  const box = el.getBoundingClientRect();
  const value = el.closest('section.facet li');
  return {
    seen,
    stop: Number(el.getAttribute('data-tab-stop')),
    tag: el.tagName.toLowerCase(),
    name: (el.getAttribute('aria-label') || el.innerText || el.value || '')
      .replace(/\\s+/g, ' ').trim().slice(0, 80),
    href: el.getAttribute('href'),
    facetValue: value ? [...document.querySelectorAll('section.facet li')].indexOf(value) : -1,
    result: el.matches('ol.results h2 a'),
    next: el.matches('nav.pager a[rel=next]'),
    outline: style.outlineStyle === 'none' ? 0 : parseFloat(style.outlineWidth),
    shadow: style.boxShadow !== 'none',
    stroke: shape ? parseFloat(getComputedStyle(shape).strokeWidth) || 0 : 0,
    onScreen: box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0
      && box.top < innerHeight && box.left < innerWidth,
  };
}"""


def tab_stops(page: Page, limit: int = 400) -> list[dict[str, Any]]:
    """Every stop of the Tab key from the top of the page, in order (a date field's parts,
    which the key also visits, count as one); ``presses``: the Tab presses that reach it."""
    stops: list[dict[str, Any]] = []
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        stop = page.evaluate(_FOCUSED)
        if stop is not None and stops and stop["stop"] == stops[-1]["stop"]:
            continue
        if stop is None or stop["seen"]:
            return stops
        stops.append({**stop, "presses": presses})
    pytest.fail(f"the Tab key did not come round in {limit} presses")


def unseen_focus(stops: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The stops whose focus does not show (WCAG 2.4.7): no outline of 2 px or more, no box
    shadow, no stroked shape, or not scrolled onto the screen."""
    return [
        (stop["tag"], stop["name"])
        for stop in stops
        if not (stop["outline"] >= 2 or stop["shadow"] or stop["stroke"] >= 2)
        or not stop["onScreen"]
    ]


def _press_tab(page: Page, times: int) -> None:
    for _ in range(times):
        page.keyboard.press("Tab")


# The search page with a pager: ten results a page, facets with several values each.
PAGED = f"/?q={WORD}&group=off"
# Tab, Enter (the skip link), Tab: the first result.
MOST_PRESSES_TO_FIRST_RESULT = 5


def test_keyboard_skips_to_results_with_one_stop_per_facet_value(ui: Watched) -> None:
    page = ui.page
    page.goto(PAGED)
    stops = tab_stops(page)
    assert stops[0]["name"] == "Skip to results", stops[0]
    assert stops[0]["href"] == "#results"
    # Every control shows its focus (WCAG 2.4.7), scrolled onto the screen.
    assert unseen_focus(stops) == []
    # One stop per facet value (not a toggle and a profile link each).
    values = page.locator("section.facet li").count()
    assert values >= 10
    assert sorted(stop["facetValue"] for stop in stops if stop["facetValue"] >= 0) == list(
        range(values)
    )
    first_result = next(stop["presses"] for stop in stops if stop["result"])
    to_next_page = next(stop["presses"] for stop in stops if stop["next"])
    valley = next(
        stop["presses"]
        for stop in stops
        if stop["facetValue"] >= 0 and "Valley Times" in stop["name"]
    )

    # The skip link: the first result in three key presses; the pager after the results.
    page.goto(PAGED)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to results")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.locator("ol.results h2 a").first).to_be_focused()
    assert 3 <= MOST_PRESSES_TO_FIRST_RESULT < first_result
    _press_tab(page, to_next_page - first_result)
    expect(page.locator("nav.pager a[rel=next]")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"[?&]page=2"))
    expect(page.locator("nav.pager")).to_contain_text("Page 2 of")

    # A facet value, by Tab and Enter.
    page.goto(PAGED)
    _press_tab(page, valley)
    focused = page.locator("section.facet li a:focus")
    expect(focused).to_contain_text("Valley Times")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"[?&]source=Valley\+Times"))
    expect(page.locator("section.facet li.selected a", has_text="Valley Times")).to_have_attribute(
        "aria-pressed", "true"
    )


def phone(driver: Playwright) -> dict[str, Any]:
    """Playwright's iPhone 13 (a mobile, touch, 3x screen and its user agent) in Chromium, with
    the whole 390x844 screen as the viewport."""
    device = {k: v for k, v in driver.devices["iPhone 13"].items() if k != "default_browser_type"}
    return {**device, "viewport": {"width": 390, "height": 844}}


PHONE_VISIBLE_HEIGHT = 664  # the iPhone 13's viewport under Safari's bars (Playwright's figure)


def _page_width(page: Page) -> int:
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width


def too_wide(page: Page, width: int) -> list[str]:
    """The innermost elements reaching past ``width`` (for a failure's message)."""
    found: list[str] = page.evaluate(
        """(width) => [...document.body.querySelectorAll('*')]
            .filter((el) => el.getBoundingClientRect().right > width + 0.5)
            .filter((el) => ![...el.children].some((c) => c.getBoundingClientRect().right > width + 0.5))
            .slice(0, 8)
            .map((el) => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')
                 + ' ' + Math.round(el.getBoundingClientRect().right))""",
        width,
    )
    return found


def test_phone_layout(
    driver: Playwright, browser: Browser, server_url: str, corpus: dict[str, str]
) -> None:
    with _open(browser, server_url, **phone(driver)) as watched:
        page = watched.page
        page.goto(PAGED)
        results = page.locator("ol.results li.result")
        expect(results.first).to_be_visible()
        # The filters: a closed disclosure above the results, on the first screen even under
        # the browser's bars; the results start on the first screen too, the pager after them.
        filters = page.locator("details.filters")
        summary = filters.locator("summary")
        expect(summary).to_be_visible()
        assert filters.evaluate("details => details.open") is False
        expect(page.locator("section.facet").first).to_be_hidden()
        boxes = [
            box
            for locator in (summary, results.first, page.locator("nav.pager"))
            if (box := locator.bounding_box()) is not None
        ]
        assert len(boxes) == 3, boxes
        summary_box, result_box, pager_box = boxes
        assert summary_box["y"] + summary_box["height"] <= PHONE_VISIBLE_HEIGHT, summary_box
        assert summary_box["y"] < result_box["y"] < pager_box["y"], boxes
        assert result_box["y"] < 844, result_box
        _shot(page, "search-phone")

        # Opened by keyboard (Enter on its summary) or a tap: the facets, then the results.
        summary.focus()
        page.keyboard.press("Enter")
        source = page.locator("section.facet", has=page.locator("h2", has_text="Source"))
        expect(source).to_be_visible()
        facets_box = page.locator("aside.facets").bounding_box()
        moved = results.first.bounding_box()
        assert facets_box is not None
        assert moved is not None
        assert summary_box["y"] < facets_box["y"] < moved["y"], (facets_box, moved)
        _shot(page, "search-phone-filters")
        source.locator("a[role=button]", has_text="Valley Times").tap()
        page.wait_for_url(re.compile(r"[?&]source=Valley\+Times"))
        expect(page.locator("details.filters summary")).to_have_text("Filters (1 selected)")

        page.goto(f"/articles/{corpus['sample']}")
        person = page.locator("section.entities a[href^='/entities/person/']").first
        entity = person.get_attribute("href")
        assert entity
        # Nothing wider than the phone, nor than 320 px (WCAG 1.4.10, reflow): no sideways
        # scrolling on the search, article and entity pages.
        for width in (390, 320):
            page.set_viewport_size({"width": width, "height": 844})
            for path in (PAGED, f"/articles/{corpus['sample']}", entity):
                page.goto(path)
                assert _page_width(page) <= width, (path, _page_width(page), too_wide(page, width))


def _suggestions(page: Page) -> Locator:
    """The options of the masthead combobox's listbox (static/app.js)."""
    box = _search_box(page)
    listbox = page.locator("#" + (box.get_attribute("aria-controls") or "missing-aria-controls"))
    return listbox.get_by_role("option")


def test_autocomplete_suggests_titles_and_names(
    ui: Watched, corpus: dict[str, str], sample_title: str
) -> None:
    page = ui.page
    page.goto("/")
    box = _search_box(page)
    expect(box).to_have_attribute("role", "combobox")
    expect(box).to_have_attribute("aria-expanded", "false")
    listbox = page.get_by_role("listbox")
    expect(listbox).to_be_hidden()

    # A prefix of a known title, typed key by key as a reader does.
    box.press_sequentially("Uzbekistan and Azerb", delay=15)
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    title_option = _suggestions(page).filter(has_text=sample_title[:40])
    expect(title_option).to_have_count(1)
    _shot(page, "autocomplete")
    # The arrows move through the options; Enter on a title opens its article.
    for _ in range(_suggestions(page).all_inner_texts().index(title_option.inner_text()) + 1):
        box.press("ArrowDown")
    expect(title_option).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", title_option.get_attribute("id") or "")
    box.press("Enter")
    page.wait_for_url(f"**/articles/{corpus['sample']}")
    expect(page.locator("article h1")).to_have_text(sample_title)

    # A person's name: clicking it searches for the name as a phrase.
    box = _search_box(page)
    box.press_sequentially("Maria Lo", delay=15)
    person = _suggestions(page).filter(has_text="Maria Lopez").first
    expect(person).to_be_visible()
    person.click()
    page.wait_for_url(re.compile(r"[?&]q="))
    assert _params(page)["q"] == ['"Maria Lopez"']
    assert _total(page) >= 1

    # Escape closes the list.
    box = _search_box(page)
    box.fill("")
    box.press_sequentially("Uzbekistan and Azerb", delay=15)
    expect(listbox).to_be_visible()
    box.press("Escape")
    expect(listbox).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")


def test_autocomplete_shows_hostile_titles_as_text(ui: Watched) -> None:
    page = ui.page
    page.goto("/")
    _search_box(page).press_sequentially(HOSTILE_WORD[:9], delay=15)
    option = _suggestions(page).filter(has_text=HOSTILE_WORD).first
    expect(option).to_contain_text(SCRIPT)
    assert page.locator("[role=listbox] script, [role=listbox] img").count() == 0
    _assert_inert(ui)


# --- accounts (issue 16): logging in, saving an alert, cross-origin posts ---------------------

PASSWORD = "correct horse battery staple"


def _account(settings: Settings, role: accounts.Role) -> str:
    name = f"browser-{role}-{uuid.uuid4().hex[:8]}"
    accounts.add_user(get_redis(settings), settings, name, role, PASSWORD)
    return name


def _log_in(page: Page, name: str) -> None:
    page.goto("/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("footer")).to_contain_text(name)


def _saved_with(settings: Settings, word: str) -> list[saved_searches.SavedSearch]:
    stored = saved_searches.list_all(get_redis(settings), settings.index_prefix)
    return [search for search in stored if search.params.get("q") == word]


def test_log_in_save_an_alert_and_log_out(
    browser: Browser, server_url: str, settings: Settings, corpus: dict[str, str]
) -> None:
    name = _account(settings, "editor")
    word = f"brws{uuid.uuid4().hex[:8]}"
    with _open(browser, server_url, viewport={"width": 1280, "height": 900}) as watched:
        page = watched.page
        page.goto("/pipeline")  # an admin's page: off to the login page, and back after
        page.get_by_label("Name").fill(name)
        page.get_by_label("Password").fill("not the password at all")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        # Back where it was going: an editor is no admin.
        page.wait_for_url(f"{server_url}/pipeline")
        expect(page.get_by_role("alert")).to_contain_text("needs the admin role")
        expect(page.locator("footer")).to_contain_text(f"{name} (editor)")

        page.goto(f"/?q={word}&mode=keyword")
        page.get_by_text("Save this search / alert me").click()
        page.get_by_label("Name", exact=True).fill("Browser alert")
        page.get_by_label("Webhook (optional)").fill("https://hooks.example.org/browser")
        page.get_by_role("button", name="Save and alert me").click()
        expect(page.locator(".saved-created")).to_contain_text("Only you and the admins see it")
        (created,) = _saved_with(settings, word)
        assert created.owner == name
        assert created.webhook_url == "https://hooks.example.org/browser"

        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("link", name="Log in")).to_be_visible()
        stranger = page.goto(f"/saved/{created.id}")
        assert stranger is not None
        assert stranger.status == 404  # private: not for strangers
        # The refused login, the admin page and the private one, as Chromium logs them.
        watched.console_errors[:] = [
            m for m in watched.console_errors if "status of 401" not in m
            and "status of 403" not in m and "status of 404" not in m
        ]  # fmt: skip
    saved_searches.delete(get_redis(settings), settings.index_prefix, created.id)


def test_cross_origin_posts_are_refused(
    browser: Browser, server_url: str, settings: Settings, corpus: dict[str, str]
) -> None:
    """A page on another origin of the same site (another port: the SameSite cookie goes
    along) posts a form, a JSON request and a no-CORS "simple" request to the saved-search
    routes of a logged-in editor's browser: none is taken."""
    editor = _account(settings, "editor")
    word = f"csrf{uuid.uuid4().hex[:8]}"
    attack = f"""<!doctype html><html><body>
<form id="f" method="post" action="{server_url}/saved">
<input name="q" value="{word}"><input name="name" value="planted"></form>
<script>
window.results = {{}};
fetch("{server_url}/api/saved-searches", {{method: "POST", credentials: "include",
  headers: {{"Content-Type": "application/json"}}, body: JSON.stringify({{q: "{word}"}})}})
  .then(r => {{ window.results.json = r.status; }}, () => {{ window.results.json = "blocked"; }});
fetch("{server_url}/api/saved-searches?q={word}", {{method: "POST", credentials: "include",
  mode: "no-cors"}}).then(() => {{ window.results.simple = "sent"; }},
  () => {{ window.results.simple = "blocked"; }});
</script></body></html>"""

    def attacker(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [attack.encode()]

    evil = make_server("127.0.0.1", 0, attacker, threaded=True)
    thread = threading.Thread(target=evil.serve_forever, name="browser-evil", daemon=True)
    thread.start()
    try:
        with _open(browser, server_url) as watched:
            page = watched.page
            _log_in(page, editor)
            page.goto(f"http://127.0.0.1:{evil.server_port}/")
            page.wait_for_function("window.results.json && window.results.simple")
            # The JSON post needs a CORS preflight that this service never grants.
            assert page.evaluate("window.results.json") == "blocked"
            with page.expect_navigation() as navigation:
                page.evaluate("document.getElementById('f').submit()")
            response = navigation.value
            assert response is not None
            assert response.status == 403
            expect(page.get_by_role("alert")).to_contain_text("CSRF")
            watched.console_errors.clear()  # the blocked fetch and the 403, as Chromium logs them
    finally:
        evil.shutdown()
        thread.join(timeout=10)
    # The simple request got through the browser, not through the CSRF check: nothing saved.
    assert _saved_with(settings, word) == []


def test_forged_host_lockout_admin_pages_and_a_revoked_token(
    driver: Playwright, settings: Settings
) -> None:
    """In Chromium, against a web app that names its hosts and locks out after 3 failures:
    a page asked for under another Host name (resolved to the same server) is refused before
    any view; wrong passwords lock the name out, the right one included; a reader cannot open
    the admin pages; a user token revoked in the store stops working at once for the page's
    own requests."""
    # A prefix of its own: the lockout it sets on 127.0.0.1 must not reach the run's logins.
    guarded = settings.model_copy(
        update={
            "index_prefix": f"{settings.index_prefix}-guarded",
            "trusted_hosts": ["127.0.0.1"],
            "login_max_failures": 3,
            "login_lockout_s": 600,
        }
    )
    app = web.create_app({"NEWSROOM_SETTINGS": guarded})
    # Chromium resolves the forged name to the same loopback server (no DNS involved).
    rules = "--host-resolver-rules=MAP evil.example 127.0.0.1"
    browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, rules])
    redis_client = get_redis(settings)
    try:
        with served(app) as url, _open(browser, url) as watched:
            page = watched.page
            port = urlsplit(url).port
            forged = page.goto(f"http://evil.example:{port}/login")
            assert forged is not None
            assert forged.status == 400
            # Refused before any view: no URL of the forged name is made (links, feeds, webhooks).
            assert "is not trusted" in page.content()
            assert "//evil.example" not in page.content()

            reader = _account(guarded, "reader")
            page.goto(f"{url}/login")
            page.get_by_label("Name").fill(reader)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.locator("footer")).to_contain_text(f"{reader} (reader)")
            for admin_page in ("/admin/audit", "/admin/takedowns", "/pipeline"):
                refused = page.goto(f"{url}{admin_page}")
                assert refused is not None
                assert refused.status == 403, admin_page
                expect(page.get_by_role("alert")).to_contain_text("needs the admin role")

            token, secret = accounts.create_token(redis_client, guarded, reader, "user", "page")
            fetch = """async (secret) => (await fetch('/api/saved-searches',
                {headers: {Authorization: 'Bearer ' + secret}, credentials: 'omit'})).status"""
            assert page.evaluate(fetch, secret) == 200
            accounts.revoke_token(redis_client, guarded, token.id)
            assert page.evaluate(fetch, secret) == 401
            page.get_by_role("button", name="Log out").click()
            expect(page.get_by_role("link", name="Log in")).to_be_visible()

            # Failures from this address lock it out too: last.
            page.goto(f"{url}/login")
            locked = _account(guarded, "editor")
            for _ in range(3):
                page.get_by_label("Name").fill(locked)
                page.get_by_label("Password").fill("not the password at all")
                page.get_by_role("button", name="Log in").click()
                expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
            page.get_by_label("Name").fill(locked)
            page.get_by_label("Password").fill(PASSWORD)  # right, but locked out
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("alert")).to_contain_text("Too many failed logins")
            expect(page.get_by_role("link", name="Log in")).to_be_visible()

            # The refused pages and requests, as Chromium logs them.
            watched.console_errors[:] = [
                m for m in watched.console_errors
                if not re.search(r"status of (400|401|403|429)", m)
            ]  # fmt: skip
    finally:
        browser.close()
        drop_data(guarded)
