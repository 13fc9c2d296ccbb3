"""The one Celery app that runs the tasks (ingest and the CLI only send them, by name, through
``shared.tasks``):

celery -A worker.celery_app worker -Q live
celery -A worker.celery_app worker -Q webhooks --pool threads --concurrency 4  (deliveries)
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_init

from shared.model_files import ModelFilesError, check_installed
from shared.settings import Settings, get_settings
from shared.tasks import celery_config
from worker import observability  # noqa: F401  (connects logging, heartbeat and retry signals)


@worker_init.connect  # type: ignore[untyped-decorator]
def _refuse_changed_model_files(**_: Any) -> None:
    """In the worker's main process, before any model loads (worker_process_init): a model or
    data file that differs from shared/model_manifest.json stops the worker, naming it.
    SystemExit, because Celery logs and swallows an Exception raised by a signal handler."""
    try:
        check_installed()
    except ModelFilesError as error:
        raise SystemExit(f"worker: refusing to start: {error}") from None


def create_celery_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    app = Celery("newsroom", broker=settings.celery_broker_url, include=["worker.tasks"])
    app.conf.update(celery_config(settings))
    return app


app = create_celery_app()
