"""The web front end: a search UI and a JSON API over the article index.

Run with ``gunicorn 'web:create_app()'`` (see the Makefile).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response

from shared.flask_metrics import install_metrics
from shared.http import register_error_handlers, trust_proxies
from shared.logs import configure_logging
from shared.settings import Settings, get_settings

# No inline script or style anywhere: the policy can stay strict.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """``config`` may hold Flask settings and ``NEWSROOM_SETTINGS`` (a ``Settings``)."""
    config = dict(config or {})
    settings: Settings = config.pop("NEWSROOM_SETTINGS", None) or get_settings()
    app = Flask(__name__)
    app.config.update(**config)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["newsroom_settings"] = settings
    register_error_handlers(app)
    trust_proxies(app, settings)  # X-Forwarded-For of the proxies in front, if any
    configure_logging(settings)  # unless already configured (a test runner, ...)
    install_metrics(app, "web")  # GET /metrics, and every request counted and timed

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    # Who is asking and what they may do: sessions, API tokens, roles, CSRF, trusted hosts.
    from web import auth

    auth.install(app, settings)

    # One blueprint per feature, each a page and its JSON API beside its logic (web/*.py).
    from web import (
        account_views,
        article_views,
        audit_views,
        entity_views,
        feed_views,
        pipeline,
        rising_views,
        saved_views,
        search_views,
        site_views,
        story_views,
        takedown_views,
    )
    from web.links import template_helpers

    for feature in (
        search_views,  # /, /api/search, /api/suggest
        article_views,  # /articles/<id>, /api/articles/<id>[/related]
        entity_views,  # /entities/<kind>/<name>, /api/entities/...
        saved_views,  # /saved..., /api/saved-searches...
        rising_views,  # /rising, /api/rising
        feed_views,  # /feed.atom, /feed.json, /api/export
        pipeline,  # /pipeline, /pipeline/dead-letters/<id>, /api/pipeline
        site_views,  # /healthz, /api/openapi.json
        account_views,  # /login, /logout
        audit_views,  # /admin/audit, /api/audit[.ndjson]
        takedown_views,  # /admin/takedowns, /api/takedowns, /api/articles/<id>/takedown
        story_views,  # /stories/<id>, /api/stories/<id>
    ):
        app.register_blueprint(feature.bp)
    app.context_processor(template_helpers)  # links and facets for every template

    # Rate limits per user and per address on search, export, suggest and saved-search
    # creation (web/limits.py), counted after web.auth has said who is asking.
    from web import limits

    limits.install(app, settings)

    # The article page's map of places; its borders are read on the first map drawn.
    from web.maps import article_map

    app.add_template_global(article_map)
    return app
