"""``newsroom takedown``: remove an article (and its copies) with a reason, lift a takedown,
list them (registered in cli/main.py). The logic, and where an article lives:
shared/takedown.py; each takedown and lift is in the audit log, by ``cli:<unix user>``."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import click
import redis
from elasticsearch import ApiError as ESApiError
from elasticsearch import TransportError

from cli.audit import cli_actor
from cli.users import command_settings
from shared import takedown
from shared.clients import get_elasticsearch, get_redis


@contextmanager
def _refusals() -> Iterator[None]:
    """A refused takedown, Redis or Elasticsearch out of reach: one line, exit status 1."""
    try:
        yield
    except takedown.TakedownError as error:
        raise click.ClickException(str(error)) from error
    except (redis.RedisError, OSError) as error:
        raise click.ClickException(f"Redis is unreachable: {error}") from error
    except (TransportError, ESApiError, RuntimeError) as error:
        raise click.ClickException(
            f"Elasticsearch: {error}; the takedown is recorded (re-posts are refused): run the "
            "same command again to finish removing it"
        ) from error


@click.group("takedown")
def takedown_group() -> None:
    """Takedowns: an article removed from the index, the dead letters and the stored
    originals, with a reason; ingest refuses a re-post of it with that reason until the
    takedown is lifted."""


@takedown_group.command("add")
@click.argument("article_id")
@click.option("--reason", required=True, help="Why (shown to whoever posts it again).")
@click.option(
    "--with-copies",
    is_flag=True,
    help="Also take down its copies (its near-duplicate cluster: the same story elsewhere).",
)
def takedown_add(article_id: str, reason: str, with_copies: bool) -> None:
    """Take the article ARTICLE_ID down."""
    settings = command_settings()
    with _refusals():
        result = takedown.take_down(
            get_elasticsearch(settings),
            get_redis(settings),
            settings,
            article_id,
            reason,
            cli_actor(),
            with_copies,
            address=socket.gethostname(),
        )
    copies = f", {len(result.copies)} copies" if with_copies else ""
    click.echo(
        f"took down {article_id}{copies}: {result.documents_deleted} index document(s), "
        f"{result.dead_letters_removed} dead letter(s), "
        f"{result.status_records_removed} status record(s) removed"
    )
    if result.copies_left:
        click.echo(
            f"more than {takedown.MAX_COPIES} copies: run the command again for the rest",
            err=True,
        )


@takedown_group.command("lift")
@click.argument("article_id")
@click.option("--with-copies", is_flag=True, help="Also lift its copies' takedowns.")
def takedown_lift(article_id: str, with_copies: bool) -> None:
    """Lift the takedown of ARTICLE_ID: it may be posted again (nothing comes back by
    itself)."""
    settings = command_settings()
    with _refusals():
        lifted = takedown.lift(
            get_redis(settings),
            settings,
            article_id,
            cli_actor(),
            with_copies,
            address=socket.gethostname(),
        )
    if not lifted:
        raise click.ClickException(f"article {article_id} is not taken down")
    click.echo(f"lifted {len(lifted)} takedown(s): {', '.join(r['id'] for r in lifted)}")


@takedown_group.command("list")
@click.option(
    "--limit",
    default=200,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Show at most this many.",
)
@click.option("--as-json", is_flag=True, help="One JSON object per line instead of a table.")
def takedown_list(limit: int, as_json: bool) -> None:
    """List the takedowns in force, newest first."""
    settings = command_settings()
    with _refusals():
        client = get_redis(settings)
        found = takedown.list_takedowns(client, settings, limit=limit)
        total = takedown.count_takedowns(client, settings)
    if as_json:
        for record in found:
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    click.echo(f"{total} takedown(s){f', showing {len(found)}' if total > len(found) else ''}")
    for record in found:
        copy = f" (copy of {record['copy_of']})" if record.get("copy_of") else ""
        click.echo(f"{record['id']}  {record['at']}  by {record['actor']}{copy}")
        click.echo(f"    {record['reason']}")
