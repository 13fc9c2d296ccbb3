"""Fixtures for tests against the real Redis, Elasticsearch and a real Celery worker process.

The test command (``make test``) starts Redis and Elasticsearch. Every run gets its own index
prefix, Redis database and queue, so tests never touch the data of a running ``make up``.
"""

from __future__ import annotations

import mailbox
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

RUN_ID = uuid.uuid4().hex[:8]
# Set before any project module reads its settings.
os.environ.update(
    {
        "NEWSROOM_ENVIRONMENT": "test",
        "NEWSROOM_REDIS_URL": os.environ.get(
            "NEWSROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"
        ),
        "NEWSROOM_ELASTICSEARCH_URL": os.environ.get(
            "NEWSROOM_TEST_ELASTICSEARCH_URL", "http://127.0.0.1:9200"
        ),
        "NEWSROOM_INDEX_PREFIX": f"newsroom-test-{RUN_ID}",
        "NEWSROOM_QUEUE_NAME": f"test-{RUN_ID}",
        "NEWSROOM_BULK_QUEUE_NAME": f"test-{RUN_ID}-bulk",
        "NEWSROOM_WEBHOOK_QUEUE_NAME": f"test-{RUN_ID}-webhooks",
        "HF_HUB_OFFLINE": "1",
        # The alert tests' webhook receivers listen on 127.0.0.1 (tests/test_alerts.py).
        "NEWSROOM_ALERTS_WEBHOOK_ALLOW_PRIVATE": "true",
        # Rate limits stay on, so web/limits.py runs on every limited request of the suite,
        # but far above what the suite sends from its one address (schemathesis alone sends
        # hundreds of searches and saved-search writes a minute as one editor);
        # tests/test_rate_limits.py gives its own apps small limits.
        "NEWSROOM_RATE_LIMIT_SEARCH": "100000/minute",
        "NEWSROOM_RATE_LIMIT_EXPORT": "100000/minute",
        "NEWSROOM_RATE_LIMIT_SUGGEST": "100000/minute",
        "NEWSROOM_RATE_LIMIT_SAVED": "100000/hour",
        # Email alerts go to the `smtp_server` fixture's server (its port reaches the worker).
        "NEWSROOM_SMTP_HOST": "127.0.0.1",
        "NEWSROOM_SMTP_STARTTLS": "false",
    }
)
os.environ.pop("NEWSROOM_INGEST_API_KEY", None)
os.environ.pop("NEWSROOM_INGEST_TOKEN", None)  # the CLI would send it where a test expects none

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402

import ingest  # noqa: E402
import web  # noqa: E402
from shared import accounts  # noqa: E402
from shared.clients import get_elasticsearch, get_redis  # noqa: E402
from shared.index import delete_templates  # noqa: E402
from shared.settings import Settings, get_settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT.parent / "shared" / "samples" / "trend-2025-09-30-media-forum.txt"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def services(settings: Settings) -> Iterator[None]:
    """Redis and Elasticsearch must answer; the test command starts them."""
    try:
        get_redis(settings).ping()
        get_elasticsearch(settings).cluster.health(wait_for_status="yellow", timeout="30s")
    except Exception as error:
        pytest.fail(f"Redis/Elasticsearch not reachable ({error}); run the tests with `make test`")
    yield
    drop_data(settings)


def drop_data(settings: Settings) -> None:
    """Delete the indices, Redis keys and queues of ``settings`` (a run's, or a test's own)."""
    es = get_elasticsearch(settings)
    # Deleting by wildcard is refused (action.destructive_requires_name): name each index.
    names = list(es.indices.get(index=f"{settings.index_prefix}-*", allow_no_indices=True))
    if names:
        es.indices.delete(index=",".join(names))
    # The index templates its workers published (shared.index.ensure_index), its own tests' too.
    delete_templates(es, settings, nested=True)
    redis_client = get_redis(settings)
    keys = list(redis_client.scan_iter(f"{settings.index_prefix}:*", count=1000))
    keys += [settings.queue_name, settings.bulk_queue_name, settings.webhook_queue_name]
    redis_client.delete(*keys)


