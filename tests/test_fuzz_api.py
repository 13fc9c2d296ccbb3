"""Generated requests against both OpenAPI documents (schemathesis), in process, against the
real Redis, Elasticsearch and a Celery worker.

Every operation of ingest's ``/openapi.json`` and web's ``/api/openapi.json`` gets requests
generated from its description: valid ones (positive) and, where it takes input, invalid ones
(negative). Operations on one article, entity or saved search also run with ids and names that
exist, so their 200 answers are checked too. Every response must not be a server error, must
carry a documented status code and content type and match the documented schema, and must
accept what the description calls valid and refuse what it calls invalid, except for the few
rules JSON Schema cannot state (``unstated_rule``, each with its reason).

``NEWSROOM_FUZZ_EXAMPLES`` is the budget of generated requests (default 500, to keep the test
command short); the figures in docs/RELIABILITY.md come from a run with 5,000. Requests are
counted as they are made, and the totals are written to tests/artifacts/fuzz-requests.json.

The generated articles ingest accepts go through the real worker, on the run's own queues: the
first ``NEWSROOM_FUZZ_FOLLOWED`` requests to ``POST /articles`` (default 60) reach an ingest
that queues for the run's worker, and every article they got accepted must end indexed or
dead-lettered with its reason, never stuck "queued", within ``FOLLOW_BOUND_S``. The rest of the
budget (thousands of articles at 5,000) reaches an ingest whose queues no worker consumes,
deleted at the end, so the fuzzing budget does not become an enrichment budget.

Ingest requires auth here (as in production): the generated requests to both APIs carry an
editor's API token (so web's saved-search writes run as an editor would send them), and every
operation that needs credentials (ingest's writes and /metrics, web's saved-search writes and
the admins' /api/pipeline: those whose ``security`` has no anonymous option) is also driven
without one (``anonymous`` runs, ``ANONYMOUS_EXAMPLES`` each, with whatever Authorization,
X-API-Key or session cookie is generated), where every answer must be 401: no write succeeds
without a token.

schemathesis' own pytest integration (``schemathesis.pytest.from_fixture``) sets
``Node._nodeid``, which pytest 9 no longer has, so the operations' Hypothesis strategies are
driven here with ``@given``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import hypothesis
import jsonschema_rs
import pytest
import schemathesis
from flask import Flask
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

import ingest
from ingest.openapi import openapi_document as ingest_document
from ingest.parsing import NDJSON_TYPES
from shared import accounts, saved_searches
from shared.clients import get_elasticsearch, get_redis
from shared.settings import Settings
from tests.conftest import RUN_ID
from tests.drill_support import wait_final_states
from web.facets import FACETS
from web.openapi import openapi_document as web_document

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("worker")]

BUDGET = int(os.environ.get("NEWSROOM_FUZZ_EXAMPLES", "500"))
# Requests to POST /articles whose accepted articles the run's worker indexes (see above).
FOLLOWED = int(os.environ.get("NEWSROOM_FUZZ_FOLLOWED", "60"))
FOLLOW_BOUND_S = 300
ARTIFACT = Path(__file__).parent / "artifacts" / "fuzz-requests.json"
FOLLOWED_ARTIFACT = Path(__file__).parent / "artifacts" / "fuzz-followed.json"
DOCUMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    "ingest": ingest_document,
    "web": web_document,
}
# Path parameters that get real values in the "known" runs (see the ``known`` fixture).
KNOWN_PARAMETERS = {"article_id", "kind", "name", "saved_id"}
TEXT_TYPES = {"text/plain", "text/html", "application/xhtml+xml"}
BLANK_IS_ABSENT = {
    "page",
    "size",
    "from",
    "to",
    "limit",
    "recent_hours",
    "baseline_days",
}  # web/openapi.py says so
MAX_PASSES = 10  # Hypothesis runs per operation to spend its share of the budget
# Requests per operation sent without a token (the anonymous runs), on top of the budget.
ANONYMOUS_EXAMPLES = int(os.environ.get("NEWSROOM_FUZZ_ANONYMOUS", "25"))


@dataclass(frozen=True)
class Run:
    api: str
    method: str
    path: str
    mode: GenerationMode
    known: bool  # path parameters that name an existing article, entity or saved search
    varies: bool  # something left to generate: a parameter or a body
    anonymous: bool = False  # sent without the run's credentials: must be refused (401)

    @property
    def id(self) -> str:
        known = "-known" if self.known else ""
        anonymous = "-anonymous" if self.anonymous else ""
        return f"{self.mode.value}{known}{anonymous}-{self.api}-{self.method} {self.path}"


def _runs() -> list[Run]:
    runs = []
    for api, make_document in DOCUMENTS.items():
        document = make_document()
        for path, methods in document["paths"].items():
            for method, operation in methods.items():
                names = {p["name"] for p in operation.get("parameters", [])}
                body = "requestBody" in operation
                runs.append(Run(api, method.upper(), path, GenerationMode.POSITIVE, False,
                                bool(names) or body))  # fmt: skip
                if names or body:
                    runs.append(Run(api, method.upper(), path, GenerationMode.NEGATIVE, False,
                                    True))  # fmt: skip
                path_names = {n for n in names if "{" + n + "}" in path}
                if path_names and path_names <= KNOWN_PARAMETERS:
                    runs.append(Run(api, method.upper(), path, GenerationMode.POSITIVE, True,
                                    bool(names - path_names) or body))  # fmt: skip
                if {} not in operation.get("security", document["security"]):  # needs credentials
                    runs.append(Run(api, method.upper(), path, GenerationMode.POSITIVE, False,
                                    bool(names) or body, anonymous=True))  # fmt: skip
    return runs


RUNS = _runs()
PER_RUN = math.ceil(BUDGET / sum(run.varies and not run.anonymous for run in RUNS))


@dataclass
class Tally:
    """What the generated requests met, counted as they are made."""

    requests: Counter[str] = field(default_factory=Counter)  # by API
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)  # (operation, status)
    excused: Counter[str] = field(default_factory=Counter)  # unstated rule -> requests
    seconds: float = 0.0
    # Ids accepted by the followed requests (those that went to the worker's queues).
    followed: list[str] = field(default_factory=list)
    followed_requests: int = 0

    def count(self, api: str, label: str, status: int) -> None:
        self.requests[api] += 1
        self.statuses[(f"{api} {label}", status)] += 1


TALLY = Tally()


@schemathesis.serializer(*sorted(NDJSON_TYPES), "text/html", "application/xhtml+xml")
def _raw_text(ctx: Any, value: Any) -> bytes:
    """These bodies are text on the wire: a generated string as UTF-8 (lone surrogates kept as
    the bytes a careless client would send), anything else (negative cases) as JSON."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()


