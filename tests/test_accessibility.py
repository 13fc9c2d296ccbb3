"""Every page of the web UI passes axe-core in a real headless Chromium (the brief: "Test against
real clients of what we output: ... axe-core (npm) in Chromium for every page").

axe-core's ``axe.min.js`` comes from its npm package, pinned and checked by sha256: scripts/test.sh
fetches it (``npm pack``) into the cache, where this module reads it. The pages are served by a
real HTTP server over a few articles indexed through the real stack (ingest, worker,
Elasticsearch), as in tests/test_browser.py, whose browser and server fixtures this module
shares. axe is injected into each page as a script tag: the app's Content-Security-Policy
(rightly) refuses inline scripts, so this test client's context bypasses the CSP
(``bypass_csp=True``); the app's own scripts run as they do for a reader.

Which pages: every GET route of the ``ui`` and ``pipeline`` blueprints that answers HTML is
visited (``test_every_html_page_is_checked`` fails when a new page is not in ``PAGES``), and the
search page in each of its states (empty, results, facets selected, a relaxed query, every copy,
undated only, a refused parameter, the suggestions open).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, Playwright, expect

from shared import stories, takedown
from shared.clients import get_elasticsearch, get_redis
from shared.deadletters import add_dead_letters, remove_dead_letters
from shared.schema import ArticleIn, to_payload
from shared.settings import Settings
from tests.conftest import Login
from tests.test_browser import (
    _open,
    browser,
    driver,
    phone,
    server_url,
    tab_stops,
    too_wide,
    unseen_focus,
)

__all__ = ["browser", "driver", "server_url"]  # the fixtures, shared with tests/test_browser.py

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.usefixtures("worker")]

AXE_VERSION = "4.14.1"  # as pinned (with its sha256) in scripts/test.sh
# WCAG 2.0 and 2.1, levels A and AA, and axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]

WORD = "wombataxe"  # only this module's articles contain it
# Names no other module's articles hold (their counts on entity pages are asserted there); this
# module's articles are deleted again at its end, so no later search finds them by meaning.
ORGANISATION = "Quillonby Ferry Company"


def axe_path() -> Path:
    """Where scripts/test.sh puts axe.min.js (the cache of quality/corpus.py's cache_dir)."""
    default = (
        "/var/cache/newsroom" if os.geteuid() == 0 else str(Path.home() / ".cache" / "newsroom")
    )
    cache = Path(os.environ.get("NEWSROOM_CACHE_DIR", default))
    return cache / "axe-core" / f"axe-{AXE_VERSION}.min.js"


@pytest.fixture(scope="module")
def axe_source() -> str:
    path = axe_path()
    if not path.exists():
        pytest.fail(f"{path} is missing: scripts/test.sh fetches axe-core {AXE_VERSION} (npm pack)")
    return path.read_text(encoding="utf-8")


def _story(number: int, day: str | None, source: str, body: str) -> dict[str, Any]:
    article: dict[str, Any] = {
        "title": f"Ferry news {number} ({WORD})",
        "body": body,
        "source": source,
        "url": f"https://accessibility.example/{WORD}/{number}",
        "language": "en",
    }
    if day:
        article["published_at"] = f"{day}T09:00:00Z"
    return article


FERRY = (
    '"We will run the new ferry across the lake before winter," said Edda Marchetti, the head '
    f"of the {ORGANISATION}, in Kelowna, Canada, on Tuesday. The {ORGANISATION} bought two "
    f"boats for the {WORD} crossing, and the city council approved the landing stage. Residents "
    "may comment on the timetable until the end of the month, the company said."
)
ARTICLES = [
    _story(0, "2025-01-10", "Lakeside Gazette", FERRY),
    # A copy of the first from another source: the search page groups them.
    _story(1, "2025-01-11", "Prairie Wire", FERRY + " The vote is next week."),
    _story(
        2,
        "2025-02-12",
        "Lakeside Gazette",
        f'Edda Marchetti flew to Hobart, Australia, on Monday. "The {WORD} ferry is on '
        f'schedule," Marchetti told reporters. The {ORGANISATION} ordered a third boat.',
    ),
    _story(
        3,
        "2025-03-20",
        "Prairie Wire",
        f"The city council met in Kelowna, Canada, on Tuesday to discuss the {WORD} ferry "
        "landing, the parking and the new timetable for the summer.",
    ),
    _story(4, None, "Lakeside Gazette", f"An undated note on the {WORD} ferry and its boats."),
]


@dataclass(frozen=True)
class Site:
    """The ids and names the pages are built from."""

    article: str
    person: str
    organisation: str
    place: str
    saved: str
    dead_letter: str
    taken_down: str
    story: str


@pytest.fixture(scope="module")
def site(
    ingest_app: Flask,
    web_app: Flask,
    settings: Settings,
    admin_login: Login,
    wait_indexed_module: Callable[[list[str]], None],
) -> Iterator[Site]:
    response = ingest_app.test_client().post("/articles", json=ARTICLES)
    assert response.status_code == 202, response.get_json()
    ids = [article["id"] for article in response.get_json()["articles"]]
    wait_indexed_module(ids)
    web = admin_login.apply(web_app.test_client())
    article = web.get(f"/api/articles/{ids[0]}").get_json()
    assert article["people"], article
    assert ORGANISATION in article["organisations"], article
    place = next(p for p in article["places"] if p.get("geonameid"))
    # Its story (issue 17), as the worker assigned it; with a record of its own should the
    # worker not assign stories (its articles are then listed under no story).
    story = (article.get("story") or {}).get("id") or f"s{ids[0]}"
    record_key = stories.story_key(settings.index_prefix, story)
    own_record = not get_redis(settings).exists(record_key)
    if own_record:
        get_redis(settings).hset(record_key, mapping={"id": story, "title": f"{WORD} ferry story"})

    created = web.post("/api/saved-searches", json={"name": f"{WORD} ferries", "q": WORD})
    assert created.status_code == 201, created.get_json()
    saved = created.get_json()

    # A dead letter, as the worker stores one that failed for good.
    redis_client = get_redis(settings)
    letter = to_payload(
        ArticleIn(title=f"{WORD} failed", body=f"A {WORD} body that failed.", source="Dead Wire"),
        content_type="application/json",
        received_at=datetime.now(UTC),
    )
    (letter_id,) = add_dead_letters(
        redis_client, settings.index_prefix, [(letter, "400: mapper_parsing_exception", 3)]
    )
    # A takedown (shared/takedown.py): listed on /admin/takedowns, its page 410 Gone.
    removed = uuid.uuid4().hex
    takedown.take_down(
        get_elasticsearch(settings), redis_client, settings, removed, "Court order", "axe"
    )
    try:
        yield Site(
            article=ids[0],
            person=article["people"][0],
            organisation=ORGANISATION,
            place=str(place["geonameid"]),
            saved=saved["id"],
            dead_letter=letter_id,
            taken_down=removed,
            story=story,
        )
    finally:
        if own_record:
            redis_client.delete(record_key)
        es = get_elasticsearch(settings)  # (no _delete_by_query: this Elasticsearch lacks it)
        for article_id in ids:
            es.delete(index=settings.articles_alias, id=article_id)
        es.indices.refresh(index=settings.articles_alias)
        remove_dead_letters(redis_client, settings.index_prefix, [letter_id])
        takedown.lift(redis_client, settings, removed, "axe")
        web.delete(f"/api/saved-searches/{saved['id']}")


def _entity(kind: str, name: str) -> str:
    return f"/entities/{kind}/{quote(name, safe='')}"


def _search(**params: str) -> str:
    return "/?" + urlencode(params)


MISSING_ID = "0" * 32
# Each page: its name, its path (from the site's ids and names), what must be on it (a CSS
# selector: the state the name promises), and the HTTP status.
PAGES: list[tuple[str, Callable[[Site], str], str, int]] = [
    ("search-empty", lambda s: "/", "header.masthead input[name=q]", 200),
    ("search-results", lambda s: _search(q=WORD), "ol.results li.result", 200),
    (
        "search-facets-selected",
        lambda s: _search(q=WORD, source="Lakeside Gazette", people=s.person),
        "section.facet li.selected",
        200,
    ),
    ("search-every-copy", lambda s: _search(q=WORD, group="off"), "a.grouping", 200),
    ("search-undated", lambda s: _search(q=WORD, undated="1"), "p.undated-note", 200),
    (
        "search-relaxed",
        lambda s: _search(q=f"{WORD} ferry boats zyxwvutsq"),
        "p.relaxed",
        200,
    ),
    ("search-corrected", lambda s: _search(q="wombatxae ferry"), "p.corrected", 200),
    ("search-no-match", lambda s: _search(q="zyxwvutsq qwxzptv"), "p.summary", 200),
    ("search-refused", lambda s: _search(q=WORD, page="0"), "div.notice.error", 400),
    (
        "article",
        lambda s: f"/articles/{s.article}",
        # Its map, quotes and related stories (each section is on the page).
        "main:has(svg.map):has(section.quotes):has(section.related) article h1",
        200,
    ),
    ("article-missing", lambda s: f"/articles/{MISSING_ID}", "div.notice.error", 404),
    ("story", lambda s: f"/stories/{s.story}", "main article.story h1", 200),
    ("story-missing", lambda s: f"/stories/s{MISSING_ID}", "div.notice.error", 404),
    ("entity-person", lambda s: _entity("person", s.person), "main h1", 200),
    ("entity-organisation", lambda s: _entity("organisation", s.organisation), "main h1", 200),
    ("entity-place", lambda s: _entity("place", s.place), "main h1", 200),
    ("rising", lambda s: "/rising", "main article.rising h1", 200),
    (
        "entity-every-copy",
        lambda s: _entity("organisation", s.organisation) + "?group=off",
        "main h1",
        200,
    ),
    ("entity-missing", lambda s: _entity("person", "Nobody Zyxwvut"), "div.notice.error", 404),
    ("saved-list", lambda s: "/saved", "main h1", 200),
    ("saved", lambda s: f"/saved/{s.saved}", "main h1", 200),
    ("saved-missing", lambda s: f"/saved/{MISSING_ID}", "div.notice.error", 404),
    ("pipeline", lambda s: "/pipeline", "main h1", 200),
    ("dead-letter", lambda s: f"/pipeline/dead-letters/{s.dead_letter}", "main h1", 200),
    ("dead-letter-missing", lambda s: f"/pipeline/dead-letters/{MISSING_ID}", "main", 404),
    ("takedowns", lambda s: "/admin/takedowns", "table.takedowns td form button", 200),
    ("article-taken-down", lambda s: f"/articles/{s.taken_down}", "div.notice.error", 410),
    ("login", lambda s: "/login", "main h1", 200),
    # The site's saved search was created by an admin: its event is in the table.
    ("audit", lambda s: "/admin/audit", "main table.audit tbody tr", 200),
]
# GET routes outside /api/ that answer something other than a page.
NOT_PAGES = {
    "feeds.atom_feed",
    "feeds.json_feed",
    "saved.atom_feed",
    "saved.json_feed",
    "saved.keyed_atom_feed",
    "saved.keyed_json_feed",
    "site.healthz",
    "metrics",
    "static",
}


def _violations(page: Page, axe_source: str) -> list[dict[str, Any]]:
    if page.evaluate("typeof axe === 'undefined'"):
        page.add_script_tag(content=axe_source)
    found: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => ({target: n.target, summary: n.failureSummary})),
            }));
        }""",
        AXE_TAGS,
    )
    return found


def _report(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:5]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    {node['target']}: {summary[:300]}")
    return "\n".join(lines)


def _check(page: Page, axe_source: str) -> None:
    violations = _violations(page, axe_source)
    assert not violations, f"axe-core {AXE_VERSION} on {page.url}:\n{_report(violations)}"


def logged_in(login: Login, server_url: str) -> dict[str, Any]:
    """A browser context's state holding ``login``'s session cookie (pages as its user sees
    them: an admin sees every page, with the forms of an editor)."""
    cookie = {
        "name": "session",
        "value": login.cookie,
        "domain": urlsplit(server_url).hostname,
        "path": "/",
        "expires": -1,
        "httpOnly": True,
        "secure": False,
        "sameSite": "Lax",
    }
    return {"cookies": [cookie], "origins": []}


@contextmanager
def _axe_page(browser: Browser, server_url: str, login: Login, **context: Any) -> Iterator[Page]:
    """A context (desktop-sized unless ``context`` says otherwise), logged in as ``login``'s
    user, that lets this test client inject axe despite the CSP. Clean as in
    tests/test_browser.py (no console or page errors), except that Chromium logs an error
    page's own status (a 404 page is meant): that one line is expected."""
    with _open(
        browser,
        server_url,
        **{"viewport": {"width": 1280, "height": 900}, **context},
        bypass_csp=True,
        storage_state=logged_in(login, server_url),
    ) as watched:
        error_pages: list[str] = []
        watched.page.on(
            "response",
            lambda r: (
                error_pages.append(r.url)
                if r.request.is_navigation_request() and 400 <= r.status < 500
                else None
            ),
        )
        yield watched.page
        watched.console_errors[:] = [
            message
            for message in watched.console_errors
            if not (
                message.startswith("Failed to load resource: the server responded with a status")
                and any(f"'url': '{url}'" in message for url in error_pages)
            )
        ]


