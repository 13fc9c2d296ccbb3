"""Search never fails because of one document or one query (issue 12).

- A 1.9-million-character article, posted to ingest and enriched by the real worker, is shown
  by the search page, the API (keyword and hybrid), both feeds and its own page: highlighting
  stops at NEWSROOM_SEARCH_HIGHLIGHT_MAX_CHARS instead of failing every search that lists it.
- A query with more prefix operators than MAX_QUERY_PREFIXES is refused with a problem (API),
  a message (page), and cannot be saved as an alert.
- Against an Elasticsearch that never answers (a silent server on loopback), a search answers
  503 after twice NEWSROOM_SEARCH_TIMEOUT_S, and every request carries the timeout and the
  highlighting bound.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import feedparser
import pytest
from elastic_transport import ConnectionTimeout
from elasticsearch import helpers
from flask.testing import FlaskClient

import web
from shared.clients import get_elasticsearch
from shared.index import create_index, index_name
from shared.settings import Settings
from tests.conftest import RUN_ID
from web.search import EXPORT_CHUNK, MAX_QUERY_PREFIXES, ExportIncompleteError, query_problem
from worker.enrich.registry import article_mappings

WORD = f"wharf{RUN_ID}"
LONG_CHARS = 1_900_000
TITLE = f"Port terminal to open its new container quay in spring ({WORD})"
# One report about a port terminal, as its paragraphs go; repeated (numbered) to 1.9 million
# characters, as a transcript or a data dump pasted into a body would be.
PARAGRAPHS = (
    "The harbour authority said on Tuesday that the container terminal on the east bank would "
    "open its new quay in the spring, after two years of dredging and a dispute over the cost "
    "of the cranes.",
    "Dock workers at the terminal voted to accept the new shift pattern, their union said, "
    "ending a week of overtime bans that had left ships waiting in the roads outside the port.",
    "The operator expects the terminal to handle 1.2 million containers a year once the quay is "
    "finished, up from 800,000, and plans to hire 300 more crane drivers and lashers.",
    "Residents of the old fishing quarter asked the council to limit night work at the terminal, "
    "where the new straddle carriers are louder than the ones they replace.",
    "Rail freight from the terminal to the inland depot will double in the spring, the railway "
    "said, when a second track opens along the river.",
    "Customs officers at the terminal seized 40 kilograms of cocaine hidden in a shipment of "
    "bananas last month, the third such find this year.",
)


def long_body() -> str:
    parts: list[str] = []
    size = 0
    number = 0
    while size < LONG_CHARS:
        paragraph = f"{number + 1}. {PARAGRAPHS[number % len(PARAGRAPHS)]}\n"
        parts.append(paragraph)
        size += len(paragraph)
        number += 1
    return "".join(parts)[:LONG_CHARS].rstrip()


# --- the long article, through ingest and the real worker -------------------------------------


@pytest.fixture(scope="module")
def long_article(
    worker: Any, ingest_app: Any, wait_indexed_module: Callable[[list[str]], None]
) -> str:
    body = long_body()
    assert len(body) > 1_000_000 + 800_000  # past Elasticsearch's highlighting default
    response = ingest_app.test_client().post(
        "/articles",
        json={
            "title": TITLE,
            "body": body,
            "source": "Harbour Gazette",
            "published_at": "2025-09-30",
            "url": f"https://example.org/{WORD}",
        },
    )
    assert response.status_code == 202, response.get_json()
    article_id: str = response.get_json()["articles"][0]["id"]
    wait_indexed_module([article_id])
    return article_id


def _hit(found: dict[str, Any], article_id: str) -> dict[str, Any]:
    hits: dict[str, dict[str, Any]] = {hit["id"]: hit for hit in found["hits"]}
    assert article_id in hits, [hit["title"] for hit in found["hits"]]
    return hits[article_id]


@pytest.mark.stack
@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_a_search_listing_a_long_article_answers_with_highlights(
    long_article: str, web_client: FlaskClient, mode: str
) -> None:
    response = web_client.get("/api/search", query_string={"q": "terminal spring", "mode": mode})
    assert response.status_code == 200, response.get_json()
    hit = _hit(response.get_json(), long_article)
    assert "<mark>terminal</mark>" in hit["title_html"].lower()
    assert "<mark>spring</mark>" in hit["title_html"].lower()
    assert "<mark>" in hit["snippet"]  # fragments of the body, from its first million characters
    assert hit["word_count"] > 250_000


@pytest.mark.stack
def test_the_page_and_the_feeds_of_that_search_work(
    long_article: str, web_client: FlaskClient
) -> None:
    page = web_client.get("/", query_string={"q": "terminal spring"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"/articles/{long_article}" in html
    assert "<mark>" in html

    atom = web_client.get("/feed.atom", query_string={"q": "terminal spring"})
    assert atom.status_code == 200
    parsed = feedparser.parse(atom.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert TITLE in [entry.title for entry in parsed.entries]
    as_json = web_client.get("/feed.json", query_string={"q": "terminal spring"})
    assert as_json.status_code == 200
    assert TITLE in [item["title"] for item in as_json.get_json()["items"]]

    article = web_client.get(f"/articles/{long_article}")
    assert article.status_code == 200
    related = web_client.get(f"/api/articles/{long_article}/related")
    assert related.status_code == 200


# --- prefix cost cap ---------------------------------------------------------------------------

EXPENSIVE = " ".join(f"{chr(ord('a') + n % 26)}*" for n in range(MAX_QUERY_PREFIXES + 1))
AT_THE_CAP = " | ".join(f"{chr(ord('a') + n)}*" for n in range(MAX_QUERY_PREFIXES))


def test_the_cap_counts_every_prefix_operator() -> None:
    assert query_problem(AT_THE_CAP) is None
    assert query_problem("terminal spring") is None
    assert "prefix operators" in (query_problem(EXPENSIVE) or "")
    assert "prefix operators" in (query_problem("*" * (MAX_QUERY_PREFIXES + 1)) or "")
    assert "1000 characters" in (query_problem("x" * 1001) or "")


@pytest.mark.stack
def test_an_expensive_query_is_refused_everywhere(web_client: FlaskClient) -> None:
    for path in ("/api/search", "/api/export", "/feed.atom", "/feed.json"):
        refused = web_client.get(path, query_string={"q": EXPENSIVE})
        assert refused.status_code == 400, path
        assert refused.mimetype == "application/problem+json"
        problem = refused.get_json()
        assert problem["title"] == "Query too expensive"
        assert problem["parameter"] == "q"
        assert f"at most {MAX_QUERY_PREFIXES} prefix operators" in problem["detail"]
    page = web_client.get("/", query_string={"q": EXPENSIVE})
    assert page.status_code == 400
    assert "Query too expensive." in page.get_data(as_text=True)
    # At the cap, it runs.
    assert web_client.get("/api/search", query_string={"q": AT_THE_CAP}).status_code == 200


@pytest.mark.stack
def test_an_expensive_query_cannot_be_saved_as_an_alert(web_client: FlaskClient) -> None:
    name = f"expensive {WORD}"
    as_json = web_client.post("/api/saved-searches", json={"name": name, "q": EXPENSIVE})
    assert as_json.status_code == 400
    assert as_json.get_json()["title"] == "Query too expensive"
    as_form = web_client.post("/api/saved-searches", query_string={"name": name, "q": EXPENSIVE})
    assert as_form.status_code == 400
    saved = web_client.get("/api/saved-searches").get_json()["saved_searches"]
    assert name not in [entry["name"] for entry in saved]


# --- timeouts, against an Elasticsearch that never answers --------------------------------------


class SilentServer:
    """A TCP server on loopback that reads requests and never answers: a hung Elasticsearch.
    It keeps the first request it read, to show what the web sent."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[bytes] = []
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.connections.append(connection)
            threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: socket.socket) -> None:
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
                head, _, body = received.partition(b"\r\n\r\n")
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length:")),
                    0,
                )  # fmt: skip
                if b"\r\n\r\n" in received and len(body) >= length:
                    self.requests.append(received)
                    received = b""
        except OSError:
            return

    def close(self) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def silent_elasticsearch() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def test_a_search_gives_up_on_a_hung_elasticsearch(
    silent_elasticsearch: SilentServer, settings: Settings
) -> None:
    hung = settings.model_copy(
        update={
            "elasticsearch_url": f"http://127.0.0.1:{silent_elasticsearch.port}",
            "search_timeout_s": 0.5,
            "search_highlight_max_chars": 250_000,
        }
    )
    client = web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": hung}).test_client()
    for path in ("/api/search", "/api/export"):
        started = time.monotonic()
        response = client.get(path, query_string={"q": "terminal spring", "mode": "keyword"})
        waited = time.monotonic() - started
        assert response.status_code == 503, path
        assert response.get_json()["title"] == "Search unavailable"
        # The client gives up at twice the search timeout (1 s), not at the general 10 s.
        assert waited < 5, (path, waited)
    sent = [json.loads(request.partition(b"\r\n\r\n")[2] or b"{}") for request in
            silent_elasticsearch.requests]  # fmt: skip
    assert sent, "no request reached the server"
    assert all(body.get("timeout") == "500ms" for body in sent), sent
    highlighted = [body for body in sent if "highlight" in body]
    assert highlighted, "the hits request was not sent"
    assert all(body["highlight"]["max_analyzed_offset"] == 250_000 for body in highlighted)