def _problem(response: Any) -> dict[str, Any]:
    # schemathesis' Response: lower-case header names, each with a list of values.
    if response.headers.get("content-type", [""])[0].startswith("application/problem+json"):
        body = json.loads(response.content)
        return body if isinstance(body, dict) else {}
    return {}


def _sent_query(response: Any) -> dict[str, list[str]]:
    """The query string as it went on the wire (generated objects are sent as blanks)."""
    return parse_qs(urlsplit(response.request.url).query, keep_blank_values=True)


def unstated_rule(case: Any, response: Any) -> str | None:
    """The rule of the service, documented in words but not in JSON Schema, that explains why
    a schema-valid request was refused or a schema-violating one accepted; None when there is
    none (then the acceptance checks apply)."""
    label = case.operation.label
    negative = {
        location for location, info in case.meta.components.items() if info.mode.is_negative
    }
    status = response.status_code
    if 200 <= status < 300 and negative:
        # No operation declares a header parameter: a generated header is the security
        # scheme's Authorization, which each run replaces with its own token.
        negative.discard(ParameterLocation.HEADER)
        if not negative:
            return "the run sends its own Authorization header, not the generated one"
        if label == "POST /articles" and negative == {ParameterLocation.QUERY}:
            return "ingest reads query fields only for text/plain and text/html bodies"
        if (
            label == "POST /articles"
            and ParameterLocation.BODY in negative
            and status == 202
            and response.json().get("rejected")
        ):
            return "a JSON array is taken item by item: the invalid ones are listed in rejected"
        if label == "POST /articles" and case.media_type in TEXT_TYPES | NDJSON_TYPES:
            return "a text body is text on the wire, whatever value was generated for it"
        if (
            label == "POST /api/saved-searches"
            and case.media_type == "application/json"
            and negative == {ParameterLocation.QUERY}
        ):
            return "with a JSON body, /api/saved-searches does not read the query"
        if (
            label == "POST /api/saved-searches"
            and negative == {ParameterLocation.BODY}
            and _facets_as_read_are_valid(label, case.body)
        ):
            return "facet values are stripped, and blanks and repeats dropped, before counting"
        if negative == {ParameterLocation.QUERY} and _wire_query_is_valid(label, response):
            return "the query as sent is valid: it is text, and a blank number or date is absent"
    if status in (400, 422) and not negative:
        problem = _problem(response)
        if label == "POST /articles" and case.media_type in NDJSON_TYPES:
            return "each NDJSON line must be an Article, which a string schema cannot say"
        if problem.get("parameter") == "after":
            return "'after' takes only a cursor that next_after gave"
        if problem.get("title") == "Nothing to match":
            return "a saved search needs words or a facet filter, in the query or the body"
        if problem.get("title") == "Page too deep":
            return "page × size stays within 10,000 (100 for hybrid and semantic ranking)"
        if problem.get("detail") == "'from' is after 'to'":
            return "'from' may not be after 'to'"
        if problem.get("parameter") == "webhook_url" and "private" in problem.get("detail", ""):
            return "a webhook may not point to a loopback or private address"
        if problem.get("parameter") == "email_alerts":
            return "email alerts need an SMTP server and the owner's own address"
    return None


