"""The ingest HTTP service: validate posted articles, give each a deterministic id, queue them.

Run with ``gunicorn 'ingest:create_app()'`` (see the Makefile).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from shared.flask_metrics import install_metrics
from shared.http import register_error_handlers, trust_proxies
from shared.logs import configure_logging
from shared.settings import Settings, get_settings


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """``config`` may hold Flask settings and ``NEWSROOM_SETTINGS`` (a ``Settings``)."""
    config = dict(config or {})
    settings: Settings = config.pop("NEWSROOM_SETTINGS", None) or get_settings()
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.ingest_max_body_bytes,
        # Another Host header gets 400 (werkzeug's check); empty: any host (local runs).
        TRUSTED_HOSTS=settings.trusted_hosts or None,
        **config,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["newsroom_settings"] = settings
    register_error_handlers(app)
    trust_proxies(app, settings)  # X-Forwarded-For of the proxies in front, if any
    configure_logging(settings)  # unless already configured (a test runner, ...)
    install_metrics(app, "ingest")  # GET /metrics, and every request counted and timed

    from ingest.auth import install_auth
    from ingest.views import bp

    install_auth(app)  # tokens, the deprecated key; /metrics included (ingest/auth.py)

    app.register_blueprint(bp)
    return app
