"""A store that refuses our credentials answers 503, never 500 (shared/http.py's safety net
under the views): Elasticsearch answering 401 (a rotated ``ELASTIC_PASSWORD``, docker-compose
runs it with its security on) is a real HTTP server on loopback that refuses every request as
Elasticsearch does; Redis is the run's own."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import ingest
import web
from shared.settings import Settings

pytestmark = pytest.mark.usefixtures("services")

UNKNOWN_ID = "0" * 32


class _Refusing(BaseHTTPRequestHandler):
    def _refuse(self) -> None:
        body = json.dumps(
            {"error": {"type": "security_exception", "reason": "unable to authenticate"},
             "status": 401}
        ).encode()  # fmt: skip
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._refuse()

    def do_HEAD(self) -> None:
        self._refuse()

    def do_POST(self) -> None:
        self._refuse()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def refusing_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _problem_503(response: object) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)  # type: ignore[attr-defined]
    body = response.get_json()  # type: ignore[attr-defined]
    assert body["status"] == 503
    assert "Elasticsearch" in body["detail"], body


def test_elasticsearch_refusing_our_login_is_a_503(settings: Settings, refusing_url: str) -> None:
    refused = settings.model_copy(update={"elasticsearch_url": refusing_url})
    web_app = web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": refused})
    client = web_app.test_client()
    _problem_503(client.get(f"/api/articles/{UNKNOWN_ID}"))
    _problem_503(client.get(f"/api/articles/{UNKNOWN_ID}/related"))
    ingest_app = ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": refused})
    _problem_503(ingest_app.test_client().get(f"/articles/{UNKNOWN_ID}"))
