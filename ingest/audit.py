"""The audit event of an accepted ``POST /articles`` (shared/audit.py): one per request, not
one per article, naming the caller ingest/auth.py identified and how many articles were
accepted and rejected.

An event that cannot be written (Redis refused it just after queueing the articles) is logged
instead: the articles are accepted (the 202 stands), never a 500.
"""

from __future__ import annotations

import logging

import redis
from flask import g, request

from ingest.auth import Caller
from shared import audit
from shared.clients import get_redis
from shared.settings import Settings

log = logging.getLogger(__name__)


def caller_actor(caller: Caller | None) -> tuple[str, dict[str, audit.DetailValue]]:
    """The actor of ``caller`` and what the detail adds: an ingest token is ``token:<id>``
    (its client's name beside it), a user token its owner's name (the token's id beside it),
    the deprecated shared key ``key``, an open ingest ``anonymous``."""
    if caller is None or caller.via == "open":
        return "anonymous", {}
    if caller.via == "key":
        return "key", {}
    token = caller.token
    if token is None:
        return "anonymous", {}
    if token.kind == "ingest" or caller.user is None:
        return f"token:{token.id}", {"owner": token.owner}
    return caller.user.name, {"token": token.id}


def record_post(settings: Settings, *, queue: str, accepted: int, rejected: int) -> None:
    actor, detail = caller_actor(g.get("ingest_caller"))
    try:
        audit.record(
            get_redis(settings),
            settings,
            actor=actor,
            action="ingest.post",
            target=queue,
            address=request.remote_addr,
            detail={**detail, "accepted": accepted, "rejected": rejected},
        )
    except (redis.RedisError, OSError) as error:
        log.warning(
            "audit event not recorded (%s): actor=%r action='ingest.post' accepted=%d "
            "rejected=%d address=%r",
            error,
            actor,
            accepted,
            rejected,
            request.remote_addr,
        )