@pytest.fixture
def ui(browser: Browser, server_url: str, admin_login: Login) -> Iterator[Page]:
    """A desktop-sized page as an admin sees it (every page, with the forms of an editor)."""
    with _axe_page(browser, server_url, admin_login) as page:
        yield page


@pytest.mark.parametrize(
    ("path", "selector", "status"),
    [pytest.param(path, selector, status, id=name) for name, path, selector, status in PAGES],
)
def test_page_passes_axe(
    ui: Page,
    site: Site,
    axe_source: str,
    path: Callable[[Site], str],
    selector: str,
    status: int,
) -> None:
    response = ui.goto(path(site))
    assert response is not None
    assert response.status == status, response.url
    expect(ui.locator(selector).first).to_be_attached()
    _check(ui, axe_source)
    # The first Tab stop skips to the page's content (but where the search box has the focus
    # from the start: the skip link is then one Shift+Tab away).
    if not ui.locator("[autofocus]").count():
        ui.keyboard.press("Tab")
        skip = ui.locator("a.skip-link")
        expect(skip).to_be_focused()
        expect(ui.locator(skip.get_attribute("href") or "#missing")).to_have_count(1)


# Pages whose every Tab stop must show its focus (the search page's: tests/test_browser.py).
FOCUS_WALKED = [
    "article",
    "entity-person",
    "saved",
    "pipeline",
    "dead-letter",
    "takedowns",
    "audit",
    "login",
    "story",
]


