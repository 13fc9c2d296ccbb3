"""The one Celery app that runs the tasks (ingest and the CLI only send them, by name, through
``shared.tasks``):

celery -A worker.celery_app worker -Q live
celery -A worker.celery_app worker -Q webhooks --pool threads --concurrency 4  (deliveries)
"""

from __future__ import annotations

from celery import Celery

from shared.settings import Settings, get_settings
from shared.tasks import celery_config
from worker import observability  # noqa: F401  (connects logging, heartbeat and retry signals)


def create_celery_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    app = Celery("newsroom", broker=settings.celery_broker_url, include=["worker.tasks"])
    app.conf.update(celery_config(settings))
    return app


app = create_celery_app()
