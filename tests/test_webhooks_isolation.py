"""Webhooks cannot slow ingestion (issue 12, item 6): a total deadline per delivery, a queue of
their own, at most N deliveries at once per destination, a circuit breaker per destination.

Every receiver here is a real server on 127.0.0.1 (``Peer``) that drips, never answers,
floods, fails or holds its answer; the limits live in the real Redis; the last test runs a
live worker and a webhook worker as real Celery processes.
"""

from __future__ import annotations

import asyncio
import os
import select
import shutil
import socket
import ssl
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

import ingest
import web
from shared import saved_searches as store
from shared.clients import get_redis
from shared.settings import Settings
from tests.conftest import (
    RUN_ID,
    drop_data,
    signed_in_client,
    start_worker,
    stop_worker,
    wait_until,
)
from worker import webhook_guard as guard
from worker import webhooks
from worker.alerts import DeliveryOutcome, backoff_s, run_delivery
from worker.webhooks import MAX_RESPONSE_BYTES, DeliveryError, parse_url, post_json

DRIP_EVERY_S = 0.25
# What a delivery may overrun its deadline by: asyncio notices the deadline within
# milliseconds; the rest is the receiver noticing the hang-up (it polls every DRIP_EVERY_S).
SLACK_S = 0.75


@dataclass
class Connection:
    opened: float
    closed: float | None = None
    request: bytes = b""