def start_worker(
    env: dict[str, str],
    log_path: Path,
    queues: list[str],
    name: str,
    *options: str,
    app: str = "worker.celery_app",
) -> subprocess.Popen[bytes]:
    """A real Celery worker process of ``app``, started and ready (its output in
    ``log_path``); ``options`` go to ``celery worker`` (two pool processes by default)."""
    options = options or ("--concurrency", "2")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", app, "worker",
             "--queues", ",".join(queues), "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--hostname", f"{name}@%h", *options],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while b" ready." not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"celery worker did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return process


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass(frozen=True)
class SmtpServer:
    """A real SMTP server on 127.0.0.1 in a process of its own (tests/smtp_server.py): what it
    accepts lands in ``maildir``."""

    port: int
    maildir: Path

    def messages(self) -> list[mailbox.MaildirMessage]:
        return list(mailbox.Maildir(self.maildir, create=False)) if self.maildir.exists() else []


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    maildir = tmp_path_factory.mktemp("smtp") / "maildir"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.smtp_server", str(maildir)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()  # the port, once it listens
    if not line.strip().isdigit():
        process.kill()
        pytest.fail(f"the test SMTP server did not start: {line!r}")
    yield SmtpServer(int(line), maildir)
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def worker(
    services: None, smtp_server: SmtpServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process consuming this run's queues (its email alerts go to the
    ``smtp_server``)."""
    settings = get_settings()
    process = start_worker(
        os.environ.copy() | {"NEWSROOM_SMTP_PORT": str(smtp_server.port)},
        tmp_path_factory.mktemp("worker") / "worker.log",
        [settings.queue_name, settings.bulk_queue_name, settings.webhook_queue_name],
        f"test-{RUN_ID}",
    )
    yield process
    stop_worker(process)


@pytest.fixture(scope="session")
def ingest_app(services: None, settings: Settings) -> Flask:
    return ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": settings})


@pytest.fixture(scope="session")
def web_app(services: None, settings: Settings) -> Flask:
    return web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": settings})


@pytest.fixture
def ingest_client(ingest_app: Flask) -> FlaskClient:
    return ingest_app.test_client()


@dataclass(frozen=True)
class Login:
    """A logged-in web session: its user, cookie and CSRF token (web/auth.py)."""

    name: str
    role: accounts.Role
    cookie: str
    csrf_token: str

    def apply(self, client: FlaskClient) -> FlaskClient:
        """``client`` in this session; its requests carry the CSRF token in X-CSRFToken, as
        static/app.js sends it (forms carry it as a field; either passes)."""
        client.set_cookie("session", self.cookie)
        client.environ_base["HTTP_X_CSRFTOKEN"] = self.csrf_token
        return client


def sign_in(app: Flask, role: accounts.Role = "editor") -> Login:
    """A new user of ``role`` in ``app``'s account store, logged in through its /login page."""
    settings: Settings = app.extensions["newsroom_settings"]
    name = f"{role}-{uuid.uuid4().hex[:10]}"
    _, password = accounts.add_user(get_redis(settings), settings, name, role)
    client = app.test_client()
    form = client.get("/login").get_data(as_text=True)
    field = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert field, form
    response = client.post(
        "/login", data={"name": name, "password": password, "csrf_token": field.group(1)}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    page = client.get("/login").get_data(as_text=True)
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    cookie = client.get_cookie("session")
    assert meta, page
    assert cookie
    return Login(name, role, cookie.value, meta.group(1))


def signed_in_client(app: Flask, role: accounts.Role = "editor") -> FlaskClient:
    """A test client of ``app`` logged in as a new user of ``role``."""
    return sign_in(app, role).apply(app.test_client())


@pytest.fixture(scope="session")
def editor_login(web_app: Flask) -> Login:
    """The editor the web tests act as (created through shared.accounts, logged in once)."""
    return sign_in(web_app, "editor")


@pytest.fixture(scope="session")
def admin_login(web_app: Flask) -> Login:
    return sign_in(web_app, "admin")


@pytest.fixture
def web_client(web_app: Flask, editor_login: Login) -> FlaskClient:
    """The web app as its editor sees it: reading, and saving searches with alerts."""
    return editor_login.apply(web_app.test_client())


@pytest.fixture
def admin_client(web_app: Flask, admin_login: Login) -> FlaskClient:
    """The web app as an admin sees it (the pipeline page, every saved search)."""
    return admin_login.apply(web_app.test_client())


@pytest.fixture
def anonymous_client(web_app: Flask) -> FlaskClient:
    return web_app.test_client()


@pytest.fixture(scope="session")
def sample_text() -> str:
    return SAMPLE.read_text(encoding="utf-8")


def wait_until(
    condition: Callable[[], Any], timeout_s: float = 60, interval_s: float = 0.25
) -> Any:
    """Poll until ``condition()`` is truthy, returning it; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)


def _waiter(ingest_client: FlaskClient, settings: Settings) -> Callable[[list[str]], None]:
    def wait(ids: list[str]) -> None:
        def all_indexed() -> bool:
            states = {ingest_client.get(f"/articles/{i}").get_json()["state"] for i in ids}
            assert "failed" not in states, states
            return states == {"indexed"}

        wait_until(all_indexed)
        get_elasticsearch(settings).indices.refresh(index=settings.articles_alias)

    return wait


@pytest.fixture
def wait_indexed(ingest_client: FlaskClient, settings: Settings) -> Callable[[list[str]], None]:
    """Wait until every id reports ``indexed``, then refresh so searches see them."""
    return _waiter(ingest_client, settings)


@pytest.fixture(scope="module")
def wait_indexed_module(ingest_app: Flask, settings: Settings) -> Callable[[list[str]], None]:
    """``wait_indexed`` for module-scoped fixtures."""
    return _waiter(ingest_app.test_client(), settings)
