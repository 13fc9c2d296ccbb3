"""The API description is valid OpenAPI and covers every API route."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

import web
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
