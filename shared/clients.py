"""The Elasticsearch and Redis clients: one function each, one client per process.

Clients hold sockets, which must not be shared across ``fork``: the cache is cleared in the
child after every fork (Celery's prefork pool, gunicorn workers), so each process makes its own.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import redis
from elasticsearch import Elasticsearch

from shared.settings import Settings, get_settings


@lru_cache(maxsize=4)
def _elasticsearch(
    urls: str, timeout_s: float, ca_certs: str | None, login: tuple[str, str] | None
) -> Elasticsearch:
    # Several nodes, comma-separated: a request that cannot reach one is retried on another.
    # A dead node refuses connections or cuts the one a request is on: both are connection
    # errors, retried on another node whatever the method (tests/test_cluster.py). A timeout
    # is not retried: on an overloaded cluster that would send every slow request twice.
    # With security on (docker-compose): https, certificates checked against ca_certs, and
    # basic auth; the local default has neither (plain http on loopback).
    nodes = [url.strip() for url in urls.split(",") if url.strip()]
    secured: dict[str, Any] = {}
    if ca_certs is not None:
        secured["ca_certs"] = ca_certs
    if login is not None:
        secured["basic_auth"] = login
    return Elasticsearch(
        nodes,
        request_timeout=timeout_s,
        retry_on_timeout=False,
        max_retries=max(1, len(nodes) - 1),
        **secured,
    )


@lru_cache(maxsize=4)
def _redis(url: str, timeout_s: float) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
        decode_responses=True,
    )


def get_elasticsearch(settings: Settings | None = None) -> Elasticsearch:
    settings = settings or get_settings()
    password = settings.elasticsearch_password
    login = (
        (settings.elasticsearch_username, password.get_secret_value())
        if settings.elasticsearch_username is not None and password is not None
        else None
    )
    return _elasticsearch(
        settings.elasticsearch_url,
        settings.elasticsearch_timeout_s,
        settings.elasticsearch_ca_certs,
        login,
    )


def get_redis(settings: Settings | None = None) -> redis.Redis:
    settings = settings or get_settings()
    return _redis(settings.redis_url, settings.redis_timeout_s)


def get_broker_redis(settings: Settings | None = None) -> redis.Redis:
    """The Celery broker's Redis (the same client as ``get_redis`` unless NEWSROOM_BROKER_URL
    points elsewhere), for reading queue depths without a Celery connection."""
    settings = settings or get_settings()
    return _redis(settings.celery_broker_url, settings.redis_timeout_s)


def _forget_clients() -> None:
    _elasticsearch.cache_clear()
    _redis.cache_clear()


os.register_at_fork(after_in_child=_forget_clients)
