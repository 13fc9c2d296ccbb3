"""`newsroom ingest|feed|status` and a dead letter replayed, against the real stack (issue 7).

Ingest is served over real HTTP (werkzeug, in a thread) with this run's settings; the real
Celery worker enriches and indexes what the commands post.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from pydantic import SecretStr
from werkzeug.serving import make_server

import ingest
from cli.main import cli
from shared import accounts
from shared.clients import get_elasticsearch, get_redis
from shared.deadletters import count_dead_letters, get_dead_letters
from shared.schema import article_id
from shared.settings import Settings
from tests.conftest import RUN_ID, drop_data, wait_until
from tests.test_ingest_auth import isolated

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("worker")]

WORD = f"cliops{RUN_ID}"  # only this module's articles hold it
TREE = f"clitree{RUN_ID}"  # only the 200 files' articles hold it


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """``app`` on a real HTTP server on 127.0.0.1; yields its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def ingest_url(ingest_app: Flask) -> Iterator[str]:
    with served(ingest_app) as url:
        yield url


def newsroom(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def summary_of(result: Result) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(result.stdout)
    return found


# --- a directory of 200 files -------------------------------------------------------------------


def _story(n: int, kind: str, marker: str = WORD) -> str:
    return (
        f"PARIS, Oct. 3 (CLI Wire) — The harbour council approved {kind} plan number {n} on "
        f"Tuesday ({marker} {kind} {n}). The mayor said the work on the quay would begin in "
        "the spring, and residents welcomed the decision after months of debate."
    )


def _page(n: int) -> str:
    return (
        f"<html><head><title>Tram line {n} opens</title>"
        f"<link rel='canonical' href='https://example.org/{WORD}/tram-{n}'></head>"
        f"<body><nav>Home News Sport</nav><article><h1>Tram line {n} opens</h1>"
        f"<p>{_story(n, 'tram', TREE)}</p><p>Passengers queued early for the first ride, and the "
        "operator added two extra trams for the afternoon.</p></article></body></html>"
    )


def _json_article(n: int) -> dict[str, Any]:
    return {
        "title": f"Budget vote {n}",
        "body": _story(n, "budget", TREE),
        "source": "CLI Json",
        "url": f"https://example.org/{WORD}/budget-{n}",
    }


def make_tree(root: Path) -> dict[str, str]:
    """200 files: 150 .txt (the last a copy of the first), 20 .html, 20 .json (14 articles, 5
    arrays of 3, 1 broken) and 10 .ndjson (2 articles each, one more bad line in the first).
    Returns the names of the files that hold something invalid."""
    for folder in ("txt", "html", "json", "ndjson"):
        (root / folder).mkdir(parents=True)
    for n in range(150):
        text = _story(0 if n == 149 else n, "text", TREE)
        (root / "txt" / f"a-{n:03d}.txt").write_text(f"Harbour plan {n}\n\n{text}")
    (root / "txt" / "a-149.txt").write_text((root / "txt" / "a-000.txt").read_text())
    for n in range(20):
        (root / "html" / f"page-{n:02d}.html").write_text(_page(n))
    for n in range(14):
        (root / "json" / f"one-{n:02d}.json").write_text(json.dumps(_json_article(n)))
    (root / "json" / "broken.json").write_text('{"title": "Broken", "body": ')
    for a in range(5):
        items: list[Any] = [_json_article(100 + 3 * a + i) for i in range(3)]
        if a == 0:
            del items[1]["body"]  # rejected by ingest: no body
        if a == 1:
            items[2] = 42  # rejected by ingest: not an object
        if a == 2:
            items[0]["url"] = "ftp://example.org/not-http"  # rejected by ingest: bad url
        (root / "json" / f"array-{a}.json").write_text(json.dumps(items))
    for n in range(10):
        lines = [json.dumps(_json_article(200 + 2 * n + i)) for i in range(2)]
        if n == 0:
            lines.append("{not json")  # rejected on reading
        if n == 1:
            lines.insert(1, "")  # blank lines are skipped
        (root / "ndjson" / f"file-{n}.ndjson").write_text("\n".join(lines) + "\n")
    return {
        "broken": str(root / "json" / "broken.json"),
        "no_body": f"{root / 'json' / 'array-0.json'} [1]",
        "not_object": f"{root / 'json' / 'array-1.json'} [2]",
        "bad_url": f"{root / 'json' / 'array-2.json'} [0]",
        "bad_line": f"{root / 'ndjson' / 'file-0.ndjson'} line 3",
        "duplicate": str(root / "txt" / "a-149.txt"),
        "original": str(root / "txt" / "a-000.txt"),
    }


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("articles")
    return root, make_tree(root)


@pytest.fixture(scope="module")
def ingested(ingest_url: str, tree: tuple[Path, dict[str, str]]) -> tuple[Result, dict[str, Any]]:
    root, _ = tree
    result = newsroom(
        "ingest", str(root), "--url", ingest_url, "--source", "CLI Wire",
        "--batch-size", "50", "--wait", "--wait-timeout", "600", "--json",
    )  # fmt: skip
    return result, summary_of(result)


def test_a_directory_of_200_files_is_counted_exactly(
    ingested: tuple[Result, dict[str, Any]], tree: tuple[Path, dict[str, str]]
) -> None:
    result, summary = ingested
    _, names = tree
    assert len(list(tree[0].rglob("*.*"))) == 200
    # 150 + 20 + (14 + 1 + 15) + (20 + 1) articles read.
    assert summary["files"] == 200
    assert summary["articles"] == 221
    assert summary["accepted"] == 215
    assert summary["duplicates"] == 1
    assert summary["duplicate_of"] == [
        {"where": names["duplicate"], "reason": f"same article as {names['original']}"}
    ]
    rejected = {problem["where"]: problem["reason"] for problem in summary["rejected"]}
    assert set(rejected) == {
        names[key] for key in ("broken", "no_body", "not_object", "bad_url", "bad_line")
    }
    assert rejected[names["broken"]].startswith("invalid JSON: Expecting value")
    assert rejected[names["no_body"]].startswith("body: ")
    assert "expected a JSON object, got int" in rejected[names["not_object"]]
    assert rejected[names["bad_url"]].startswith("url: ")
    assert rejected[names["bad_line"]].startswith("invalid JSON")
    assert summary["not_sent"] == []
    # --wait: every accepted article went through the real worker.
    assert summary["waited"]
    assert (summary["indexed"], summary["failed"], summary["still_queued"]) == (215, [], 0)
    assert result.exit_code == 1  # something was rejected


def test_the_articles_are_in_the_index(
    ingested: tuple[Result, dict[str, Any]], settings: Settings
) -> None:
    es = get_elasticsearch(settings)
    es.indices.refresh(index=settings.articles_alias)
    found = es.count(index=settings.articles_alias, query={"match": {"body": TREE}})["count"]
    assert found == 215
    page = es.get(index=settings.articles_alias, id=article_id(
        url=f"https://example.org/{WORD}/tram-3", source=None, title=None, body=""
    ))["_source"]  # fmt: skip
    assert page["title"] == "Tram line 3 opens"
    assert page["source"] == "CLI Wire"  # --source, for text and HTML files
    assert "Home News Sport" not in page["body"]


def test_the_text_summary_names_files_and_reasons(ingest_url: str, tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(f"Quay reopens\n\n{_story(1, 'summary')}")
    (tmp_path / "again.txt").write_text(f"Quay reopens\n\n{_story(1, 'summary')}")
    (tmp_path / "empty.json").write_text("[]")
    (tmp_path / "notes.md").write_text("ignored: not an article type")
    # One article per request, so ingest tells which article repeats which.
    result = newsroom(
        "ingest", str(tmp_path), str(tmp_path / "missing.txt"), "--url", ingest_url,
        "--batch-size", "1",
    )  # fmt: skip
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Read 3 file(s): 4 article(s)")
    assert "  accepted          1" in lines
    assert "  duplicates        1" in lines
    assert "  rejected          2" in lines
    assert f"  {tmp_path / 'empty.json'}: the JSON array holds no articles" in lines
    assert f"  {tmp_path / 'missing.txt'}: no such file or directory" in lines
    assert f"  {tmp_path / 'good.txt'}: same article as {tmp_path / 'again.txt'}" in lines


def test_backpressure_is_waited_out(settings: Settings, tmp_path: Path) -> None:
    """A queue at its limit answers 429 with Retry-After; the command waits, then sends."""
    queue = f"{settings.queue_name}-full"  # no worker consumes it
    busy = settings.model_copy(
        update={"queue_name": queue, "ingest_max_queued_tasks": 1, "ingest_retry_after_s": 1}
    )
    client = get_redis(settings)
    client.rpush(queue, "a task that keeps the queue at its limit")
    (tmp_path / "late.txt").write_text(_story(7, "backpressure"))
    timer = threading.Timer(2.5, lambda: client.lpop(queue))
    app = ingest.create_app({"NEWSROOM_SETTINGS": busy})
    try:
        with served(app) as url:
            timer.start()
            result = newsroom("ingest", str(tmp_path), "--url", url, "--queue", "live", "--json")
        summary = summary_of(result)
        assert result.exit_code == 0, result.output
        assert summary["accepted"] == 1
        assert client.llen(queue) == 1  # the task it sent once the queue had room
        # Waiting longer than --max-wait lets: counted as not sent.
        client.rpush(queue, "full again")
        with served(app) as url:
            result = newsroom(
                "ingest",
                str(tmp_path),
                "--url",
                url,
                "--queue",
                "live",
                "--max-wait",
                "1",
                "--json",
            )
        summary = summary_of(result)
        assert result.exit_code == 1
        assert summary["accepted"] == 0
        assert summary["not_sent"][0]["reason"].startswith("ingest is busy (429)")
    finally:
        timer.cancel()
        client.delete(queue)


def test_an_unreachable_ingest_and_a_wrong_key(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(_story(8, "unreachable"))
    with served(ingest.create_app({"NEWSROOM_SETTINGS": settings})) as url:
        pass  # the server is gone: its port now refuses connections
    result = newsroom("ingest", str(tmp_path), "--url", url, "--max-wait", "0", "--json")
    assert result.exit_code == 1
    assert summary_of(result)["not_sent"][0]["reason"].startswith("ingest unreachable")

    keyed = settings.model_copy(update={"ingest_api_key": SecretStr("k" * 32)})
    with served(ingest.create_app({"NEWSROOM_SETTINGS": keyed})) as url:
        refused = CliRunner().invoke(cli, ["ingest", str(tmp_path), "--url", url])
        accepted = newsroom("ingest", str(tmp_path), "--url", url, "--api-key", "k" * 32)
    assert refused.exit_code == 1
    assert "ingest refused the API key" in refused.output
    assert accepted.exit_code == 0, accepted.output


def test_the_commands_send_an_api_token(settings: Settings, tmp_path: Path) -> None:
    """--token or NEWSROOM_INGEST_TOKEN; a revoked token stops the command. Ingest on an
    account store and queues of its own (an ingest token closes ingest for its store)."""
    (tmp_path / "a.txt").write_text(_story(9, "tokened"))
    own = isolated(settings, "clitoken")
    token, secret = accounts.create_token(get_redis(own), own, "cli-test", "ingest", "cli")
    try:
        with served(ingest.create_app({"NEWSROOM_SETTINGS": own})) as url:
            anonymous = CliRunner().invoke(cli, ["ingest", str(tmp_path), "--url", url])
            given = newsroom("ingest", str(tmp_path), "--url", url, "--token", secret, "--json")
            from_env = CliRunner(env={"NEWSROOM_INGEST_TOKEN": secret}).invoke(
                cli, ["ingest", str(tmp_path), "--url", url, "--json"], catch_exceptions=False
            )
            accounts.revoke_token(get_redis(own), own, token.id)
            revoked = CliRunner().invoke(cli, ["ingest", str(tmp_path), "--url", url,
                                               "--token", secret])  # fmt: skip
    finally:
        drop_data(own)
    assert anonymous.exit_code == 1
    assert "none given: --token" in anonymous.output
    assert given.exit_code == 0, given.output
    assert summary_of(given)["accepted"] == 1
    assert from_env.exit_code == 0, from_env.output
    assert summary_of(from_env)["accepted"] == 1
    assert revoked.exit_code == 1
    assert "ingest refused the token" in revoked.output


# --- feeds ---------------------------------------------------------------------------------------

RSS = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
  <title>Valley Gazette {RUN_ID}</title><link>https://valley.example/</link>
  <language>en-gb</language>
  <item>
    <title>Stone bridge reopens after repairs</title>
    <link>https://valley.example/{WORD}/bridge</link>
    <guid isPermaLink="false">bridge-1</guid>
    <pubDate>Tue, 30 Sep 2025 08:00:00 GMT</pubDate>
    <author>news@valley.example (Ann Writer)</author>
    <description>&lt;p&gt;The old stone bridge over the river reopened on Tuesday after
      six months of repairs ({WORD} rss), the council said.&lt;/p&gt;&lt;p&gt;Buses will use
      it again from Monday.&lt;/p&gt;</description>
  </item>
  <item>
    <title>Library extends its opening hours</title>
    <link>https://valley.example/{WORD}/library</link>
    <pubDate>Wed, 01 Oct 2025 10:15:00 +0200</pubDate>
    <description>The town library will open until nine in the evening from next week
      ({WORD} rss), its director said on Wednesday.</description>
  </item>
</channel></rss>
"""

ATOM = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Harbour Wire {RUN_ID}</title><id>urn:harbour-wire</id>
  <updated>2025-10-01T09:30:00Z</updated>
  <entry>
    <title>Ferry timetable changes for the winter</title>
    <link href="https://harbour.example/{WORD}/ferry"/>
    <id>urn:harbour-wire:ferry</id><updated>2025-10-01T09:30:00Z</updated>
    <content type="html">&lt;p&gt;The island ferry will sail four times a day instead of six
      from November ({WORD} atom), the operator said.&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>An entry with nothing to read</title>
    <id>urn:harbour-wire:empty</id><updated>2025-10-01T09:00:00Z</updated>
  </entry>
</feed>
"""


def _indexed(settings: Settings, url: str) -> dict[str, Any]:
    es = get_elasticsearch(settings)
    source: dict[str, Any] = es.get(
        index=settings.articles_alias,
        id=article_id(url=url, source=None, title=None, body=""),
    )["_source"]
    return source


def test_a_feed_file_is_ingested(ingest_url: str, settings: Settings, tmp_path: Path) -> None:
    feed = tmp_path / "valley.rss"
    feed.write_text(RSS)
    result = newsroom("feed", str(feed), "--url", ingest_url, "--wait", "--json")
    summary = summary_of(result)
    assert result.exit_code == 0, result.output
    assert (summary["articles"], summary["accepted"], summary["indexed"]) == (2, 2, 2)
    bridge = _indexed(settings, f"https://valley.example/{WORD}/bridge")
    assert bridge["title"] == "Stone bridge reopens after repairs"
    assert bridge["source"] == f"Valley Gazette {RUN_ID}"
    assert bridge["published_at"].startswith("2025-09-30T08:00:00")
    assert bridge["authors"] == ["Ann Writer"]
    assert bridge["language"] == "en"
    # The entry's HTML became text, its paragraphs kept apart.
    assert "<p>" not in bridge["body"]
    assert "the council said.\n\nBuses will use it again" in bridge["body"]
    library = _indexed(settings, f"https://valley.example/{WORD}/library")
    assert library["published_at"].startswith("2025-10-01T08:15:00")  # +0200 made UTC


class _FeedHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = ATOM.encode()
        self.send_response(200 if self.path == "/feed.atom" else 404)
        self.send_header("Content-Type", "application/atom+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_a_feed_url_is_fetched_and_ingested(ingest_url: str, settings: Settings) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FeedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    feed_url = f"http://127.0.0.1:{server.server_port}/feed.atom"
    try:
        result = newsroom("feed", feed_url, "--url", ingest_url, "--wait", "--json")
        missing = CliRunner().invoke(cli, ["feed", feed_url.replace("feed", "nothing")])
    finally:
        server.shutdown()
    summary = summary_of(result)
    assert result.exit_code == 1  # one entry had no text
    assert (summary["articles"], summary["accepted"], summary["indexed"]) == (2, 1, 1)
    assert summary["rejected"][0]["where"] == f"{feed_url} entry 2"
    assert summary["rejected"][0]["reason"].startswith("body: ")
    ferry = _indexed(settings, f"https://harbour.example/{WORD}/ferry")
    assert ferry["source"] == f"Harbour Wire {RUN_ID}"
    assert ferry["body"].startswith("The island ferry will sail four times a day")
    assert missing.exit_code == 1
    assert "404" in missing.output


# --- status, and a dead letter replayed ---------------------------------------------------------


def test_status_shows_the_pipeline(ingested: tuple[Result, dict[str, Any]]) -> None:
    as_json = newsroom("status", "--json")
    assert as_json.exit_code == 0, as_json.output
    state = json.loads(as_json.stdout)
    assert state["index"]["documents"] >= 215
    assert state["index"]["store_bytes"] > 0
    assert state["workers"]["alive"] >= 1  # the test worker's processes beat
    assert state["totals"]["accepted"] >= 215
    assert state["totals"]["indexed"] >= 215
    assert state["totals"]["rejected"] >= 3  # those ingest refused (not those never sent)
    assert sum(row["indexed"] for row in state["throughput"]["minutes"]) >= 215
    assert state["queue"]["waiting_tasks"] >= 0
    text = newsroom("status")
    assert text.exit_code == 0
    assert "  queue        " in text.stdout
    assert "article(s)," in text.stdout  # the index line


def test_a_dead_letter_is_shown_and_replayed(
    ingest_url: str, settings: Settings, admin_client: FlaskClient, tmp_path: Path
) -> None:
    """Elasticsearch refusing writes (an index write block: 403, for good) dead-letters the
    article through the real worker; once writes are allowed, `dlq replay` indexes it."""
    es = get_elasticsearch(settings)
    alias = settings.articles_alias
    (tmp_path / "blocked.txt").write_text(f"Blocked story\n\n{_story(9, 'blocked')}")
    es.indices.put_settings(index=alias, settings={"index.blocks.write": True})
    try:
        result = newsroom(
            "ingest", str(tmp_path), "--url", ingest_url, "--wait", "--wait-timeout", "120",
            "--json",
        )  # fmt: skip
    finally:
        es.indices.put_settings(index=alias, settings={"index.blocks.write": False})
    summary = summary_of(result)
    assert result.exit_code == 1
    assert summary["indexed"] == 0
    (failed,) = summary["failed"]
    assert failed["where"] == str(tmp_path / "blocked.txt")
    assert "403: index" in failed["reason"]
    assert "blocked by: [FORBIDDEN/8/index write (api)]" in failed["reason"]
    dead_id = failed["reason"].split(":")[0]
    redis_client = get_redis(settings)
    (letter,) = get_dead_letters(redis_client, settings.index_prefix, [dead_id])
    assert letter.attempts == 1  # refused for good: not retried

    # The pipeline page's JSON and the status command show it.
    state = admin_client.get("/api/pipeline").get_json()
    assert state["dead_letters"]["latest"][0]["id"] == dead_id
    assert state["dead_letters"]["latest"][0]["url"] == f"/pipeline/dead-letters/{dead_id}"
    assert any(f["id"] == dead_id and f["final"] for f in state["failures"]["latest"])
    page = admin_client.get(f"/pipeline/dead-letters/{dead_id}")
    assert page.status_code == 200
    assert "index write (api)" in page.get_data(as_text=True)
    status = json.loads(newsroom("status", "--json").stdout)
    assert status["dead_letters"]["count"] == count_dead_letters(
        redis_client, settings.index_prefix
    )
    assert status["failures"]["dead_lettered"] >= 1

    replayed = newsroom("dlq", "replay", dead_id)
    assert "replayed 1 article(s)" in replayed.output

    def indexed() -> bool:
        return bool(es.exists(index=alias, id=dead_id))

    wait_until(indexed, timeout_s=120)
    assert get_dead_letters(redis_client, settings.index_prefix, [dead_id]) == []
