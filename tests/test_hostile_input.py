"""Hostile input that generated requests rarely reach: invalid UTF-8, deep nesting, absurd sizes
and numbers, NUL bytes, odd NDJSON line ends, chunked bodies, and absurd query strings on every
GET route. Every answer is a 4xx problem (or an acceptance), never a 500. Several cases are
regression tests for 500s found while fuzzing (docs/RELIABILITY.md, "Generated requests")."""

from __future__ import annotations

import base64
import functools
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema_rs
import pytest
from flask import Flask, Response, request
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import ingest
from ingest.openapi import HTTP_URL, LANGUAGE, NOT_BLANK
from shared.clients import get_elasticsearch, get_redis
from shared.schema import ArticleIn, ValidationError
from shared.settings import Settings
from tests.drill_support import wait_final_states
from web import openapi as web_openapi
from web import params as web_params
from web.facets import FACETS
from web.search import decode_cursor, get_article

PROBLEM = "application/problem+json"
# get_article never asks Elasticsearch about an id that cannot be one: no client needed.
NEVER_CALLED: Any = object()


# Ids of every article this module's ingest accepted (its 202s): the run's worker must index or
# dead-letter each of them (the last test of the module).
ACCEPTED: list[str] = []
SETTLE_BOUND_S = 300


@pytest.fixture(scope="module")
def quiet_ingest_app(settings: Settings, services: None) -> Flask:
    """Ingest queueing for the run's worker, noting the ids of every article it accepts."""
    app = ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": settings})

    @app.after_request
    def note_accepted(response: Response) -> Response:
        if request.method == "POST" and request.path == "/articles" and response.status_code == 202:
            ACCEPTED.extend(item["id"] for item in response.get_json()["articles"])
        return response

    return app


@pytest.fixture
def ingest_client(quiet_ingest_app: Flask) -> FlaskClient:
    return quiet_ingest_app.test_client()


def _problem(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    return body


# --- ingest: bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "line"),
    [
        ("application/json", b'{"title": "caf\xe9", "body": "x"}', 1),
        ("application/x-ndjson", b'{"body": "a"}\n\n{"body": "b \xff"}\n', 3),
        ("text/plain", b"line one\nline two \xc3\x28", 2),
        ("text/html; charset=utf-8", b"<p>\xed\xa0\x80 a surrogate</p>", 1),
    ],
)
def test_invalid_utf8_is_400_with_where(
    ingest_client: FlaskClient, content_type: str, body: bytes, line: int
) -> None:
    problem = _problem(ingest_client.post("/articles", data=body, content_type=content_type), 400)
    assert problem["title"] == "Invalid encoding"
    if not content_type.startswith("text/html"):  # a declared charset: the codec's own words
        assert problem["line"] == line
        assert body[problem["byte"] :].decode("utf-8", "replace").startswith("\ufffd")


@pytest.mark.parametrize("charset", ["base64", "rot13", "no-such-charset", "a" * 2000])
def test_a_charset_that_is_no_text_encoding_is_400(
    ingest_client: FlaskClient, charset: str
) -> None:
    response = ingest_client.post(
        "/articles", data=b"<p>x</p>", content_type=f"text/html; charset={charset}"
    )
    assert _problem(response, 400)["title"] == "Invalid encoding"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", "[" * 100_000),
        ("application/json", "[" * 100_000 + "]" * 100_000),
        ("application/json", '{"body": "x", "metadata": ' + '{"a":' * 50_000 + "1" + "}" * 50_001),
        ("application/x-ndjson", '{"body": "a"}\n' + '{"a":' * 100_000),
    ],
)
def test_deep_nesting_is_400_not_a_recursion_error(
    ingest_client: FlaskClient, content_type: str, body: str
) -> None:
    problem = _problem(ingest_client.post("/articles", data=body, content_type=content_type), 400)
    assert "nested too deeply" in problem["detail"]
    if "ndjson" in content_type:
        assert problem["line"] == 2


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 5000])
@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
def test_numbers_json_has_not_are_400(
    ingest_client: FlaskClient, number: str, content_type: str
) -> None:
    # Regression: a 5000-digit integer made json.loads raise a plain ValueError (a 500), and
    # NaN or 1e999 were accepted, then refused by Elasticsearch after the 202.
    body = '{"body": "numbers", "metadata": {"n": ' + number + "}}"
    problem = _problem(ingest_client.post("/articles", data=body, content_type=content_type), 400)
    assert problem["title"].startswith("Malformed")
    assert "sys.set_int_max_str_digits" not in problem["detail"]