OPERATION_DOCS = {
    f"{method.upper()} {path}": operation
    for document in DOCUMENTS.values()
    for path, methods in document()["paths"].items()
    for method, operation in methods.items()
}


def _facets_as_read_are_valid(label: str, body: Any) -> bool:
    """Whether a JSON body satisfies the description once its facet lists are read as the
    service reads them (web/saved.py: stripped, blanks and repeats dropped)."""
    if not isinstance(body, dict):
        return False

    def read(values: Any) -> Any:
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            return values
        return list(dict.fromkeys(v.strip() for v in values if v.strip()))

    filters = body.get("filters")
    as_read = {name: read(value) if name in FACETS else value for name, value in body.items()}
    if isinstance(filters, dict):
        as_read["filters"] = {name: read(value) for name, value in filters.items()}
    schema = OPERATION_DOCS[label]["requestBody"]["content"]["application/json"]["schema"]
    return jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(as_read)


def _wire_query_is_valid(label: str, response: Any) -> bool:
    """Whether the query, read as the services read it, satisfies the description. Negative
    cases are judged on typed values: a number generated for a string parameter, or an object
    for an integer one, is sent as text that may well be valid."""
    sent = _sent_query(response)
    properties: dict[str, Any] = {}
    instance: dict[str, Any] = {}
    for parameter in OPERATION_DOCS[label].get("parameters", []):
        name, schema = parameter["name"], parameter["schema"]
        if parameter["in"] != "query" or name not in sent:
            continue
        if schema.get("type") == "array":  # facets: stripped, blanks and repeats dropped
            instance[name] = list(dict.fromkeys(v.strip() for v in sent[name] if v.strip()))
        else:
            value = sent[name][0]  # Flask's args.get: the first
            if schema.get("type") == "integer" or schema.get("format") == "date":
                value = value.strip()
                if not value and name in BLANK_IS_ABSENT:
                    continue
                if schema.get("type") == "integer" and value.isascii() and value.isdigit():
                    instance[name] = int(value)
                    properties[name] = schema
                    continue
            instance[name] = value
        properties[name] = schema
    schema = {"type": "object", "properties": properties}
    return jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(instance)


