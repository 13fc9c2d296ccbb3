"""`newsroom users ...` and `newsroom tokens ...` against the real Redis: passwords and secrets
are printed once, when made, and work; nothing else prints them.

Each test has an account store of its own (a prefix of its own, given to the commands as their
context object): an ingest token in the run's store would make ingest require credentials in
every later test (ingest/auth.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from cli.main import cli
from shared.accounts import authenticate_token, check_password, get_user
from shared.clients import get_redis
from shared.settings import Settings
from tests.conftest import ROOT

PASSWORD_LINE = re.compile(r"one-time password for ([a-z0-9._-]+): (\S+)")


@pytest.fixture
def store(services: None, settings: Settings) -> Iterator[Settings]:
    """The settings of an empty account store of this test's own, removed afterwards."""
    own = settings.model_copy(
        update={"index_prefix": f"{settings.index_prefix}-cli-{uuid.uuid4().hex[:8]}"}
    )
    yield own
    client = get_redis(own)
    keys = list(client.scan_iter(f"{own.index_prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def name() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


def run(store: Settings, *args: str, stdin: str | None = None) -> Result:
    """`newsroom ARGS` on ``store``; exceptions other than click's become failures."""
    return CliRunner().invoke(cli, list(args), input=stdin, obj=store, catch_exceptions=False)


def refused(store: Settings, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, obj=store)


def _password(result: Result) -> str:
    found = PASSWORD_LINE.findall(result.stdout)
    assert len(found) == 1, result.stdout
    password: str = found[0][1]
    assert result.stdout.count(password) == 1  # printed once
    return password


def test_add_list_disable_enable_reset(store: Settings, name: str) -> None:
    client = get_redis(store)
    added = run(store, "users", "add", name.upper(), "--role", "editor")
    assert added.exit_code == 0
    assert f"added {name} (editor)" in added.stdout
    password = _password(added)
    assert check_password(client, store, name, password) is not None

    listed = run(store, "users", "list")
    (line,) = [line for line in listed.stdout.splitlines() if line.startswith(name)]
    assert line.split()[:3] == [name, "editor", "active"]
    assert password not in listed.stdout
    rows = [
        json.loads(line)
        for line in run(store, "users", "list", "--as-json").stdout.split("\n")
        if line
    ]
    (row,) = [row for row in rows if row["name"] == name]
    assert row["role"] == "editor"
    assert row["disabled"] is False
    assert set(row) == {"name", "role", "disabled", "created_at"}

    assert run(store, "users", "disable", name).stdout.strip() == f"disabled {name}"
    assert check_password(client, store, name, password) is None
    rows = [
        json.loads(line)
        for line in run(store, "users", "list", "--as-json").stdout.split("\n")
        if line
    ]
    assert [row["disabled"] for row in rows if row["name"] == name] == [True]
    assert run(store, "users", "enable", name).exit_code == 0
    assert check_password(client, store, name, password) is not None

    reset = run(store, "users", "reset-password", name)
    fresh = _password(reset)
    assert fresh != password
    assert check_password(client, store, name, password) is None
    assert check_password(client, store, name, fresh) is not None

    generation = get_user(client, store, name)
    assert generation is not None
    logout = run(store, "users", "logout", name)
    assert logout.stdout.strip() == f"ended {name}'s sessions"
    after = get_user(client, store, name)
    assert after is not None
    assert after.sessions == generation.sessions + 1
    assert run(store, "users", "logout", "nobody-here").exit_code != 0

    assert run(store, "users", "set-role", name, "admin").stdout.strip() == f"{name} is now admin"
    user = get_user(client, store, name)
    assert user is not None
    assert user.role == "admin"


def test_a_password_from_stdin_is_not_printed(store: Settings, name: str) -> None:
    added = run(
        store,
        "users",
        "add",
        name,
        "--role",
        "reader",
        "--password-stdin",
        stdin="a long passphrase\n",
    )
    assert added.exit_code == 0
    assert "a long passphrase" not in added.stdout
    assert not PASSWORD_LINE.search(added.stdout)
    assert check_password(get_redis(store), store, name, "a long passphrase") is not None


def test_refusals_are_one_line_errors(store: Settings, name: str) -> None:
    assert run(store, "users", "add", name, "--role", "reader").exit_code == 0
    taken = refused(store, "users", "add", name, "--role", "admin")
    assert taken.exit_code == 1
    assert "taken" in taken.stderr
    short = refused(
        store, "users", "add", name + "x", "--role", "reader", "--password-stdin", stdin="short\n"
    )
    assert short.exit_code == 1
    assert "a password has 12" in short.stderr
    bad_role = refused(store, "users", "add", name + "y", "--role", "root")
    assert bad_role.exit_code == 2  # a usage error: click lists the roles
    unknown = refused(store, "users", "disable", name + "-nobody")
    assert unknown.exit_code == 1
    assert "unknown user" in unknown.stderr
    unknown_token = refused(store, "tokens", "revoke", "0123456789abcdef")
    assert unknown_token.exit_code == 1
    assert "unknown token" in unknown_token.stderr


def test_tokens_add_list_revoke(store: Settings, name: str) -> None:
    client = get_redis(store)
    run(store, "users", "add", name, "--role", "editor")
    added = run(store, "tokens", "add", "--owner", name, "--kind", "user", "--label", "laptop")
    assert added.exit_code == 0
    (secret,) = re.findall(r"secret: (nr_\S+)", added.stdout)
    assert added.stdout.count(secret) == 1
    token_id = secret.split("_")[1]
    assert f"made user token {token_id} for {name} (laptop)" in added.stdout

    def listed() -> dict[str, object]:
        result = run(store, "tokens", "list", "--owner", name, "--as-json")
        assert secret not in result.stdout
        (row,) = [json.loads(line) for line in result.stdout.splitlines()]
        return row  # type: ignore[no-any-return]

    assert listed()["last_used_at"] is None
    assert "last used never" in run(store, "tokens", "list", "--owner", name).stdout
    found = authenticate_token(client, store, secret)
    assert found is not None
    assert listed()["last_used_at"] == found[0].last_used_at

    revoked = run(store, "tokens", "revoke", token_id)
    assert revoked.stdout.strip() == f"revoked user token {token_id} of {name} (laptop)"
    assert authenticate_token(client, store, secret) is None
    assert listed()["revoked"] is True
    table = run(store, "tokens", "list").stdout
    assert re.search(rf"^{token_id}\s+{name}\s+user\s+revoked\b", table, flags=re.M)


def test_ingest_tokens_for_a_client(store: Settings, name: str) -> None:
    added = run(store, "tokens", "add", "--owner", name, "--kind", "ingest", "--label", "wire")
    (secret,) = re.findall(r"secret: (nr_\S+)", added.stdout)
    found = authenticate_token(get_redis(store), store, secret)
    assert found is not None
    assert (found[0].kind, found[1]) == ("ingest", None)
    not_a_user = refused(store, "tokens", "add", "--owner", name, "--kind", "user", "--label", "x")
    assert not_a_user.exit_code == 1
    assert "unknown user" in not_a_user.stderr


# --- the first admin: the installed command, as scripts/run.sh and docker-compose run it -------


@pytest.fixture
def empty_store(services: None, settings: Settings) -> Iterator[dict[str, str]]:
    """The environment of a `newsroom` process whose account store is empty (its own prefix)."""
    prefix = f"{settings.index_prefix}-adm-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "NEWSROOM_INDEX_PREFIX": prefix}
    env.pop("NEWSROOM_ADMIN_PASSWORD", None)
    yield env
    client = get_redis(settings)
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def _first_admin(env: dict[str, str], *options: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "cli", "users", "first-admin", *options],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout


def _store(settings: Settings, env: dict[str, str]) -> Settings:
    return settings.model_copy(update={"index_prefix": env["NEWSROOM_INDEX_PREFIX"]})


def test_first_admin_prints_its_password_once_and_only_once(
    settings: Settings, empty_store: dict[str, str]
) -> None:
    first = _first_admin(empty_store)
    assert "made the first admin, admin" in first
    found = PASSWORD_LINE.findall(first)
    assert len(found) == 1
    assert found[0][0] == "admin"
    password = found[0][1]
    own = _store(settings, empty_store)
    admin = check_password(get_redis(own), own, "admin", password)
    assert admin is not None
    assert admin.role == "admin"
    again = _first_admin(empty_store)
    assert again.strip() == "users exist: no first admin made"


def test_first_admin_takes_the_password_from_the_environment(
    settings: Settings, empty_store: dict[str, str]
) -> None:
    nothing = _first_admin(empty_store, "--no-generate")
    assert "no user exists and NEWSROOM_ADMIN_PASSWORD is unset" in nothing
    own = _store(settings, empty_store)
    assert get_user(get_redis(own), own, "admin") is None

    chosen = "chosen by the operator"
    made = _first_admin({**empty_store, "NEWSROOM_ADMIN_PASSWORD": chosen}, "--no-generate")
    assert "made the first admin, admin, with the password in NEWSROOM_ADMIN_PASSWORD" in made
    assert chosen not in made
    assert check_password(get_redis(own), own, "admin", chosen) is not None
    assert _first_admin(empty_store, "--no-generate").strip() == "users exist: no first admin made"
