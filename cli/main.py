"""``newsroom``: the operators' command line. Reads the same settings (NEWSROOM_*) as the
services and talks to the same Redis and Elasticsearch."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from cli.audit import record_command
from cli.models import models_group
from cli.ops import feed_command, ingest_command, status_command
from cli.reindex import reindex_command
from cli.stories import stories_group
from cli.takedown import takedown_group
from cli.tokens import tokens_group
from cli.users import command_settings, users_group
from shared.clients import get_redis
from shared.deadletters import (
    DeadLetter,
    count_dead_letters,
    get_dead_letters,
    list_dead_letters,
    remove_dead_letters,
)
from shared.http import ApiError
from shared.metrics import QUEUED, Recorder, commit_quietly
from shared.settings import Settings
from shared.tasks import enqueue_payloads, get_task_producer

# Replays send this many dead letters per round (each round: queue, then drop from the store).
REPLAY_CHUNK = 200


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Operate Newsroom: post files and feeds, watch the pipeline, replay dead letters, manage
    users and API tokens, take articles down.

    Reads the services' settings (NEWSROOM_* variables, .env). `newsroom COMMAND --help`
    tells more about each command.
    """


cli.add_command(ingest_command)
cli.add_command(feed_command)
cli.add_command(status_command)
cli.add_command(reindex_command)
cli.add_command(users_group)
cli.add_command(tokens_group)
cli.add_command(takedown_group)
cli.add_command(models_group)
cli.add_command(stories_group)


@cli.group()
def dlq() -> None:
    """Dead letters: articles that failed every attempt, kept with their last error."""


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


@dlq.command("list")
@click.option("--limit", default=50, show_default=True, help="Show at most this many.")
@click.option("--as-json", is_flag=True, help="One JSON object per line instead of a table.")
def dlq_list(limit: int, as_json: bool) -> None:
    """List dead letters, oldest first."""
    settings = command_settings()
    client = get_redis(settings)
    letters = list_dead_letters(client, settings.index_prefix, limit=limit)
    if as_json:
        for letter in letters:
            click.echo(json.dumps(letter.summary(), ensure_ascii=False))
        return
    total = count_dead_letters(client, settings.index_prefix)
    click.echo(
        f"{total} dead letter(s){f', showing {len(letters)}' if total > len(letters) else ''}"
    )
    for letter in letters:
        title = (letter.payload.get("title") or "(untitled)")[:50]
        click.echo(
            f"{letter.id}  {_when(letter.failed_at)}  tries={letter.attempts}  {title}\n"
            f"    {letter.error[:160]}"
        )


@dlq.command("show")
@click.argument("article_id")
@click.option("--full", is_flag=True, help="Print the whole payload (bodies are cut otherwise).")
def dlq_show(article_id: str, full: bool) -> None:
    """Show one dead letter: its error, attempts and payload."""
    settings = command_settings()
    found = get_dead_letters(get_redis(settings), settings.index_prefix, [article_id])
    if not found:
        raise click.ClickException(f"no dead letter with id {article_id}")
    letter = found[0]
    payload: dict[str, Any] = dict(letter.payload)
    if not full:
        for field in ("body", "html"):
            if isinstance(payload.get(field), str) and len(payload[field]) > 500:
                payload[field] = payload[field][:500] + f"… ({len(letter.payload[field])} chars)"
    record = letter.summary() | {"failed_at": _when(letter.failed_at), "payload": payload}
    click.echo(json.dumps(record, indent=2, ensure_ascii=False))


@dlq.command("replay")
@click.argument("article_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
def dlq_replay(article_ids: tuple[str, ...], replay_all: bool) -> None:
    """Queue dead letters again (all, or the ARTICLE_IDS given), with fresh attempts.

    Each is queued before it leaves the store, so a crash in between replays it twice at
    worst, which indexing by id makes harmless."""
    if bool(article_ids) == replay_all:
        raise click.UsageError("give article ids or --all (not both)")
    settings = command_settings()
    client = get_redis(settings)
    if replay_all:
        letters = list_dead_letters(client, settings.index_prefix)
    else:
        letters = get_dead_letters(client, settings.index_prefix, list(article_ids))
        missing = set(article_ids) - {letter.id for letter in letters}
        if missing:
            raise click.ClickException(f"no dead letter with id {', '.join(sorted(missing))}")
    replayed = 0
    with click.progressbar(length=len(letters), label="Replaying", show_pos=True) as bar:
        for start in range(0, len(letters), REPLAY_CHUNK):
            chunk: list[DeadLetter] = letters[start : start + REPLAY_CHUNK]
            payloads = [{**letter.payload, "attempts": 0} for letter in chunk]
            try:
                enqueue_payloads(
                    payloads,
                    celery_app=get_task_producer(settings),
                    redis_client=client,
                    settings=settings,
                )
            except ApiError as error:
                _record_replay(settings, article_ids, replayed)
                raise click.ClickException(f"{error.detail} ({replayed} replayed)") from error
            remove_dead_letters(client, settings.index_prefix, [letter.id for letter in chunk])
            counted = Recorder().inc(QUEUED, len(chunk), origin="replay")
            commit_quietly(counted, client, settings.index_prefix)
            replayed += len(chunk)
            bar.update(len(chunk))
    _record_replay(settings, article_ids, replayed)
    click.echo(f"replayed {replayed} article(s); follow them with GET /articles/<id>")


def _record_replay(settings: Settings, article_ids: tuple[str, ...], replayed: int) -> None:
    """One event per command (not per article: --all may replay thousands)."""
    target = ",".join(article_ids) if article_ids else "all"
    record_command(settings, "deadletter.replay", target, count=replayed)


@dlq.command("drop")
@click.argument("article_ids", nargs=-1, required=True)
def dlq_drop(article_ids: tuple[str, ...]) -> None:
    """Delete dead letters for good (they are not indexed)."""
    settings = command_settings()
    removed = remove_dead_letters(get_redis(settings), settings.index_prefix, list(article_ids))
    record_command(settings, "deadletter.drop", ",".join(article_ids), count=removed)
    click.echo(f"dropped {removed} dead letter(s)")