CONFORMANCE = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
]
ACCEPTANCE = ["positive_data_acceptance", "negative_data_rejection"]


def _checks(names: list[str]) -> list[Any]:
    return [getattr(schemathesis.checks, name) for name in names]


class _FollowFirst:
    """The WSGI app schemathesis calls for ingest: the first ``FOLLOWED`` requests to
    ``POST /articles`` carrying the run's token go to ``followed`` (an ingest queueing for the
    run's worker), the rest and every other request to ``unfollowed``. Hand-written: a dozen
    lines of routing, which schemathesis (one app per schema) has no option for."""

    def __init__(self, followed: Flask, unfollowed: Flask, authorization: str) -> None:
        self.followed, self.unfollowed = followed, unfollowed
        self.authorization = authorization

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        posting = (
            environ.get("REQUEST_METHOD") == "POST"
            and environ.get("PATH_INFO") == "/articles"
            and environ.get("HTTP_AUTHORIZATION") == self.authorization
        )
        if posting and TALLY.followed_requests < FOLLOWED:
            TALLY.followed_requests += 1
            return self.followed(environ, start_response)
        return self.unfollowed(environ, start_response)


@pytest.fixture(scope="module")
def credentials(settings: Settings, services: None) -> Iterator[dict[str, dict[str, str]]]:
    """The headers each API's generated requests carry: an editor's API token (a user token:
    an ingest token would make the run's own ingest require auth for every later test),
    revoked and its user disabled at the end."""
    redis_client = get_redis(settings)
    name = f"fuzz-editor-{RUN_ID}"
    accounts.add_user(redis_client, settings, name, "editor")
    token, secret = accounts.create_token(redis_client, settings, name, "user", "fuzz")
    bearer = {"Authorization": f"Bearer {secret}"}
    yield {"ingest": bearer, "web": bearer}
    accounts.revoke_token(redis_client, settings, token.id)
    accounts.disable_user(redis_client, settings, name)


@pytest.fixture(scope="module")
def fuzz_ingest_app(
    settings: Settings, services: None, credentials: dict[str, dict[str, str]]
) -> Iterator[_FollowFirst]:
    """Ingest for the generated requests, requiring auth as in production: the followed ones
    queue for the run's worker, the others to queues of their own (live and bulk) that no
    worker consumes, deleted at the end."""
    queues = {
        "queue_name": f"{settings.queue_name}-fuzz",
        "bulk_queue_name": f"{settings.bulk_queue_name}-fuzz",
    }
    closed = {"environment": "production"}  # requires auth without an ingest token
    yield _FollowFirst(
        ingest.create_app(
            {"TESTING": True, "NEWSROOM_SETTINGS": settings.model_copy(update=closed)}
        ),
        ingest.create_app(
            {"TESTING": True, "NEWSROOM_SETTINGS": settings.model_copy(update=queues | closed)}
        ),
        credentials["ingest"]["Authorization"],
    )
    get_redis(settings).delete(*queues.values())


@pytest.fixture(scope="module")
def created_searches(settings: Settings, services: None) -> Iterator[dict[str, str]]:
    """Saved searches the requests created ({id: owner}), deleted at the end so the worker's
    alerts never match them in later tests."""
    created: dict[str, str] = {}
    yield created
    redis_client = get_redis(settings)
    for saved_id in created:
        saved_searches.delete(redis_client, settings.index_prefix, saved_id)


@dataclass(frozen=True)
class Known:
    article_id: str
    person: str
    saved_id: str


