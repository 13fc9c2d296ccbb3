"""Task messages written straight into the Redis broker, in the caller's own round trip.

Why not ``celery_app.send_task``: on a single-article POST kombu's publish was 34-45% of the
ingest's CPU (a ``redis.Redis`` object built per publish, a repr of every payload for the
``argsrepr`` header, a round trip of its own), and the 429 check borrowed a pooled connection
for its ``LLEN`` (backpressure reads its own figures now: ``ingest/pressure.py``). Here
Celery still builds the message (``amqp.as_task_v2``, protocol 2), and this module only wraps
it the way kombu's Redis transport stores a message: a JSON envelope with the body
base64-encoded, ``LPUSH``ed onto the list named after the queue (priority 0, no key prefix,
which is how ``worker.celery_app`` configures the transport).
``tests/test_broker.py`` compares the result with what ``send_task`` writes, and every
ingest test has a real worker consume it.

The JSON is written as UTF-8 (``ensure_ascii=False``), not with ``\\uXXXX`` escapes as kombu's
``dumps`` does: the message says ``content-encoding: utf-8`` and kombu decodes it so, and text
in Greek, Cyrillic or CJK takes half (to a third) of the bytes in the queue.
"""

from __future__ import annotations

import base64
import os
import socket
import uuid
from collections.abc import Sequence
from json import dumps
from typing import Any

import redis
from celery import Celery

_ORIGIN = f"{os.getpid()}@{socket.gethostname()}"


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
    body = base64.b64encode(dumps(message.body, ensure_ascii=False).encode()).decode("ascii")
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
    return dumps(envelope, ensure_ascii=False)


def push_tasks(pipe: redis.client.Pipeline, queue: str, messages: Sequence[str | bytes]) -> None:
    """Add the ``LPUSH`` of each message to ``pipe``; each reply is the queue's new depth."""
    for message in messages:
        pipe.lpush(queue, message)