@pytest.mark.parametrize("name", FOCUS_WALKED)
def test_every_tab_stop_shows_its_focus(ui: Page, site: Site, name: str) -> None:
    path = next(path for page_name, path, _, _ in PAGES if page_name == name)
    ui.goto(path(site))
    stops = tab_stops(ui)
    assert stops[0]["name"].startswith("Skip to"), stops[0]
    assert unseen_focus(stops) == []


def test_search_with_suggestions_open_passes_axe(ui: Page, site: Site, axe_source: str) -> None:
    ui.goto("/")
    box = ui.locator("header.masthead input[name=q]")
    box.press_sequentially("Ferry news", delay=15)
    expect(ui.get_by_role("listbox")).to_be_visible()
    box.press("ArrowDown")
    expect(ui.get_by_role("option").first).to_have_attribute("aria-selected", "true")
    _check(ui, axe_source)


def test_a_facet_toggle_is_pressed_with_space(ui: Page, site: Site) -> None:
    """The facet values are toggle buttons (role=button): Space presses one, as any button."""
    ui.goto(_search(q=WORD))
    option = ui.get_by_role("button", name="Prairie Wire")
    expect(option).to_have_attribute("aria-pressed", "false")
    option.focus()
    ui.keyboard.press("Space")
    ui.wait_for_url("**source=Prairie+Wire**")
    expect(ui.get_by_role("button", name="Prairie Wire")).to_have_attribute("aria-pressed", "true")