class StallingProxy:
    """An HTTP proxy on loopback in front of the real Elasticsearch that forwards its first
    ``forward`` requests and then holds every later one unanswered (an Elasticsearch that
    stalls midway). From the ``time_out_from``-th request on, it answers searches as
    Elasticsearch does when a search runs past its ``timeout``: ``"timed_out": true``."""

    def __init__(self, target: str, forward: int, time_out_from: int | None = None) -> None:
        self.forwarded = 0
        self.timed_out = 0
        self.stalled = threading.Event()
        proxy = self
        upstream = urlsplit(target)

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.forwarded >= forward:
                    proxy.stalled.set()
                    time.sleep(30)  # the client gives up first
                    return
                proxy.forwarded += 1
                connection = http.client.HTTPConnection(str(upstream.hostname), upstream.port)
                connection.request(self.command, self.path, body, dict(self.headers))
                answer = connection.getresponse()
                data = answer.read()
                late = time_out_from is not None and proxy.forwarded >= time_out_from
                if late and "/_search" in self.path and answer.status == 200:
                    data = json.dumps(json.loads(data) | {"timed_out": True}).encode()
                    proxy.timed_out += 1
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                connection.close()

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _any  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def export_index(services: None, settings: Settings) -> Iterator[Settings]:
    """Settings whose index holds more articles than one page of an export (bulk-indexed: this
    is about the export's paging, not enrichment), apart from the run's shared index."""
    own = settings.model_copy(update={"index_prefix": f"{settings.index_prefix}-export"})
    es = get_elasticsearch(own)
    create_index(es, own, index_name(own), {own.articles_alias: {}}, article_mappings())
    helpers.bulk(
        es,
        (
            {
                "_index": own.articles_alias,
                "_id": f"{n:032x}",
                "_source": {
                    "id": f"{n:032x}",
                    "title": f"Quay report {n}",
                    "body": "The terminal opened its new quay in the spring.",
                    "published_at": "2025-04-01",
                },
            }
            for n in range(EXPORT_CHUNK + 20)
        ),
        refresh=True,
    )
    yield own
    es.indices.delete(index=index_name(own))


