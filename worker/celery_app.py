"""The one Celery app. Ingest imports it only to send tasks by name; the worker runs it:

celery -A worker.celery_app worker -Q live
celery -A worker.celery_app worker -Q webhooks --pool threads --concurrency 4  (deliveries)
"""

from __future__ import annotations

from celery import Celery

from shared.settings import Settings, get_settings
from worker import observability  # noqa: F401  (connects logging, heartbeat and retry signals)

PROCESS_ARTICLES_TASK = "newsroom.process_articles"
# Saved-search alerts: match a batch just indexed; POST one webhook delivery (worker/alerts.py).
EVALUATE_ALERTS_TASK = "newsroom.evaluate_alerts"
DELIVER_WEBHOOK_TASK = "newsroom.deliver_webhook"


def create_celery_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    app = Celery("newsroom", broker=settings.celery_broker_url, include=["worker.tasks"])
    app.conf.update(
        # At-least-once: a task leaves Redis only once it has finished; a worker that dies
        # mid-task gives it back instead of losing it.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Every task is bounded in time. Past the soft limit a batch is split into single
        # articles, sent again (worker/tasks.py); past the hard one the process is killed and
        # the message goes back to the queue rather than being acknowledged (lost): its next
        # delivery knows it was lost (worker/deliveries.py) and splits it, or dead-letters a
        # lone article.
        task_soft_time_limit=settings.task_soft_time_limit_s,
        task_time_limit=settings.task_time_limit_s,
        task_acks_on_timeout=False,
        # A new pool process loads its models (worker_process_init) before it reports up;
        # Celery's 4 s default killed every replacement of a lost process, one after another.
        worker_proc_alive_timeout=settings.worker_process_start_timeout_s,
        worker_prefetch_multiplier=1,
        worker_max_memory_per_child=settings.worker_max_memory_mb * 1024,  # KiB
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout_s,
            "socket_timeout": settings.redis_timeout_s,
            "socket_connect_timeout": settings.redis_timeout_s,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=settings.redis_timeout_s,
        # Ingest must answer 503 quickly when Redis is down rather than hang on publish.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
        task_default_queue=settings.queue_name,
        # Webhook deliveries never share a queue with articles (worker/tasks.py also names the
        # queue when it sends them): a slow receiver holds a webhook worker, not ingestion.
        task_routes={DELIVER_WEBHOOK_TASK: {"queue": settings.webhook_queue_name}},
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    return app


app = create_celery_app()
