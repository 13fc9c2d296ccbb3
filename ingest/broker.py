"""Task messages written straight into the Redis broker, in the caller's own round trip.

Why not ``celery_app.send_task``: on a single-article POST kombu's publish was 34-45% of the
ingest's CPU (a ``redis.Redis`` object built per publish, a repr of every payload for the
``argsrepr`` header, a round trip of its own), and the 429 check borrowed a pooled connection
for its ``LLEN``. Here Celery still builds the message (``amqp.as_task_v2``, protocol 2), and
this module only wraps it the way kombu's Redis transport stores a message: a JSON envelope
with the body base64-encoded, ``LPUSH``ed onto the list named after the queue (priority 0,
no key prefix, which is how ``worker.celery_app`` configures the transport).
``tests/test_broker.py`` compares the result with what ``send_task`` writes, and every
ingest test has a real worker consume it.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from json import dumps
from typing import Any

import redis
from celery import Celery

# How long a queue depth read by this process stays good enough for the 429 check: a LLEN
# per request was 7-12% of a single-article POST. Depths at or over the limit are always read
# again, so a drained queue is seen at once.
DEPTH_MAX_AGE_S = 0.1

_ORIGIN = f"{os.getpid()}@{socket.gethostname()}"
_depths: dict[tuple[int, str], tuple[float, int]] = {}
_depths_lock = threading.Lock()


def encode_task_message(
    celery_app: Celery, task_name: str, args: Sequence[Any], *, queue: str, argsrepr: str
) -> str:
    """The broker's stored form of one task message for ``queue`` (what ``LPUSH`` takes)."""
    task_id = str(uuid.uuid4())
    message = celery_app.amqp.as_task_v2(
        task_id,
        task_name,
        args=list(args),
        argsrepr=argsrepr,
        kwargsrepr="{}",
        origin=_ORIGIN,
        ignore_result=None,  # as send_task leaves it: the task's own setting decides
    )
    body = base64.b64encode(dumps(message.body).encode()).decode("ascii")
    envelope = {
        "body": body,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": message.headers,
        "properties": {
            **message.properties,
            "delivery_mode": 2,  # persistent
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return dumps(envelope)


def push_tasks(pipe: redis.client.Pipeline, queue: str, messages: Sequence[str]) -> None:
    """Add the ``LPUSH`` of each message to ``pipe``; each reply is the queue's new depth."""
    for message in messages:
        pipe.lpush(queue, message)


def queue_depth(client: redis.Redis, queue: str, limit: int) -> int:
    """Tasks waiting in ``queue``: read again unless this process read (or pushed) it less
    than ``DEPTH_MAX_AGE_S`` ago and it was under ``limit``."""
    key = (id(client), queue)
    cached = _depths.get(key)
    now = time.monotonic()
    if cached is not None and now - cached[0] < DEPTH_MAX_AGE_S and cached[1] < limit:
        return cached[1]
    depth = int(client.llen(queue))
    note_depth(client, queue, depth)
    return depth


def note_depth(client: redis.Redis, queue: str, depth: int) -> None:
    """Remember a depth just seen (an ``LPUSH`` reply is one, for free)."""
    with _depths_lock:
        _depths[(id(client), queue)] = (time.monotonic(), depth)