def test_a_10_mb_title_is_422_naming_the_field_without_echoing_it(
    ingest_client: FlaskClient,
) -> None:
    response = ingest_client.post("/articles", json={"title": "t" * 10_000_000, "body": "x"})
    problem = _problem(response, 422)
    assert [e["field"] for e in problem["rejected"][0]["errors"]] == ["title"]
    assert len(response.data) < 2_000


@pytest.mark.parametrize(
    ("article", "field"),
    [
        # Regressions: astimezone() overflowed past year 1 or 9999 (OverflowError, a 500).
        ({"body": "x", "published_at": "0001-01-01T00:00:00+01:00"}, "published_at"),
        ({"body": "x", "published_at": "9999-12-31T23:59:59-01:00"}, "published_at"),
        # Regression: canonical_url read the port when queueing (ValueError, a 500).
        ({"body": "x", "url": "http://example.org:99999/a"}, "url"),
        ({"body": "x", "url": "http://example.org:port/a"}, "url"),
        ({"body": "x", "url": "http://[::1/a"}, "url"),
        ({"body": "x\ud800"}, "body"),  # a lone surrogate is no text
        # Regression: metadata is any JSON, and a lone surrogate there failed the UTF-8 task
        # message (UnicodeEncodeError, a 500).
        ({"body": "x", "note": "\ud800"}, "(article)"),
        ({"body": "x", "metadata": {"tags": ["a", {"\udfff": 1}]}}, "(article)"),
    ],
)
def test_values_python_cannot_handle_are_422(
    ingest_client: FlaskClient, article: dict[str, Any], field: str
) -> None:
    response = ingest_client.post(
        "/articles", data=json.dumps(article), content_type="application/json"
    )
    assert _problem(response, 422)["rejected"][0]["errors"][0]["field"] == field


def test_a_bad_port_in_the_query_of_a_text_post_is_422(ingest_client: FlaskClient) -> None:
    response = ingest_client.post(
        "/articles?url=http://example.org:99999/", data="text", content_type="text/plain"
    )
    assert _problem(response, 422)["rejected"][0]["errors"][0]["field"] == "url"


@pytest.mark.parametrize(
    "head",
    [
        '<link rel="canonical" href="http://example.org:99999/page">',
        '<meta property="og:url" content="http://[::1/page">',
    ],
)
def test_a_page_whose_canonical_link_is_broken_is_still_taken(
    ingest_client: FlaskClient, head: str
) -> None:
    # Regression: the canonical link's bad port or host raised ValueError when queueing.
    page = f"<html><head>{head}</head><body><p>A broken canonical link.</p></body></html>"
    response = ingest_client.post("/articles", data=page, content_type="text/html")
    assert response.status_code == 202, response.get_data(as_text=True)


