"""Dead letters: the store, and `newsroom dlq list|show|replay|drop` against the real stack."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from cli.main import cli
from shared.article import ArticlePayload
from shared.clients import get_redis
from shared.deadletters import (
    add_dead_letters,
    count_dead_letters,
    get_dead_letters,
    list_dead_letters,
    remove_dead_letters,
)
from shared.schema import ArticleIn, to_payload
from shared.settings import Settings
from shared.status import get_state


def _payload(body: str, title: str) -> ArticlePayload:
    article = ArticleIn(body=body, title=title, source="Dead Letter Gazette")
    return to_payload(article, content_type="application/json", received_at=datetime.now(UTC))


@pytest.fixture
def empty_store(services: None, settings: Settings) -> Iterator[None]:
    client = get_redis(settings)
    client.delete(
        f"{settings.index_prefix}:deadletters", f"{settings.index_prefix}:deadletters:by-time"
    )
    yield
    client.delete(
        f"{settings.index_prefix}:deadletters", f"{settings.index_prefix}:deadletters:by-time"
    )


def test_the_store_keeps_payload_error_and_order(empty_store: None, settings: Settings) -> None:
    client = get_redis(settings)
    first = _payload("The first body that failed.", "First")
    second = _payload("The second body that failed.", "Second")
    add_dead_letters(client, settings.index_prefix, [(first, "boom", 3)])
    add_dead_letters(client, settings.index_prefix, [(second, "bang", 1)])
    assert count_dead_letters(client, settings.index_prefix) == 2
    listed = list_dead_letters(client, settings.index_prefix)
    assert [letter.id for letter in listed] == [first["id"], second["id"]]
    (letter,) = get_dead_letters(client, settings.index_prefix, [second["id"], "0" * 32])
    assert letter.payload == second
    assert (letter.error, letter.attempts) == ("bang", 1)
    # Dead-lettered again: one record per article, the latest error.
    add_dead_letters(client, settings.index_prefix, [(first, "boom again", 4)])
    assert count_dead_letters(client, settings.index_prefix) == 2
    assert list_dead_letters(client, settings.index_prefix)[-1].error == "boom again"
    assert remove_dead_letters(client, settings.index_prefix, [first["id"], "0" * 32]) == 1
    assert count_dead_letters(client, settings.index_prefix) == 1


def test_the_command_lists_shows_and_drops(empty_store: None, settings: Settings) -> None:
    client = get_redis(settings)
    payload = _payload("A body long enough to be cut. " * 40, "Shown")
    add_dead_letters(client, settings.index_prefix, [(payload, "400: mapper_parsing_exception", 1)])
    runner = CliRunner()

    listed = runner.invoke(cli, ["dlq", "list"])
    assert listed.exit_code == 0, listed.output
    assert "1 dead letter(s)" in listed.output
    assert payload["id"] in listed.output
    assert "mapper_parsing_exception" in listed.output

    as_json = runner.invoke(cli, ["dlq", "list", "--as-json"])
    assert json.loads(as_json.output.splitlines()[0])["title"] == "Shown"

    shown = runner.invoke(cli, ["dlq", "show", payload["id"]])
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.output)
    assert record["error"] == "400: mapper_parsing_exception"
    assert record["payload"]["body"].endswith(f"({len(payload['body'] or '')} chars)")
    full = json.loads(runner.invoke(cli, ["dlq", "show", "--full", payload["id"]]).output)
    assert full["payload"]["body"] == payload["body"]

    missing = runner.invoke(cli, ["dlq", "show", "f" * 32])
    assert missing.exit_code == 1
    assert "no dead letter" in missing.output
    assert runner.invoke(cli, ["dlq", "replay"]).exit_code == 2  # ids or --all

    dropped = runner.invoke(cli, ["dlq", "drop", payload["id"]])
    assert "dropped 1" in dropped.output
    assert count_dead_letters(client, settings.index_prefix) == 0


def test_replay_queues_them_again_and_they_get_indexed(
    empty_store: None,
    settings: Settings,
    worker: subprocess.Popen[bytes],
    wait_indexed: Callable[[list[str]], None],
) -> None:
    client = get_redis(settings)
    payloads = [
        _payload(f"Replayed article number {n} about the harbour.", f"R{n}") for n in range(3)
    ]
    add_dead_letters(client, settings.index_prefix, [(p, "gave up", 8) for p in payloads])
    ids = [p["id"] for p in payloads]

    replayed = CliRunner().invoke(cli, ["dlq", "replay", ids[0]])
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 1 article(s)" in replayed.output
    state = get_state(client, settings.index_prefix, ids[0])
    assert state is not None
    assert state["state"] in {"queued", "indexed"}
    assert count_dead_letters(client, settings.index_prefix) == 2

    everything = CliRunner().invoke(cli, ["dlq", "replay", "--all"])
    assert "replayed 2 article(s)" in everything.output
    assert count_dead_letters(client, settings.index_prefix) == 0
    wait_indexed(ids)
