"""The README's run command: the whole stack on real HTTP servers, stopped by Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from shared.accounts import check_password
from shared.clients import get_redis
from shared.settings import get_settings
from tests.conftest import ROOT, SAMPLE, wait_until

pytestmark = pytest.mark.stack


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_from_a_terminal() -> None:
    """Ctrl-C as a terminal sends it: a test run started in the background (``cmd &`` in a
    script) inherits SIGINT ignored, and a shell cannot trap a signal ignored on entry."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_run_command_serves_the_sample_and_stops_on_ctrl_c(services: None, tmp_path: Path) -> None:
    ingest_port, web_port = _free_port(), _free_port()
    env = os.environ | {
        "INGEST_PORT": str(ingest_port),
        "WEB_PORT": str(web_port),
        # Its own queue and index, so no other worker takes its articles.
        "NEWSROOM_QUEUE_NAME": os.environ["NEWSROOM_QUEUE_NAME"] + "-run",
        "NEWSROOM_INDEX_PREFIX": os.environ["NEWSROOM_INDEX_PREFIX"] + "-run",
    }
    log = (tmp_path / "run.log").open("wb")
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "run.sh")], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True, preexec_fn=_as_from_a_terminal,
    )  # fmt: skip
    ingest, web = f"http://127.0.0.1:{ingest_port}", f"http://127.0.0.1:{web_port}"
    try:
        wait_until(lambda: "Press Ctrl-C" in (tmp_path / "run.log").read_text(), timeout_s=120)
        assert f"http://127.0.0.1:{web_port}/" in (tmp_path / "run.log").read_text()
        # The first admin, made on this empty store, and its one-time password printed once.
        passwords = re.findall(
            r"one-time password for admin: (\S+)", (tmp_path / "run.log").read_text()
        )
        assert len(passwords) == 1
        assert (tmp_path / "run.log").read_text().count(passwords[0]) == 1
        own = get_settings().model_copy(update={"index_prefix": env["NEWSROOM_INDEX_PREFIX"]})
        admin = check_password(get_redis(own), own, "admin", passwords[0])
        assert admin is not None
        assert admin.role == "admin"

        posted = requests.post(
            f"{ingest}/articles",
            data=SAMPLE.read_bytes(),
            headers={"Content-Type": "text/plain; charset=utf-8"},
            timeout=10,
        )
        assert posted.status_code == 202, posted.text
        status_url = posted.json()["articles"][0]["status_url"]
        assert status_url.startswith(ingest)
        wait_until(lambda: requests.get(status_url, timeout=5).json()["state"] == "indexed")

        def found() -> bool:
            page = requests.get(f"{web}/", params={"q": "Saidzhanov"}, timeout=10)
            return (
                page.status_code == 200
                and "Uzbekistan and Azerbaijan are strengthening" in page.text
            )

        wait_until(found, timeout_s=10)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        finally:
            log.close()
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            # Remove what the run made in Elasticsearch.
            from shared.clients import get_elasticsearch

            es = get_elasticsearch()
            names = list(
                es.indices.get(index=env["NEWSROOM_INDEX_PREFIX"] + "-*", allow_no_indices=True)
            )
            if names:
                es.indices.delete(index=",".join(names))
            # And in Redis (its accounts, statuses, ...).
            redis_client = get_redis()
            keys = list(redis_client.scan_iter(env["NEWSROOM_INDEX_PREFIX"] + ":*", count=1000))
            if keys:
                redis_client.delete(*keys)
    # Every process it started is gone: nothing listens on its ports any more.
    time.sleep(0.5)
    for url in (ingest, web):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/healthz", timeout=2)
