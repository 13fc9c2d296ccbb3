"""Make room for a benchmark and clean up after it: its Redis keys, queues and indices only,
named exactly (the shared Redis and Elasticsearch also serve the tests and ``make up``)."""

from __future__ import annotations

import redis
from elasticsearch import Elasticsearch

from shared.index import delete_templates, index_name
from shared.settings import Settings


def delete_redis_prefix(client: redis.Redis, prefix: str) -> int:
    """Delete every key ``<prefix>:*``; returns how many."""
    deleted = 0
    batch: list[str] = []
    for key in client.scan_iter(f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) == 1000:
            deleted += int(client.unlink(*batch))  # type: ignore[arg-type,unused-ignore]
            batch = []
    if batch:
        deleted += int(client.unlink(*batch))  # type: ignore[arg-type,unused-ignore]
    return deleted


def delete_queue(client: redis.Redis, queue: str) -> None:
    """The Celery queue (a Redis list) and kombu's binding records of it (kombu 5.5 also keeps
    ``_kombu.binding_permanent.<queue>``)."""
    client.unlink(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


def delete_index(es: Elasticsearch, settings: Settings) -> None:
    """The versioned index behind the settings' aliases (by name: wildcards are refused)."""
    es.options(ignore_status=404).indices.delete(index=index_name(settings))
    # With the template its ensure_index() published, and what this process remembers of it.
    delete_templates(es, settings)


def clean(client: redis.Redis, es: Elasticsearch, settings: Settings) -> None:
    """Everything a benchmark run made under these settings' prefix and queue."""
    delete_redis_prefix(client, settings.index_prefix)
    delete_queue(client, settings.queue_name)
    delete_queue(client, settings.bulk_queue_name)
    delete_index(es, settings)
