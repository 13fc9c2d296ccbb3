"""The audit events of the operators' commands (shared/audit.py): the actor is
``cli:<unix user>``, the address the machine's host name.

An event that cannot be written (Redis refused it just after the command's own write) is a
warning on stderr, not a failure: the command did what it said.
"""

from __future__ import annotations

import getpass
import os
import socket

import click
import redis

from shared import audit
from shared.clients import get_redis
from shared.settings import Settings


def cli_actor() -> str:
    """``cli:<unix user>`` (``cli:uid-<n>`` where the user has no name, as in some
    containers)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return f"cli:uid-{os.getuid()}"


def record_command(
    settings: Settings, action: str, target: str, **detail: audit.DetailValue
) -> None:
    """Record what a command did; warns on stderr when the event cannot be written."""
    try:
        audit.record(
            get_redis(settings),
            settings,
            actor=cli_actor(),
            action=action,
            target=target,
            address=socket.gethostname(),
            detail=detail,
        )
    except (redis.RedisError, OSError) as error:
        click.echo(f"warning: the audit event {action} was not recorded: {error}", err=True)
