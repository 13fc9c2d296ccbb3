"""The Elasticsearch client's TLS and login settings (docker-compose runs Elasticsearch with its
security on), against a real TLS peer on loopback: a small https server whose certificate is
signed by a CA made here with openssl, and which wants a basic-auth login as Elasticsearch
does. (The suite's own Elasticsearch runs without security, the local default.)"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from elastic_transport import TlsError
from elasticsearch import AuthenticationException
from pydantic import SecretStr, ValidationError

from shared.clients import get_elasticsearch
from shared.settings import Settings

USER, PASSWORD = "elastic", "the-right-password"


@dataclass(frozen=True)
class TlsPeer:
    url: str
    ca: Path
    other_ca: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _make_ca(directory: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        wanted = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {wanted}":
            self._answer(401, {"error": {"type": "security_exception"}, "status": 401})
            return
        self._answer(200, {"cluster_name": "tls-peer", "status": "green"})

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="security"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsPeer]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test's certificates")
    directory = tmp_path_factory.mktemp("tls")
    _make_ca(directory, "ca")
    _make_ca(directory, "other-ca")
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=node", cwd=directory,
    )  # fmt: skip
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        "x509", "-req", "-in", "node.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "node.crt", "-days", "2", "-extfile", "san.cnf",
        cwd=directory,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "node.crt", directory / "node.key")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield TlsPeer(
            f"https://127.0.0.1:{server.server_address[1]}",
            directory / "ca.crt",
            directory / "other-ca.crt",
        )
    finally:
        server.shutdown()
        server.server_close()


def _secured(settings: Settings, url: str, ca: Path, password: str = PASSWORD) -> Settings:
    return settings.model_copy(
        update={
            "elasticsearch_url": url,
            "elasticsearch_ca_certs": str(ca),
            "elasticsearch_username": USER,
            "elasticsearch_password": SecretStr(password),
            "elasticsearch_timeout_s": 5.0,
        }
    )


def test_the_client_speaks_tls_checked_against_the_ca_with_its_login(
    settings: Settings, peer: TlsPeer
) -> None:
    es = get_elasticsearch(_secured(settings, peer.url, peer.ca))
    assert es.cluster.health()["cluster_name"] == "tls-peer"


def test_a_wrong_password_is_refused(settings: Settings, peer: TlsPeer) -> None:
    es = get_elasticsearch(_secured(settings, peer.url, peer.ca, password="not-" + PASSWORD))
    with pytest.raises(AuthenticationException):
        es.cluster.health()


def test_a_certificate_from_another_ca_is_refused(settings: Settings, peer: TlsPeer) -> None:
    es = get_elasticsearch(_secured(settings, peer.url, peer.other_ca))
    with pytest.raises(TlsError) as refused:
        es.options(max_retries=0).cluster.health()
    assert "CERTIFICATE_VERIFY_FAILED" in repr(refused.value)


def test_the_local_default_is_plain_http_on_loopback_without_a_login() -> None:
    fields = Settings.model_fields
    assert fields["elasticsearch_url"].default == "http://127.0.0.1:9200"
    for name in ("elasticsearch_ca_certs", "elasticsearch_username", "elasticsearch_password"):
        assert fields[name].default is None, name


def test_a_login_needs_both_halves_and_blank_means_none() -> None:
    with pytest.raises(ValidationError, match="go together"):
        Settings(_env_file=None, elasticsearch_username="elastic")
    blank = Settings(
        _env_file=None,
        elasticsearch_username=" ",
        elasticsearch_password="",
        elasticsearch_ca_certs="",
    )
    assert (blank.elasticsearch_username, blank.elasticsearch_password) == (None, None)
    assert blank.elasticsearch_ca_certs is None
    shown = repr(
        Settings(
            _env_file=None,
            elasticsearch_username="elastic",
            elasticsearch_password="hidden-value",
        )
    )
    assert "hidden-value" not in shown
