"""A Redis that wants a password (docker-compose's REDIS_PASSWORD): a real redis-server started
by scripts/services.sh with NEWSROOM_REDIS_PASSWORD on a port of its own. Every Redis client
(the status store, the Celery broker, the rate limits, ingest) takes the password from the one
setting NEWSROOM_REDIS_URL; a wrong one is a clear error, and ingest answers 503, never 500."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from kombu.exceptions import OperationalError
from limits.storage import storage_from_string
from redis.backoff import NoBackoff
from redis.retry import Retry

import ingest
import web
from shared.clients import get_broker_redis, get_redis
from shared.settings import Settings
from shared.tasks import celery_config, get_task_producer
from tests.conftest import ROOT
from tests.drill_support import free_port
from tests.test_ingest_auth import isolated

SERVICES = ROOT / "scripts" / "services.sh"


@dataclass(frozen=True)
class LockedRedis:
    port: int
    password: str
    state: Path

    def url(self, password: str | None = None) -> str:
        return f"redis://:{password or self.password}@127.0.0.1:{self.port}/0"


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LockedRedis]:
    server = LockedRedis(free_port(), secrets.token_hex(16), tmp_path_factory.mktemp("redis"))
    env = {
        **os.environ,
        "NEWSROOM_STATE_DIR": str(server.state),
        "NEWSROOM_REDIS_PORT": str(server.port),
        "NEWSROOM_REDIS_PASSWORD": server.password,
        "NEWSROOM_REDIS_MAXMEMORY": "64mb",
    }
    started = subprocess.run(
        [str(SERVICES), "start", "redis"], env=env, capture_output=True, text=True, timeout=60
    )
    assert started.returncode == 0, started.stderr
    try:
        yield server
    finally:
        subprocess.run([str(SERVICES), "stop", "redis"], env=env, capture_output=True, timeout=60)


def _settings(settings: Settings, url: str) -> Settings:
    # Queues and keys of this module alone (no worker consumes them; the Redis is thrown away).
    return isolated(settings, "redis-password").model_copy(update={"redis_url": url})


def test_services_sh_starts_a_redis_that_wants_its_password(locked: LockedRedis) -> None:
    stranger = redis.Redis(port=locked.port, socket_timeout=5, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.AuthenticationError):
        stranger.ping()
    assert redis.Redis(port=locked.port, password=locked.password, socket_timeout=5).ping()
    # The password is in a file only its owner reads, not on the command line ps shows.
    password_file = locked.state / "redis" / "password.conf"
    assert password_file.stat().st_mode & 0o077 == 0
    pid = (locked.state / "redis" / "redis.pid").read_text().strip()
    assert locked.password not in Path(f"/proc/{pid}/cmdline").read_text()
    status = subprocess.run(
        [str(SERVICES), "status", "redis"],
        env={
            **os.environ,
            "NEWSROOM_REDIS_PORT": str(locked.port),
            "NEWSROOM_REDIS_PASSWORD": locked.password,
        },
        timeout=30,
    )
    assert status.returncode == 0


def test_every_redis_client_takes_the_password_from_the_url(
    settings: Settings, locked: LockedRedis
) -> None:
    own = _settings(settings, locked.url())
    r = get_redis(own)
    r.set(f"{own.index_prefix}:probe", "1")
    assert r.get(f"{own.index_prefix}:probe") == "1"
    assert get_broker_redis(own).ping()
    # Celery: the broker URL is the same setting, and a real connection opens with it.
    assert celery_config(own)["broker_url"] == locked.url()
    producer = get_task_producer(own)
    with producer.connection_for_write() as connection:
        connection.ensure_connection(max_retries=0)
    # The web's rate limits count in the same Redis (web/limits.py: storage_uri=redis_url).
    assert storage_from_string(own.redis_url).check()
    # Ingest takes an article and queues its task in that Redis.
    client = ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own}).test_client()
    response = client.post("/articles", json={"body": "A council vote on the harbour."})
    assert response.status_code == 202, response.get_json()
    assert r.llen(own.queue_name) == 1
    health = client.get("/healthz")
    assert health.status_code == 200, health.get_json()


def test_a_wrong_password_is_a_clear_error_and_ingest_answers_503(
    settings: Settings, locked: LockedRedis
) -> None:
    wrong = "not-" + locked.password
    own = _settings(settings, locked.url(wrong))
    with pytest.raises(redis.AuthenticationError) as refused:
        get_redis(own).ping()
    assert wrong not in str(refused.value)
    producer = get_task_producer(own)
    with (
        producer.connection_for_write() as connection,
        pytest.raises(OperationalError, match="invalid username-password pair") as failed,
    ):
        connection.ensure_connection(max_retries=0)
    assert wrong not in str(failed.value)

    client = ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own}).test_client()
    response = client.post("/articles", json={"body": "A council vote on the harbour."})
    assert response.status_code == 503, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert wrong.encode() not in response.data
    assert locked.password.encode() not in response.data
    health = client.get("/healthz")
    assert health.status_code == 503
    assert wrong.encode() not in health.data
    # The web too: its health says so, never a 500, and no password in the answer.
    site = web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": own}).test_client()
    web_health = site.get("/healthz")
    assert web_health.status_code == 503
    assert wrong.encode() not in web_health.data
    assert site.get("/login").status_code == 200