@pytest.fixture(scope="module")
def known(
    ingest_app: Flask,
    web_app: Flask,
    sample_text: str,
    wait_indexed_module: Callable[[list[str]], None],
    created_searches: dict[str, str],
    credentials: dict[str, dict[str, str]],
) -> Known:
    """An indexed article naming a person, and a saved search of the runs' editor (so its
    ``known`` PATCH and DELETE runs succeed with the token, the DELETE last), for the
    ``known`` runs."""
    posted = ingest_app.test_client().post(
        "/articles?source=Trend", data=sample_text, content_type="text/plain; charset=utf-8"
    )
    article_id = posted.get_json()["articles"][0]["id"]
    wait_indexed_module([article_id])
    web = web_app.test_client()
    article = web.get(f"/api/articles/{article_id}", headers=credentials["web"]).get_json()
    created = web.post(
        "/api/saved-searches", json={"name": "fuzz", "q": "media forum"}, headers=credentials["web"]
    )
    body = created.get_json()
    created_searches[body["id"]] = body["owner"]
    return Known(article_id, article["people"][0], body["id"])


@pytest.fixture(scope="module")
def schemas(fuzz_ingest_app: _FollowFirst, web_app: Flask) -> dict[str, Any]:
    return {
        "ingest": schemathesis.openapi.from_wsgi("/openapi.json", fuzz_ingest_app),
        "web": schemathesis.openapi.from_wsgi("/api/openapi.json", web_app),
    }


def _fixed(run: Run, known: Known) -> dict[str, str] | None:
    if not run.known:
        return None
    values = {"article_id": known.article_id, "kind": "person", "name": known.person,
              "saved_id": known.saved_id}  # fmt: skip
    return {name: value for name, value in values.items() if "{" + name + "}" in run.path}


@pytest.mark.parametrize("run", RUNS, ids=[run.id for run in RUNS])
def test_generated_requests(
    run: Run,
    schemas: dict[str, Any],
    known: Known,
    created_searches: dict[str, str],
    credentials: dict[str, dict[str, str]],
) -> None:
    operation = schemas[run.api][run.path][run.method]
    strategy = operation.as_strategy(generation_mode=run.mode, path_parameters=_fixed(run, known))
    target = ANONYMOUS_EXAMPLES if run.anonymous else PER_RUN if run.varies else 1
    headers = None if run.anonymous else credentials[run.api]
    made = 0

    def check(case: Any) -> None:
        nonlocal made
        started = time.perf_counter()
        before = TALLY.followed_requests
        response = case.call(headers=headers)
        followed = TALLY.followed_requests > before  # _FollowFirst sent it to the worker's queues
        TALLY.seconds += time.perf_counter() - started
        label = f"{operation.label} (no token)" if run.anonymous else operation.label
        TALLY.count(run.api, label, response.status_code)
        made += 1
        if run.anonymous:
            # Whatever was generated (an Authorization or X-API-Key header of its own, a body
            # that would be accepted), no request without a token gets past the check.
            assert response.status_code == 401, (case.method, case.path, response.status_code)
            case.validate_response(response, checks=_checks(CONFORMANCE))
            return
        if operation.label == "POST /api/saved-searches" and response.status_code == 201:
            created = json.loads(response.content)
            created_searches[created["id"]] = created["owner"]
        if followed and response.status_code == 202:
            TALLY.followed += [item["id"] for item in json.loads(response.content)["articles"]]
        case.validate_response(response, checks=_checks(CONFORMANCE))
        reason = unstated_rule(case, response)
        if reason is None:
            case.validate_response(response, checks=_checks(ACCEPTANCE))
        else:
            TALLY.excused[reason] += 1

    for _ in range(MAX_PASSES):
        before = made
        hypothesis.settings(
            max_examples=target - made,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )(hypothesis.given(case=strategy)(check))()
        # A small input space is exhausted in one pass: repeating it would resend the same.
        if made >= target or made - before < (target - before) // 2:
            break


