"""`newsroom ingest|feed` without the stack: reading files and feeds, the summary, and the
client's waiting against a small real HTTP server that answers 429 and 503."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from cli.client import GaveUpError, IngestClient, KeyRefusedError
from cli.ingesting import Ingestion, Problem, Summary
from cli.sources import (
    FeedError,
    Item,
    collect_files,
    html_to_text,
    parse_feed,
    read_file,
    read_files,
)


def test_html_fragments_become_paragraphs() -> None:
    text = html_to_text(
        "<p>First  paragraph,\n  with <b>bold</b> &amp; more.</p><p>Second.<br>Its next line.</p>"
        "<ul><li>one</li><li>two</li></ul>"
    )
    assert text == "First paragraph, with bold & more.\n\nSecond.\nIts next line.\n\none\n\ntwo"
    assert html_to_text("plain words only") == "plain words only"


def test_files_of_every_kind(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("date 2025-10-01\nA story.")
    (tmp_path / "b.html").write_bytes("<html><p>Café</p></html>".encode("latin-1"))
    (tmp_path / "c.json").write_text(json.dumps([{"body": "x"}, {"body": "y"}, {"body": "z"}]))
    (tmp_path / "d.ndjson").write_text('\n{"body": "one"}\n\n{oops\n{"body": "two"}\n\n\n')
    (tmp_path / "e.txt").write_bytes(b"\xff\xfe not utf-8")
    (tmp_path / ".hidden.txt").write_text("skipped")
    (tmp_path / "notes.md").write_text("skipped: not an article type")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.jsonl").write_text('{"body": "nested"}\n')
    files, errors = collect_files([tmp_path, tmp_path / "nope.txt", tmp_path / "notes.md"])
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [
        "a.txt", "b.html", "c.json", "d.ndjson", "e.txt", "sub/f.jsonl",
    ]  # fmt: skip
    assert [(Path(e.file).name, e.error) for e in errors] == [
        ("nope.txt", "no such file or directory"),
        (
            "notes.md",
            "unsupported file type (use .htm, .html, .json, .jsonl, .ndjson, .text, .txt)",
        ),
    ]
    items = list(read_files(files, source="Wire"))
    by_where = {item.where.replace(str(tmp_path) + "/", ""): item for item in items}
    assert by_where["a.txt"].article == {"body": "date 2025-10-01\nA story.", "source": "Wire"}
    assert by_where["b.html"].article == {"html": "<html><p>Café</p></html>", "source": "Wire"}
    assert by_where["c.json [1]"].article == {"body": "y"}  # JSON carries its own source
    assert by_where["d.ndjson line 2"].article == {"body": "one"}
    assert by_where["d.ndjson line 4"].error == (
        "invalid JSON: Expecting property name enclosed in double quotes at column 2"
    )
    assert by_where["d.ndjson line 5"].article == {"body": "two"}
    assert by_where["e.txt"].error == "not UTF-8 text (byte 0)"
    assert by_where["sub/f.jsonl line 1"].article == {"body": "nested"}
    # The progress bar counts bytes: the items of a file add up to its size.
    for path in files:
        assert sum(i.weight for i in read_file(path)) == path.stat().st_size, path


def test_unreadable_json(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text("[]")
    (tmp_path / "cut.json").write_text('{"body": ')
    (tmp_path / "blank.ndjson").write_text("\n\n")
    errors = {Path(i.file).name: i.error for p in sorted(tmp_path.iterdir()) for i in read_file(p)}
    assert errors == {
        "blank.ndjson": "the file holds no articles",
        "cut.json": "invalid JSON: Expecting value at line 1 column 10",
        "empty.json": "the JSON array holds no articles",
    }


FEED = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Gazette</title><language>pt-BR</language>
<item><title>One</title><link>https://g.example/1</link>
<author>desk@g.example (Ana Lima)</author><pubDate>Tue, 30 Sep 2025 08:00:00 +0100</pubDate>
<description>&lt;p&gt;Para one.&lt;/p&gt;&lt;p&gt;Para two.&lt;/p&gt;</description></item>
<item><title>Two</title><guid>g-2</guid></item>
</channel></rss>"""


def test_a_feed_becomes_articles() -> None:
    title, items = parse_feed(FEED, origin="feed.xml")
    assert title == "Gazette"
    assert [i.where for i in items] == ["feed.xml entry 1", "feed.xml entry 2"]
    assert items[0].article == {
        "title": "One",
        "url": "https://g.example/1",
        "body": "Para one.\n\nPara two.",
        "source": "Gazette",
        "published_at": "2025-09-30T07:00:00+00:00",
        "authors": ["Ana Lima"],
        "language": "pt",
        "feed": "feed.xml",
    }
    assert items[1].article == {
        "title": "Two", "source": "Gazette", "language": "pt", "feed": "feed.xml", "guid": "g-2",
    }  # fmt: skip
    assert sum(i.weight for i in items) == len(FEED)
    _, renamed = parse_feed(FEED, origin="feed.xml", source="Mine")
    assert renamed[0].article["source"] == "Mine"
    with pytest.raises(FeedError, match="no entries"):
        parse_feed(b"<html>not a feed</html>", origin="page.html")