def _stalling(
    export_settings: Settings, forward: int, time_out_from: int | None = None
) -> tuple[StallingProxy, FlaskClient]:
    proxy = StallingProxy(export_settings.elasticsearch_url.split(",")[0], forward, time_out_from)
    stalling = export_settings.model_copy(
        update={"elasticsearch_url": f"http://127.0.0.1:{proxy.port}", "search_timeout_s": 0.5}
    )
    return proxy, web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": stalling}).test_client()


@pytest.mark.stack
def test_an_export_that_stalls_midway_is_cut_off_not_short(export_index: Settings) -> None:
    """Elasticsearch answers the count and the first page, then stops answering. The answer
    has started (200, the first rows), so the transfer must fail (a server then closes it
    unfinished), never end cleanly as a file that looks whole but lacks rows."""
    proxy, client = _stalling(export_index, forward=2)
    try:
        response = client.get("/api/export", query_string={"q": "quay", "format": "ndjson"})
        assert response.status_code == 200
        assert response.headers["X-Export-Rows"] == str(EXPORT_CHUNK + 20)
        with pytest.raises(ConnectionTimeout):
            response.get_data()
        assert proxy.stalled.is_set()
    finally:
        proxy.close()


@pytest.mark.stack
def test_an_export_whose_first_page_stalls_is_a_problem(export_index: Settings) -> None:
    proxy, client = _stalling(export_index, forward=1)  # the count only
    try:
        response = client.get("/api/export", query_string={"q": "quay"})
        assert response.status_code == 503
        assert response.get_json()["title"] == "Search unavailable"
        assert proxy.stalled.is_set()
    finally:
        proxy.close()


@pytest.mark.stack
def test_a_search_that_timed_out_says_so(export_index: Settings) -> None:
    """Elasticsearch answers with what it found by the timeout: the API says timed_out, the
    page says the results may be incomplete."""
    proxy, client = _stalling(export_index, forward=1000, time_out_from=1)
    try:
        found = client.get("/api/search", query_string={"q": "quay", "mode": "keyword"})
        assert found.status_code == 200
        assert found.get_json()["timed_out"] is True
        page = client.get("/", query_string={"q": "quay", "mode": "keyword"})
        assert "may be incomplete" in page.get_data(as_text=True)
        assert proxy.timed_out >= 2
    finally:
        proxy.close()
    # Without the fault, none of that.
    client = web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": export_index}).test_client()
    found = client.get("/api/search", query_string={"q": "quay", "mode": "keyword"})
    assert found.get_json()["timed_out"] is False
    page = client.get("/", query_string={"q": "quay", "mode": "keyword"})
    assert "may be incomplete" not in page.get_data(as_text=True)


@pytest.mark.stack
def test_an_export_page_that_timed_out_is_never_written_short(export_index: Settings) -> None:
    # The count and the first page in time, the second page timed out: the transfer is cut.
    proxy, client = _stalling(export_index, forward=1000, time_out_from=3)
    try:
        response = client.get("/api/export", query_string={"q": "quay", "format": "ndjson"})
        assert response.status_code == 200
        with pytest.raises(ExportIncompleteError, match="timed out after 500 rows"):
            response.get_data()
        assert proxy.timed_out == 1
    finally:
        proxy.close()
    # The count or the first page timed out: nothing has been sent yet, so a problem (a short
    # count would make a short file look whole).
    for time_out_from, detail in ((1, "counting the export's rows"), (2, "after 0 rows")):
        proxy, client = _stalling(export_index, forward=1000, time_out_from=time_out_from)
        try:
            response = client.get("/api/export", query_string={"q": "quay"})
            assert response.status_code == 503
            assert detail in response.get_json()["detail"]
            assert proxy.timed_out == 1
        finally:
            proxy.close()