@dataclass
class Peer:
    """A webhook receiver that behaves as told (``mode`` may change while it runs):

    - ``answer``: holds ``hold_s``, then answers ``status`` with an empty body;
    - ``drip``: answers one byte every 0.25 s, forever (the status line never ends);
    - ``drip_body``: a 200 status and headers at once, then a 1 MB body one byte per 0.25 s;
    - ``silent``: reads the request and never answers;
    - ``flood``: a 200 and an endless body as fast as the socket takes it.

    Counts connections and how many were open at once, and when each opened and closed."""

    mode: str = "answer"
    status: int = 200
    hold_s: float = 0.0
    connections: list[Connection] = field(default_factory=list)
    open_now: int = 0
    max_open: int = 0
    flooded_bytes: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            record = Connection(time.monotonic())
            with self.lock:
                self.connections.append(record)
                self.open_now += 1
                self.max_open = max(self.max_open, self.open_now)
            threading.Thread(target=self._serve, args=(conn, record), daemon=True).start()

    def _serve(self, conn: socket.socket, record: Connection) -> None:
        try:
            record.request = _read_request(conn)
            getattr(self, f"_{self.mode}")(conn)
        except OSError:
            pass
        finally:
            record.closed = time.monotonic()
            with self.lock:
                self.open_now -= 1
            conn.close()

    def _hung_up(self, conn: socket.socket, wait_s: float) -> bool:
        """Wait up to ``wait_s``; True when the client closed the connection meanwhile."""
        readable, _, _ = select.select([conn], [], [], wait_s)
        return bool(readable) and conn.recv(4096) == b""

    def _answer(self, conn: socket.socket) -> None:
        if self.hold_s and (self._hung_up(conn, self.hold_s) or self.stopping.is_set()):
            return
        conn.sendall(
            f"HTTP/1.1 {self.status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )

    def _drip(self, conn: socket.socket, data: bytes = b"") -> None:
        for byte in data or iter(lambda: b"a", None):
            if self.stopping.is_set() or self._hung_up(conn, DRIP_EVERY_S):
                return
            conn.sendall(bytes([byte]) if isinstance(byte, int) else byte)

    def _drip_body(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
        self._drip(conn, b"x" * 1_000_000)

    def _silent(self, conn: socket.socket) -> None:
        while not self.stopping.is_set() and not self._hung_up(conn, DRIP_EVERY_S):
            pass

    def _flood(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
        chunk = b"y" * 65536
        while not self.stopping.is_set():
            conn.sendall(chunk)
            self.flooded_bytes += len(chunk)

    def durations(self) -> list[float]:
        return [c.closed - c.opened for c in self.connections if c.closed is not None]

    def close(self) -> None:
        self.stopping.set()
        self.server.close()


def _read_request(conn: socket.socket) -> bytes:
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    conn.settimeout(None)
    return head + b"\r\n\r\n" + body


@pytest.fixture
def peer() -> Iterator[Peer]:
    server = Peer()
    yield server
    server.close()


def _post(url: str, *, timeout_s: float, deadline_s: float) -> tuple[float, Any]:
    started = time.monotonic()
    try:
        result: Any = post_json(
            url,
            b'{"event":"test"}',
            headers={},
            timeout_s=timeout_s,
            deadline_s=deadline_s,
            allow_private=True,
        )
    except DeliveryError as error:
        result = error
    return time.monotonic() - started, result


# --- pure functions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "key", "host_header", "target"),
    [
        ("https://Hooks.Example.org/x?y=1", "hooks.example.org:443", "hooks.example.org", "/x?y=1"),
        ("http://hooks.example.org:8080", "hooks.example.org:8080", "hooks.example.org:8080", "/"),
        ("http://[2001:db8::1]/h", "2001:db8::1:80", "[2001:db8::1]", "/h"),
        ("https://[2001:db8::1]:8443/h", "2001:db8::1:8443", "[2001:db8::1]:8443", "/h"),
    ],
)
def test_destinations(url: str, key: str, host_header: str, target: str) -> None:
    destination = parse_url(url)
    assert destination.key == key  # one destination, whatever the path: its limits are shared
    assert destination.host_header == host_header
    assert destination.target == target


@pytest.mark.parametrize("url", ["ftp://example.org/x", "http:///x", "http://example.org:99999/"])
def test_bad_urls_fail_for_good(url: str) -> None:
    with pytest.raises(DeliveryError) as raised:
        parse_url(url)
    assert raised.value.permanent


def test_backoff() -> None:
    assert [backoff_s(n) for n in (1, 2, 3, 8, 9, 20)] == [2, 4, 8, 256, 300, 300]


# --- the deadline: whatever the receiver does ---------------------------------------------------


def test_a_dripping_receiver_is_cut_at_the_deadline(peer: Peer) -> None:
    """One byte every 0.25 s never trips a 1 s read timeout: before, a 1 KB answer dripped so
    held a delivery 260 s. Now the delivery ends at its deadline, as a failure worth retrying."""
    peer.mode = "drip"
    took, result = _post(peer.url, timeout_s=1, deadline_s=2)
    print(f"\ndrip, read timeout 1 s, deadline 2 s: {took:.2f} s, {result}")
    assert isinstance(result, DeliveryError)
    assert not result.permanent
    assert "deadline" in str(result)
    assert 2 <= took < 2 + SLACK_S
    wait_until(lambda: peer.durations(), timeout_s=5)
    assert peer.durations()[0] < 2 + SLACK_S  # the connection was closed, not left dripping


def test_a_caller_with_its_own_running_event_loop_can_deliver(peer: Peer) -> None:
    """asyncio.run cannot nest: called from a thread whose event loop is running (an async
    caller; Playwright's sync API left one running in the test session), the delivery runs
    in a thread of its own, under the same deadline."""
    peer.mode = "drip"

    async def caller() -> tuple[float, Any]:
        return _post(peer.url, timeout_s=1, deadline_s=1.5)

    took, result = asyncio.run(caller())
    assert isinstance(result, DeliveryError)
    assert "deadline" in str(result)
    assert 1.5 <= took < 1.5 + SLACK_S


def test_a_status_then_a_dripping_body_counts_by_its_status(peer: Peer) -> None:
    peer.mode = "drip_body"
    took, result = _post(peer.url, timeout_s=1, deadline_s=1.5)
    assert result.status == 200
    assert 1.5 <= took < 1.5 + SLACK_S


def test_a_silent_receiver_is_cut_at_the_deadline_not_the_read_timeout(peer: Peer) -> None:
    peer.mode = "silent"
    took, result = _post(peer.url, timeout_s=30, deadline_s=1.5)
    assert isinstance(result, DeliveryError)
    assert not result.permanent
    assert 1.5 <= took < 1.5 + SLACK_S
    # With a read timeout shorter than the deadline, that one ends it first.
    took, result = _post(peer.url, timeout_s=0.5, deadline_s=5)
    assert isinstance(result, DeliveryError)
    assert "ReadTimeout" in str(result)
    assert took < 0.5 + SLACK_S


def test_an_endless_answer_is_read_only_up_to_the_cap(peer: Peer) -> None:
    peer.mode = "flood"
    took, result = _post(peer.url, timeout_s=1, deadline_s=5)
    assert result.status == 200
    assert took < 1.0  # hung up after MAX_RESPONSE_BYTES, not at the deadline
    wait_until(lambda: peer.durations(), timeout_s=5)
    # What the server wrote before noticing: the cap plus what the socket buffers held.
    assert MAX_RESPONSE_BYTES <= peer.flooded_bytes < 64 * 1024 * 1024


def test_an_unanswered_connect_is_cut_at_the_deadline() -> None:
    """A listening socket that never accepts, its backlog full: the connect hangs."""
    with socket.create_server(("127.0.0.1", 0), backlog=0) as server:
        port = server.getsockname()[1]
        fillers = []
        for _ in range(8):  # fill the accept queue; later SYNs get no answer
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        try:
            took, result = _post(f"http://127.0.0.1:{port}/h", timeout_s=30, deadline_s=1.5)
        finally:
            for filler in fillers:
                filler.close()
    assert isinstance(result, DeliveryError)
    assert not result.permanent
    assert took < 1.5 + SLACK_S


# --- TLS: the address checked, the certificate of the name ------------------------------------


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


@dataclass
class TLSReceiver:
    url: str
    cert: Path  # for localhost
    other: tuple[Path, Path]  # key and certificate for another name
    context: ssl.SSLContext  # the server's: load another chain to switch certificates
    seen: list[tuple[str, str]]  # ("sni", name) per handshake, ("host", header) per request


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[TLSReceiver]:
    """An HTTPS receiver on the address ``localhost`` resolves to, with a certificate for
    ``localhost``."""
    key, cert = _certificate(tmp_path, "localhost")
    other = _certificate(tmp_path, "other.test")
    seen: list[tuple[str, str]] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def on_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        seen.append(("sni", name or ""))

    context.sni_callback = on_sni

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append(("host", self.headers["Host"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    address = str(socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)[0][4][0])
    if ":" in address:
        pytest.skip("localhost resolves to IPv6 first here")
    server = ThreadingHTTPServer((address, 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield TLSReceiver(
        f"https://localhost:{server.server_address[1]}/hook", cert, other, context, seen
    )
    server.shutdown()
    server.server_close()


def test_tls_verifies_the_certificate_of_the_name(
    tls_receiver: TLSReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = tls_receiver
    # Not trusted (self-signed): refused, worth retrying.
    _, result = _post(receiver.url, timeout_s=2, deadline_s=5)
    assert isinstance(result, DeliveryError), result
    assert "CERTIFICATE_VERIFY_FAILED" in str(result)
    # Trusted: delivered to the address checked, with the name as SNI and as Host.
    trusted = tmp_path / "trusted.pem"
    trusted.write_bytes(receiver.cert.read_bytes() + receiver.other[1].read_bytes())
    monkeypatch.setattr(webhooks, "_tls", ssl.create_default_context(cafile=str(trusted)))
    _, result = _post(receiver.url, timeout_s=2, deadline_s=5)
    assert getattr(result, "status", None) == 200, result
    port = receiver.url.split(":")[2].split("/")[0]
    assert ("sni", "localhost") in receiver.seen
    assert ("host", f"localhost:{port}") in receiver.seen
    # A trusted certificate for another name: refused (checked against the URL's name, not
    # the address connected to).
    receiver.context.load_cert_chain(receiver.other[1], receiver.other[0])
    _, result = _post(receiver.url, timeout_s=2, deadline_s=5)
    assert isinstance(result, DeliveryError), result
    assert "localhost" in str(result) or "mismatch" in str(result).lower(), result


# --- per-destination concurrency and the circuit breaker (real Redis) ----------------------------


SavedFactory = Callable[[str], store.SavedSearch]


@pytest.fixture
def saved(services: None, settings: Settings) -> Iterator[SavedFactory]:
    """Saved searches with a webhook to the URL given, in the session's store; deleted after
    the test (other tests list the store)."""
    made: list[store.SavedSearch] = []
    redis_client = get_redis(settings)

    def make(url: str) -> store.SavedSearch:
        search = store.SavedSearch(
            id=store.new_id(),
            name="Webhook isolation",
            params={"q": "webhook isolation", "mode": "keyword"},
            query={"match_all": {}},
            knn_filter=[],
            mode="keyword",
            similarity=None,
            created_at="2025-01-01T00:00:00Z",
            webhook_url=url,
        )
        created = store.create(redis_client, settings.index_prefix, search, None, max_saved=10_000)
        assert created == "created"
        made.append(search)
        return search

    yield make
    for search in made:
        store.delete(redis_client, settings.index_prefix, search.id)


def _run(search: store.SavedSearch, settings: Settings, attempt: int = 1) -> DeliveryOutcome:
    return run_delivery(
        search,
        {"event": "test"},
        "d1",
        attempt=attempt,
        slot_waits=0,
        redis_client=get_redis(settings),
        settings=settings,
    )


@pytest.mark.usefixtures("services")
def test_at_most_n_deliveries_at_once_per_destination(
    settings: Settings, peer: Peer, saved: SavedFactory
) -> None:
    own = settings.model_copy(update={"alerts_webhook_max_per_host": 2})
    peer.hold_s = 2.0  # long enough that all six ask while the first two deliver
    search = saved(peer.url)
    with ThreadPoolExecutor(6) as pool:
        started = time.monotonic()
        outcomes = list(pool.map(lambda _: (_run(search, own), time.monotonic()), range(6)))
    states = sorted(outcome.state for outcome, _ in outcomes)
    assert states == ["delivered"] * 2 + ["waiting"] * 4, states
    for outcome, ended in outcomes:
        if outcome.state == "waiting":  # told to come back later, at once: no worker waits
            assert ended - started < 1.5
            assert 1 <= outcome.countdown_s <= 5
            assert outcome.attempt == 1  # a wait is not an attempt
            assert outcome.slot_waits == 1
    assert peer.max_open == 2
    assert len(peer.connections) == 2
    # The slots are given back: the next ones go.
    with ThreadPoolExecutor(2) as pool:
        assert [o.state for o in pool.map(lambda _: _run(search, own), range(2))] == [
            "delivered",
            "delivered",
        ]
    assert peer.max_open == 2


@pytest.mark.usefixtures("services")
def test_a_slot_held_by_a_dead_worker_expires(settings: Settings) -> None:
    redis_client = get_redis(settings)
    host = f"dead-worker-{RUN_ID}.example:80"
    held = guard.admit(redis_client, settings.index_prefix, host, limit=1, lease_s=0.5)
    assert held.verdict == "go"
    # Never given back (the worker was killed): busy until the lease ends, then free.
    assert guard.admit(redis_client, settings.index_prefix, host, limit=1, lease_s=0.5).verdict == (
        "busy"
    )
    time.sleep(0.6)
    again = guard.admit(redis_client, settings.index_prefix, host, limit=1, lease_s=0.5)
    assert again.verdict == "go"
    slots = f"{settings.index_prefix}:webhook:{host}:slots"
    assert redis_client.zcard(slots) == 1  # the dead one's slot is gone
    assert 0 < redis_client.pttl(slots) <= 500  # the key itself expires with the lease
    guard.finish(
        redis_client, settings.index_prefix, host, again.token, "up", threshold=3, cooldown_s=1
    )
    assert not redis_client.exists(slots)


@pytest.mark.usefixtures("services")
def test_the_breaker_opens_after_k_failures_and_a_trial_closes_it(
    settings: Settings, peer: Peer, saved: SavedFactory
) -> None:
    own = settings.model_copy(
        update={"alerts_webhook_breaker_failures": 3, "alerts_webhook_breaker_cooldown_s": 2.0}
    )
    redis_client = get_redis(settings)
    peer.status = 500
    search = saved(peer.url)
    host = f"127.0.0.1:{peer.port}"
    for attempt in (1, 2, 3):
        outcome = _run(search, own, attempt)
        assert outcome.state == "retrying"
        assert "answered 500" in outcome.detail
    assert len(peer.connections) == 3
    state = guard.state(redis_client, settings.index_prefix, host)
    assert state["failures"] == "3"
    assert "open_until" in state
    # Open: deliveries due now are not sent; each counts an attempt and waits out the cool-down.
    for attempt in (4, 5):
        outcome = _run(search, own, attempt)
        assert outcome.state == "retrying"
        assert "not contacted" in outcome.detail
        assert outcome.attempt == attempt + 1
        assert outcome.countdown_s >= 2**attempt  # at least the backoff, at least the rest
    assert len(peer.connections) == 3  # no connection during the cool-down
    assert redis_client.pttl(f"{settings.index_prefix}:webhook:{host}:breaker") > 0
    time.sleep(2.1)
    # After the cool-down: one trial. It fails: open again, for another cool-down.
    assert "answered 500" in _run(search, own, 6).detail
    assert len(peer.connections) == 4
    assert "not contacted" in _run(search, own, 7).detail
    assert len(peer.connections) == 4
    time.sleep(2.1)
    # The next trial succeeds: closed, the failures forgotten.
    peer.status = 200
    assert _run(search, own, 8).state == "delivered"
    assert len(peer.connections) == 5
    assert guard.state(redis_client, settings.index_prefix, host) == {}
    delivery = store.get_delivery(redis_client, settings.index_prefix, search.id)
    assert delivery is not None
    assert delivery["state"] == "delivered"


@pytest.mark.usefixtures("services")
def test_one_trial_at_a_time_after_the_cool_down(
    settings: Settings, peer: Peer, saved: SavedFactory
) -> None:
    own = settings.model_copy(
        update={"alerts_webhook_breaker_failures": 1, "alerts_webhook_breaker_cooldown_s": 1.0}
    )
    peer.status = 503
    search = saved(peer.url)
    assert _run(search, own).state == "retrying"
    time.sleep(1.1)
    peer.status, peer.hold_s = 200, 2.0
    with ThreadPoolExecutor(4) as pool:
        details = [o.detail for o in pool.map(lambda _: _run(search, own), range(4))]
    assert sum("HTTP 200" in d for d in details) == 1, details
    assert sum("not contacted" in d for d in details) == 3, details
    assert len(peer.connections) == 2


@pytest.mark.usefixtures("services")
def test_the_retry_budget_ends_in_failed(
    settings: Settings, peer: Peer, saved: SavedFactory
) -> None:
    own = settings.model_copy(
        update={"alerts_webhook_max_retries": 2, "alerts_webhook_breaker_failures": 100}
    )
    peer.status = 502
    search = saved(peer.url)
    redis_client = get_redis(settings)
    assert [_run(search, own, attempt).state for attempt in (1, 2, 3)] == [
        "retrying",
        "retrying",
        "failed",
    ]
    delivery = store.get_delivery(redis_client, settings.index_prefix, search.id)
    assert delivery is not None
    assert delivery["state"] == "failed"
    assert delivery["detail"] == "attempt 3: the receiver answered 502"
    # A 4xx is an answer: permanent, and the receiver counts as up for the breaker.
    peer.status = 404
    assert _run(search, own).state == "failed"
    assert guard.state(redis_client, settings.index_prefix, f"127.0.0.1:{peer.port}") == {}


# --- the stack: a live worker and a webhook worker, real processes --------------------------------


@dataclass
class Stack:
    settings: Settings
    ingest: FlaskClient
    web: FlaskClient
    live_log: Path
    webhook_log: Path

    def post(self, n: int, word: str) -> str:
        response = self.ingest.post(
            "/articles",
            json=[{"title": f"Harbour {word} news {n}", "body": f"The {word} harbour {n}."}],
        )
        assert response.status_code == 202, response.get_json()
        article_id: str = response.get_json()["articles"][0]["id"]
        return article_id

    def indexed(self, article_id: str) -> bool:
        state = self.ingest.get(f"/articles/{article_id}").get_json()["state"]
        assert state not in ("failed", "dead_lettered"), state
        return bool(state == "indexed")

    def latency(self, n: int, word: str) -> tuple[float, float, float]:
        """Post one article; (posted, indexed, seconds) as the client sees them."""
        posted = time.monotonic()
        article_id = self.post(n, word)
        wait_until(lambda: self.indexed(article_id), timeout_s=60, interval_s=0.05)
        done = time.monotonic()
        return posted, done, done - posted


DEADLINE_S = 6.0


@pytest.fixture(scope="module")
def stack(
    services: None, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Its own prefix and queues; one live worker with ONE process (a delivery on it would
    stop ingestion outright) and one webhook worker (threads)."""
    own = settings.model_copy(
        update={
            "index_prefix": f"{settings.index_prefix}-webhooks",
            "queue_name": f"test-{RUN_ID}-wh-live",
            "bulk_queue_name": f"test-{RUN_ID}-wh-bulk",
            "webhook_queue_name": f"test-{RUN_ID}-wh-webhooks",
        }
    )
    env = os.environ | {
        "NEWSROOM_INDEX_PREFIX": own.index_prefix,
        "NEWSROOM_QUEUE_NAME": own.queue_name,
        "NEWSROOM_BULK_QUEUE_NAME": own.bulk_queue_name,
        "NEWSROOM_WEBHOOK_QUEUE_NAME": own.webhook_queue_name,
        "NEWSROOM_ALERTS_WEBHOOK_TIMEOUT_S": "1",
        "NEWSROOM_ALERTS_WEBHOOK_DEADLINE_S": str(DEADLINE_S),
        "NEWSROOM_ALERTS_WEBHOOK_MAX_PER_HOST": "1",
    }
    logs = tmp_path_factory.mktemp("webhooks")
    live = start_worker(
        env, logs / "live.log", [own.queue_name], f"wh-live-{RUN_ID}", "--concurrency", "1"
    )
    hooks = start_worker(
        env,
        logs / "webhooks.log",
        [own.webhook_queue_name],
        f"wh-hooks-{RUN_ID}",
        "--pool",
        "threads",
        "--concurrency",
        "4",
    )
    try:
        yield Stack(
            own,
            ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own}).test_client(),
            signed_in_client(web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own})),
            logs / "live.log",
            logs / "webhooks.log",
        )
    finally:
        stop_worker(hooks)
        stop_worker(live)
        drop_data(own)


def _delivery_state(stack: Stack, saved_id: str) -> str | None:
    found = stack.web.get(f"/api/saved-searches/{saved_id}").get_json()
    return ((found.get("webhook") or {}).get("last_delivery") or {}).get("state")


def _save(stack: Stack, word: str, url: str) -> str:
    response = stack.web.post(
        "/api/saved-searches", json={"q": word, "mode": "keyword", "webhook_url": url}
    )
    assert response.status_code == 201, response.get_json()
    saved_id: str = response.get_json()["id"]
    return saved_id


@pytest.mark.stack
def test_a_dripping_receiver_does_not_delay_articles(stack: Stack, peer: Peer) -> None:
    word = "wh" + RUN_ID
    # Quiet: the freshness of 10 articles posted one after the other, no webhook.
    stack.latency(0, "warmup")
    quiet = [stack.latency(n, "quiet")[2] for n in range(10)]
    # A saved search whose webhook drips; one matching article starts the delivery.
    peer.mode = "drip"
    saved_id = _save(stack, word, peer.url)
    stack.post(0, word)
    wait_until(lambda: peer.connections, timeout_s=60, interval_s=0.05)
    # While the delivery is in flight: the same articles (not matching: the drip stays one).
    during = [stack.latency(n, "busy") for n in range(10)]
    wait_until(lambda: peer.connections[0].closed, timeout_s=DEADLINE_S + 5)
    first = peer.connections[0]
    assert first.closed is not None
    in_flight = [d for d in during if first.opened <= d[0] and d[1] <= first.closed]
    print(
        f"\nquiet freshness median {statistics.median(quiet):.2f} s, max {max(quiet):.2f} s;"
        f" while a webhook dripped: median {statistics.median(d[2] for d in during):.2f} s,"
        f" max {max(d[2] for d in during):.2f} s; {len(in_flight)} of 10 posted and indexed"
        f" within the delivery ({first.closed - first.opened:.2f} s, deadline {DEADLINE_S} s)"
    )
    # Ingestion went on while the delivery was in flight (one live process: had the delivery
    # run on it, no article could have been indexed meanwhile).
    assert len(in_flight) >= 2
    assert max(d[2] for d in during) < max(5.0, 4 * max(quiet))
    # Each attempt ends at the deadline; then it is retried, and delivered once the receiver
    # answers.
    assert first.closed - first.opened < DEADLINE_S + SLACK_S
    peer.mode = "answer"
    wait_until(lambda: _delivery_state(stack, saved_id) == "delivered", timeout_s=60)
    assert all(d < DEADLINE_S + SLACK_S for d in peer.durations())
    # Deliveries ran on the webhook worker only.
    live_log = stack.live_log.read_text()
    hook_log = stack.webhook_log.read_text()
    assert "Task newsroom.process_articles" in live_log
    assert "Task newsroom.deliver_webhook" not in live_log
    assert "Task newsroom.process_articles" not in hook_log
    assert hook_log.count("Task newsroom.deliver_webhook") >= 2  # the attempt and its retry


@pytest.mark.stack
def test_deliveries_to_one_host_wait_for_a_slot_without_holding_a_worker(
    stack: Stack, peer: Peer
) -> None:
    """Four saved searches, one receiver host, one slot per host (the stack's setting), four
    webhook threads: one delivery at a time reaches the receiver, and all four arrive."""
    word = "slot" + RUN_ID
    peer.hold_s = 0.5  # within the stack's read timeout (1 s): each POST succeeds
    saved = [_save(stack, word, f"{peer.url}?n={n}") for n in range(4)]
    stack.post(1, word)
    wait_until(
        lambda: all(_delivery_state(stack, saved_id) == "delivered" for saved_id in saved),
        timeout_s=90,
    )
    assert len(peer.connections) == 4
    assert peer.max_open == 1
    assert "waiting" in stack.webhook_log.read_text()  # some were queued again, then went
