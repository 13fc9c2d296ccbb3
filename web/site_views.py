"""The service itself: its health (``/healthz``) and its API description
(``GET /api/openapi.json``, web/openapi.py)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from shared.http import app_settings, health_response
from web.openapi import openapi_document

bp = Blueprint("site", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    return health_response(app_settings())


@bp.get("/api/openapi.json")
def api_openapi() -> Response:
    return jsonify(openapi_document(app_settings().export_max_rows))