def test_ndjson_lines_end_at_newline_only(ingest_client: FlaskClient) -> None:
    # Regression: str.splitlines() also cut at U+2028, U+2029 and U+0085, which JSON strings
    # may hold unescaped, so valid lines were refused and later line numbers were off.
    lines = [
        '{"body": "one\u2028two", "source": "ndjson-lines"}',
        '{"body": "three\u2029four", "source": "ndjson-lines"}\r',
        '{"body": "five\x85six", "source": "ndjson-lines"}',
        "",
        '{"title": "no body", "source": "ndjson-lines"}',
    ]
    response = ingest_client.post(
        "/articles", data="\n".join(lines), content_type="application/x-ndjson"
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert body["accepted"] == 3
    assert [item["line"] for item in body["rejected"]] == [5]
    bad = '{"body": "a\u2028b"}\n{"body": "c"}\n{"body": \n'
    problem = _problem(
        ingest_client.post("/articles", data=bad, content_type="application/x-ndjson"), 400
    )
    assert problem["line"] == 3


@pytest.mark.stack
def test_nul_and_control_characters_are_accepted_and_indexed(
    ingest_app: Flask,
    web_client: FlaskClient,
    worker: Any,
    wait_indexed: Callable[[list[str]], None],
) -> None:
    """Nothing accepted is lost: Elasticsearch refuses a whole document over a NUL in a
    completion input, so every text field carries some, and the article must be searchable."""
    noise = "\x00\x1c\x1d\x1e\x1f\x7f"
    article = {
        "title": f"Quokka{noise} census",
        "body": f"The quokka{noise} census counted {noise} animals on Rottnest.",
        "authors": [f"Ann{noise} Writer", noise],
        "source": f"Wire{noise}",
        "metadata": {f"k{noise}": noise},
    }
    client = ingest_app.test_client()
    accepted = client.post("/articles", json=article)
    text = client.post("/articles?source=Wire%00", data=f"Quokka{noise} text".encode(),
                       content_type="text/plain")  # fmt: skip
    ids = [accepted.get_json()["articles"][0]["id"], text.get_json()["articles"][0]["id"]]
    wait_indexed(ids)  # fails on a "failed" state
    hits = web_client.get("/api/search", query_string={"q": "quokka", "mode": "keyword"})
    assert set(ids) <= {hit["id"] for hit in hits.get_json()["hits"]}
    assert _problem(client.get("/articles/" + "%00" * 32), 400)["title"] == "Invalid id"


def test_a_chunked_body_over_the_limit_is_413_not_cut_short(quiet_ingest_app: Flask) -> None:
    # Regression: without Content-Length, Werkzeug ended the body at MAX_CONTENT_LENGTH
    # silently; an NDJSON batch cut at a line end would have lost its tail unnoticed.
    limit = quiet_ingest_app.config["MAX_CONTENT_LENGTH"]
    line = b'{"body": "chunked"}\n'
    big = line * (limit // len(line) + 1)
    chunked = {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""}
    client = quiet_ingest_app.test_client()
    response = client.post("/articles", input_stream=io.BytesIO(big), environ_overrides=chunked,
                           content_type="application/x-ndjson")  # fmt: skip
    assert _problem(response, 413)["status"] == 413
    small = client.post("/articles", input_stream=io.BytesIO(line), environ_overrides=chunked,
                        content_type="application/x-ndjson")  # fmt: skip
    assert small.status_code == 202


def test_missing_content_type_is_415(ingest_client: FlaskClient) -> None:
    response = ingest_client.post("/articles", data=b'{"body": "x"}', headers={"Content-Type": ""})
    assert _problem(response, 415)["supported"]


@pytest.mark.parametrize(
    ("app", "path"), [("ingest", "/articles/status"), ("web", "/api/saved-searches")]
)
def test_deep_json_to_other_posts_is_400(
    ingest_client: FlaskClient, web_client: FlaskClient, app: str, path: str
) -> None:
    # Regression: Flask's get_json(silent=True) lets RecursionError through (a 500).
    client = ingest_client if app == "ingest" else web_client
    for body in ("[" * 100_000, '{"ids": ' + "[" * 100_000 + "]" * 100_000 + "}"):
        response = client.post(path, data=body, content_type="application/json")
        assert "nested too deeply" in _problem(response, 400)["detail"]


# --- every GET route: absurd query strings ---------------------------------------------------


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


PARAMETERS = ["q", "page", "size", "mode", "sort", "from", "to", "after", "format", "source",
              "people", "organisations", "places", "keywords", "country", "language", "name",
              "webhook_url", "queue"]  # fmt: skip
ABSURD_QUERIES: dict[str, str | bytes] = {
    "200 KB of q": "q=" + "a" * 200_000,
    "5000 parameters": "&".join(f"k{i}=v" for i in range(5000)),
    "control characters": "&".join(f"{p}=%00%01%08%1b%1f%7f%c2%85" for p in PARAMETERS),
    "invalid percent-encoding": "&".join(f"{p}=%zz%%E0%A4%FF%ED%A0%80%" for p in PARAMETERS),
    "raw bytes that are not UTF-8": b"q=\xff\xfe&source=\xc3(&after=\xff",
    "every parameter 1000 times": "&".join(f"{p}=2" for p in PARAMETERS for _ in range(1000)),
    "5000-digit numbers": "size=" + "9" * 5000 + "&page=" + "9" * 5000,
    "digits int() refuses": "size=%C2%B2&page=%E2%91%A0",
    "digits of other scripts": "size=%D9%A3&page=%EF%BC%92",
    "dates at the limits": "from=0001-01-01&to=9999-12-31",
    "dates of other forms": "from=2025-W40-1&to=20250930",
    "a deep cursor": "after=" + _cursor(b"[" * 100_000),
    "a cursor of huge numbers": "after=" + _cursor(b"[" + b"9" * 5000 + b",1]"),
    "a cursor of NaN": "after=" + _cursor(b"[NaN,Infinity]") + "&sort=newest",
    "unbalanced syntax": "q=" + "(" * 5000 + '"' + "-" * 500,
    "absurd operators": 'q=a~99999999999999999999 "a b"~99999 a^99999999999999999999 /[/',
    "semantic emoji": "mode=semantic&q=" + "%F0%9F%98%80" * 900,
    "keys without values": "&&&=&==&q&size&page&from",
}


def _get_routes(app: Flask, values: dict[str, str]) -> list[str]:
    routes = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()):
            continue
        path = rule.rule
        for argument in rule.arguments:
            value = values.get(argument, "x")
            path = re.sub(rf"<(?:[a-z]+:)?{argument}>", value, path)
        routes.append(path)
    return routes


@pytest.fixture(scope="module")
def get_routes(quiet_ingest_app: Flask, web_app: Flask) -> list[tuple[FlaskClient, str]]:
    values = {"article_id": "0" * 32, "kind": "person", "name": "Ann Writer",
              "saved_id": "abcdefgh", "filename": "style.css"}  # fmt: skip
    return [
        (app.test_client(), path)
        for app in (web_app, quiet_ingest_app)
        for path in _get_routes(app, values)
    ]


def test_unknown_parameters_are_not_copied_into_the_pages_links(web_app: Flask) -> None:
    """The search page's links (facets, pager, feeds, exports) carry the search's parameters
    and drop the rest: 5,000 junk parameters made a 5 MB page in seconds before."""
    junk = "&".join(f"junk{i}=v" for i in range(5000))
    page = web_app.test_client().get(f"/?q=harbour&mode=keyword&{junk}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "junk0=" not in body
    assert "junk4999" not in body
    assert "q=harbour" in body  # the search's own parameters are kept
    assert len(body) < 1_000_000


@pytest.mark.parametrize("kind", list(ABSURD_QUERIES))
def test_absurd_query_strings_never_get_a_500(
    get_routes: list[tuple[FlaskClient, str]], kind: str
) -> None:
    query = ABSURD_QUERIES[kind]
    assert len(get_routes) >= 20
    for client, path in get_routes:
        if isinstance(query, bytes):  # sent unescaped: what a server passes on as latin-1
            response = client.get(path, environ_overrides={"QUERY_STRING": query.decode("latin-1")})
        else:
            response = client.get(f"{path}?{query}")
        response.get_data()  # streamed answers (exports) fail while streaming, if at all
        assert response.status_code < 500, (path, response.get_data(as_text=True)[:300])
        if response.status_code >= 400 and (path.startswith("/api/") or "." in path[-6:]):
            assert response.mimetype == PROBLEM, path
        if isinstance(query, bytes):
            # Regression: request.args raised UnicodeDecodeError (a 500) in every view.
            assert response.status_code == 400, path


@pytest.mark.parametrize(
    "path", ["/api/search", "/api/suggest", "/api/entities/person/Ann%20Writer", "/api/export"]
)
@pytest.mark.parametrize("size", ["²", "①", "9" * 5000, "-1", "1.0", "0x10", "1_0"])
def test_sizes_that_are_not_plain_numbers_are_400(
    web_client: FlaskClient, path: str, size: str
) -> None:
    # Regression: "²".isdigit() is true but int("²") raises, and int() refuses 5000 digits.
    response = web_client.get(path, query_string={"size": size})
    assert _problem(response, 400)["parameter"] == "size"


def test_a_leading_zero_size_is_still_a_number(web_client: FlaskClient) -> None:
    assert (
        web_client.get("/api/search", query_string={"size": "0000000000000000000005"}).status_code
        == 200
    )


def test_ids_that_cannot_be_ids_are_404_without_asking_elasticsearch(
    web_client: FlaskClient,
) -> None:
    # Regression: a 100,000-character id made Elasticsearch refuse the request line (a 400
    # from Elasticsearch, a 500 here).
    for path in ("/api/articles/" + "x" * 100_000, "/api/articles/" + "x" * 100_000 + "/related"):
        assert _problem(web_client.get(path), 404)["title"] == "Not found"
    assert web_client.get("/articles/" + "x" * 100_000).status_code == 404
    assert get_article(NEVER_CALLED, "alias", "F" * 32) is None  # upper case is no id either


@pytest.mark.parametrize(
    "cursor",
    [_cursor(b"[" * 100_000), _cursor(b"[" + b"9" * 5000 + b",1]"), "\u00e9", "%%", "W10"],
)
def test_decode_cursor_refuses_with_value_error(cursor: str) -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        decode_cursor(cursor)


# --- the descriptions state what the validation does (checked both ways by the fuzz test) ----


@functools.cache
def _pattern(pattern: str) -> Any:
    return jsonschema_rs.validator_for({"type": "string", "pattern": pattern})


def _matches(pattern: str, text: str) -> bool:
    """As JSON Schema reads a pattern (ECMA-262, where ``$`` is the very end: Python's also
    matches before a final newline), with the validator schemathesis uses."""
    return bool(_pattern(pattern).is_valid(text))


def _characters() -> Iterator[str]:
    # Every character up to CJK symbols, and the few beyond that any rule names.
    yield from (chr(c) for c in range(0x3100) if not 0xD800 <= c < 0xE000)
    yield from "\ufeff\uffff\U0001f600"


def test_the_not_blank_pattern_is_what_pydantic_strips() -> None:
    for char in _characters():
        try:
            ArticleIn.model_validate({"body": f"{char}{char}"})
            kept = True
        except ValidationError:
            kept = False
        assert kept == _matches(NOT_BLANK, char), hex(ord(char))


@pytest.mark.parametrize(
    ("url", "valid"),
    [("http://example.org/a", True), ("HTTPS://example.org", True), ("  ", True),
     ("ftp://example.org", False), ("http:///a", False), ("//example.org", False),
     ("\u2003http://example.org/a\u3000", True)],
)  # fmt: skip
def test_the_url_pattern_agrees_with_the_validator(url: str, valid: bool) -> None:
    assert _matches(HTTP_URL, url) == valid
    try:
        ArticleIn.model_validate({"body": "x", "url": url})
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == valid


@pytest.mark.parametrize("language", ["en", "EN", " de ", "\x1cfr\x1f", "e", "engl", "e1", "é"])
def test_the_language_pattern_agrees_with_the_validator(language: str) -> None:
    try:
        ArticleIn.model_validate({"body": "x", "language": language})
        accepted = True
    except ValidationError:
        accepted = False
    assert _matches(LANGUAGE, language) == accepted


def test_web_description_repeats_the_filter_limits() -> None:
    facets = [
        parameter for parameter in web_openapi.SEARCH_PARAMETERS if parameter["name"] in FACETS
    ]
    assert [parameter["name"] for parameter in facets] == list(FACETS)
    for parameter in facets:
        assert parameter["schema"]["maxItems"] == web_params.MAX_FILTER_VALUES
        assert parameter["schema"]["items"]["maxLength"] == web_params.MAX_FILTER_CHARS


def test_the_entity_name_pattern_agrees_with_invalid_name() -> None:
    from web.entities import invalid_name

    pattern = web_openapi.ENTITY_NAME_PATTERN
    for char in _characters():
        for name in (char, f"a{char}", f"{char} {char}"):
            assert (invalid_name(name) is None) == _matches(pattern, name), repr(name)


@pytest.mark.stack
def test_every_accepted_hostile_article_ends_indexed_or_dead_lettered(
    settings: Settings, worker: Any
) -> None:
    """What this module's hostile requests got accepted went through the run's worker, not a
    side queue: each article indexed, or dead-lettered with its reason, none left "queued"."""
    if not ACCEPTED:
        pytest.skip("no test of this module got an article accepted (deselected)")
    outcome = wait_final_states(
        get_redis(settings),
        get_elasticsearch(settings),
        settings.index_prefix,
        settings.articles_alias,
        ACCEPTED,
        SETTLE_BOUND_S,
    )
    assert not outcome.pending, (
        f"{len(outcome.pending)} accepted articles neither indexed nor dead-lettered after "
        f"{SETTLE_BOUND_S} s: {outcome.problems()[:5]}"
    )


@pytest.mark.parametrize(
    "path",
    ["/api/takedowns?limit=", "/api/takedowns?offset=", "/api/audit?limit=",
     "/api/audit.ndjson?limit="],
)  # fmt: skip
def test_admin_listings_refuse_5000_digit_numbers(admin_client: FlaskClient, path: str) -> None:
    # int() refuses strings of more than 4,300 digits: that was a 500 on these routes.
    response = admin_client.get(path + "9" * 5000)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.get_json()["parameter"] in ("limit", "offset")