def test_the_summary_reads_well() -> None:
    summary = Summary(
        files=3, articles=5, accepted=3, duplicates=1, seconds=2.0,
        rejected=[Problem("a.json [2]", "body: Field required")],
        duplicate_of=[Problem("b.txt", "same article as a.txt")],
    )  # fmt: skip
    assert not summary.ok
    assert summary.render().splitlines() == [
        "Read 3 file(s): 5 article(s) in 2.0 s (2.5 articles/s)",
        "  accepted          3",
        "  duplicates        1",
        "  rejected          1",
        "  not sent          0",
        "Rejected:",
        "  a.json [2]: body: Field required",
        "Duplicates:",
        "  b.txt: same article as a.txt",
    ]
    assert Summary(files=1, articles=1, accepted=1).ok


# --- the client against a real little server -----------------------------------------------


class _Script(BaseHTTPRequestHandler):
    """Answers POST /articles from ``answers`` in turn: (status, headers, body)."""

    answers: ClassVar[list[tuple[int, dict[str, str], Any]]] = []
    bodies: ClassVar[list[Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        status, headers, body = type(self).answers.pop(0)
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {**headers, "Content-Type": "application/json"}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def script() -> Iterator[tuple[str, type[_Script]]]:
    _Script.answers, _Script.bodies = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Script
    server.shutdown()


def _accepted(*ids: str, rejected: list[dict[str, Any]] | None = None) -> Any:
    return {
        "accepted": len(ids),
        "articles": [{"id": i, "state": "queued", "status_url": "x"} for i in ids],
        "rejected": rejected or [],
    }


def test_the_client_waits_out_429_and_503(script: tuple[str, type[_Script]]) -> None:
    url, handler = script
    handler.answers = [
        (429, {"Retry-After": "7"}, {"detail": "busy"}),
        (503, {}, {"detail": "redis down"}),
        (503, {"Retry-After": "3"}, {"detail": "redis down"}),
        (202, {}, _accepted("a" * 32)),
    ]
    slept: list[float] = []
    waits: list[str] = []
    client = IngestClient(
        url, sleep=slept.append, on_wait=lambda reason, seconds: waits.append(reason)
    )
    answer = client.post_articles(b'[{"body": "x"}]')
    assert answer.status == 202
    assert slept == [7.0, 1.0, 3.0]  # Retry-After, then backoff (or Retry-After if longer)
    assert waits == ["ingest is busy (429)", "ingest unavailable (503)", "ingest unavailable (503)"]
    assert len(handler.bodies) == 4

    handler.answers = [(429, {"Retry-After": "5"}, {})] * 3
    with pytest.raises(GaveUpError, match=r"ingest is busy \(429\); gave up after waiting 10 s"):
        IngestClient(url, sleep=slept.append, max_wait_s=12).post_articles(b"[]")
    handler.answers = [(401, {}, {"detail": "send the API key"})]
    with pytest.raises(KeyRefusedError, match="send the API key"):
        IngestClient(url, sleep=slept.append).post_articles(b"[]")


def test_batches_map_answers_back_to_files(script: tuple[str, type[_Script]]) -> None:
    url, handler = script
    items = [Item(f"f{n}.txt", None, {"body": f"text {n}"}, weight=10) for n in range(5)]
    handler.answers = [
        # f0, f1, f2: f1 rejected.
        (
            202,
            {},
            _accepted(
                "a" * 32,
                "b" * 32,
                rejected=[{"index": 1, "errors": [{"field": "body", "message": "too short"}]}],
            ),
        ),
        (413, {}, {"detail": "too large"}),  # f3 and f4: sent again one by one
        (202, {}, _accepted("a" * 32)),  # f3 has f0's id
        (413, {}, {"detail": "too large"}),  # f4 alone is still too large
    ]
    run = Ingestion(IngestClient(url, sleep=lambda s: None), batch_size=3)
    summary = run.run(items)
    assert [len(body) for body in handler.bodies] == [3, 2, 1, 1]
    assert summary.articles == 5
    assert summary.accepted == 2
    assert summary.rejected == [
        Problem("f1.txt", "body: too short"),
        Problem("f4.txt", "ingest answered 413: too large"),
    ]
    assert summary.duplicates == 1
    assert summary.duplicate_of == [Problem("f3.txt", "same article as f0.txt")]
    assert run.ids == ["a" * 32, "b" * 32]
