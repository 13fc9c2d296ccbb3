"""The API description is valid OpenAPI and covers every API route."""

from __future__ import annotations

import re

from openapi_spec_validator import validate
from pydantic import SecretStr

import ingest
import web
from ingest.openapi import openapi_document as ingest_openapi_document
from shared.schema import MAX_TITLE_CHARS
from shared.settings import get_settings
from web.openapi import openapi_document


def test_the_document_is_valid_openapi() -> None:
    validate(openapi_document())  # raises on any error


def test_every_api_route_is_described() -> None:
    app = web.create_app({"TESTING": True})
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
    }
    assert routes == set(openapi_document()["paths"])


def test_it_is_served() -> None:
    client = web.create_app({"TESTING": True}).test_client()
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.1")


def test_the_ingest_document_is_valid_and_covers_every_route() -> None:
    document = ingest_openapi_document()
    validate(document)
    app = ingest.create_app({"TESTING": True})
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
    }
    assert routes == set(document["paths"])


def test_the_ingest_article_schema_follows_validation() -> None:
    """The generated schema carries the model's limits and the body-or-html rule."""
    article = ingest_openapi_document()["components"]["schemas"]["Article"]
    assert article["properties"]["title"]["anyOf"][0]["maxLength"] == MAX_TITLE_CHARS
    assert any(branch["required"] == ["html"] for branch in article["anyOf"])
    assert article["additionalProperties"] is True


def test_the_ingest_document_is_served_without_a_key() -> None:
    settings = get_settings().model_copy(update={"ingest_api_key": SecretStr("k" * 32)})
    client = ingest.create_app({"TESTING": True, "NEWSROOM_SETTINGS": settings}).test_client()
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["info"]["title"] == "Newsroom ingest API"
    assert client.post("/articles", json={"body": "x"}).status_code == 401