def test_generated_request_totals() -> None:
    """The recorded figures; fails when the generated requests did not run as budgeted."""
    total = sum(TALLY.requests.values())
    if total == 0:
        pytest.skip("no generated requests ran (deselected)")
    by_class = Counter(f"{status // 100}xx" for (_, status), n in TALLY.statuses.items()
                       for _ in range(n))  # fmt: skip
    by_operation: dict[str, dict[str, int]] = {}
    for (label, status), n in sorted(TALLY.statuses.items()):
        by_operation.setdefault(label, {})[str(status)] = n
    without_token: Counter[int] = Counter()
    without_token_by_api: dict[str, Counter[int]] = {}
    for (label, status), n in TALLY.statuses.items():
        if "(no token)" in label:
            without_token[status] += n
            without_token_by_api.setdefault(label.split()[0], Counter())[status] += n
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(
        json.dumps(
            {
                "budget": BUDGET,
                "requests": total,
                "by_api": dict(TALLY.requests),
                "by_status_class": dict(sorted(by_class.items())),
                "server_errors": sum(n for (_, s), n in TALLY.statuses.items() if s >= 500),
                "without_token": {str(s): n for s, n in sorted(without_token.items())},
                "without_token_by_api": {
                    api: {str(s): n for s, n in sorted(by_status.items())}
                    for api, by_status in sorted(without_token_by_api.items())
                },
                "excused_by_unstated_rule": dict(TALLY.excused.most_common()),
                "seconds_in_requests": round(TALLY.seconds, 1),
                "schemathesis": schemathesis.__version__,
                "hypothesis": hypothesis.__version__,
                "by_operation": by_operation,
            },
            indent=2,
        )
        + "\n"
    )
    assert by_class["5xx"] == 0
    assert set(without_token) <= {401}, f"answered without a token: {without_token}"
    assert total >= BUDGET * 0.9, f"{total} generated requests for a budget of {BUDGET}"
    assert TALLY.statuses[("ingest POST /articles", 202)] > 0, "no generated article accepted"
    assert TALLY.statuses[("web GET /api/search", 200)] > 0
    # The web's writes ran with the token and got through (the known search's DELETE is one).
    assert TALLY.statuses[("web POST /api/saved-searches", 201)] > 0, "no saved search created"
    assert TALLY.statuses[("web DELETE /api/saved-searches/{saved_id}", 204)] > 0
    assert sum(without_token_by_api.get("web", Counter()).values()) > 0, "no web run without token"


def test_generated_articles_end_indexed_or_dead_lettered(settings: Settings) -> None:
    """Every article the followed requests got accepted went through the run's worker and
    ended indexed or dead-lettered with its reason, none left "queued", within the bound."""
    if not TALLY.followed_requests:
        pytest.skip("no generated request to POST /articles ran (deselected)")
    assert TALLY.followed, f"none of {TALLY.followed_requests} followed requests was accepted"
    outcome = wait_final_states(
        get_redis(settings),
        get_elasticsearch(settings),
        settings.index_prefix,
        settings.articles_alias,
        TALLY.followed,
        FOLLOW_BOUND_S,
    )
    figures = {
        "followed_requests": TALLY.followed_requests,
        "followed_articles": len(set(TALLY.followed)),
        "indexed": len(outcome.indexed),
        "dead_lettered": len(outcome.dead),
        "dead_letter_reasons": sorted({why[:120] for why in outcome.dead.values()})[:10],
        "not_settled": len(outcome.pending),
        "seconds_to_settle": round(outcome.seconds, 1),
    }
    FOLLOWED_ARTIFACT.parent.mkdir(exist_ok=True)
    FOLLOWED_ARTIFACT.write_text(json.dumps(figures, indent=2) + "\n")
    assert not outcome.pending, (
        f"{len(outcome.pending)} generated articles neither indexed nor dead-lettered after "
        f"{FOLLOW_BOUND_S} s: {outcome.problems()[:5]}"
    )