def test_every_html_page_is_checked(web_app: Flask, site: Site) -> None:
    """A new page of the UI (a GET route outside /api/, in any feature's blueprint) must join
    PAGES."""
    routes = {
        rule.endpoint
        for rule in web_app.url_map.iter_rules()
        if "GET" in (rule.methods or ())
        and not rule.rule.startswith("/api/")
        and rule.endpoint not in NOT_PAGES
    }
    adapter = web_app.url_map.bind("localhost")
    visited = {adapter.match(urlsplit(path(site)).path)[0] for _, path, _, _ in PAGES}
    assert routes - visited == set(), "pages no axe test visits"
    assert visited <= routes


@pytest.mark.parametrize("name", ["search-facets-selected", "article", "entity-person"])
def test_phone_passes_axe(
    driver: Playwright,
    browser: Browser,
    server_url: str,
    site: Site,
    admin_login: Login,
    axe_source: str,
    name: str,
) -> None:
    """The narrow layout on a phone (Playwright's iPhone 13, 390x844): the search page with
    its filters closed above the results, then opened."""
    path = next(path for page_name, path, _, _ in PAGES if page_name == name)
    with _axe_page(browser, server_url, admin_login, **phone(driver)) as page:
        page.goto(path(site))
        _check(page, axe_source)
        filters = page.locator("details.filters")
        if name.startswith("search"):
            filters.locator("summary").tap()
            expect(page.locator("section.facet li.selected").first).to_be_visible()
            _check(page, axe_source)


def test_no_page_scrolls_sideways_on_a_phone(
    driver: Playwright, browser: Browser, server_url: str, site: Site, admin_login: Login
) -> None:
    """Every page fits a phone's width, and 320 px (WCAG 1.4.10, reflow): wide content
    (tables, excerpts) scrolls in its own box, never the page."""
    wide = {}
    with _axe_page(browser, server_url, admin_login, **phone(driver)) as page:
        for width in (390, 320):
            page.set_viewport_size({"width": width, "height": 844})
            for name, path, _, _ in PAGES:
                page.goto(path(site))
                if (scrolled := page.evaluate("document.documentElement.scrollWidth")) > width:
                    wide[f"{name} at {width} px"] = (scrolled, too_wide(page, width))
    assert not wide, "\n".join(f"{page}: {found}" for page, found in wide.items())


def test_save_form_and_the_saved_search_it_makes_pass_axe(
    ui: Page, site: Site, axe_source: str
) -> None:
    """The search page's save form (closed, so unchecked, on the search pages above), the page
    of the saved search it makes (its webhook secret shown once) and the list after deleting it."""
    ui.goto(_search(q=WORD))
    ui.locator("details.save-search summary").click()
    form = ui.locator("details.save-search form")
    expect(form).to_be_visible()
    _check(ui, axe_source)
    form.locator("input[name=name]").fill(f"{WORD} axe alert")
    form.locator("input[name=webhook_url]").fill("https://hooks.example.org/axe")
    form.locator("button[type=submit]").click()
    expect(ui.locator(".saved-created")).to_be_visible()
    _check(ui, axe_source)
    ui.get_by_role("button", name="Delete", exact=True).click()
    ui.wait_for_url("**/saved")
    expect(ui.locator("main h1")).to_be_visible()
    _check(ui, axe_source)


def test_a_page_refused_for_the_role_passes_axe(
    browser: Browser, server_url: str, site: Site, editor_login: Login, axe_source: str
) -> None:
    """What an editor gets at an admin's page (403): the error page as a logged-in non-admin."""
    with _axe_page(browser, server_url, editor_login) as page:
        response = page.goto("/pipeline")
        assert response is not None
        assert response.status == 403
        expect(page.get_by_role("alert")).to_contain_text("admin")
        _check(page, axe_source)
