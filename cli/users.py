"""``newsroom users``: accounts, their roles, and the first admin (registered in cli/main.py).

Passwords are shown once, when made: the store keeps only their argon2id hash
(shared/accounts.py). A forgotten one is replaced with ``reset-password``, never recovered."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
import redis

from cli.audit import record_command
from shared.accounts import (
    ROLES,
    AccountError,
    User,
    add_first_admin,
    add_user,
    disable_user,
    enable_user,
    end_sessions,
    list_users,
    reset_password,
    set_email,
    set_role,
)
from shared.clients import get_redis
from shared.settings import Settings, get_settings

# Read by `newsroom users first-admin` (scripts/run.sh, docker-compose's accounts-init).
ADMIN_PASSWORD_VARIABLE = "NEWSROOM_ADMIN_PASSWORD"  # noqa: S105 (a variable's name)


def command_settings() -> Settings:
    """The settings: the process's (NEWSROOM_* variables, .env), unless the command was invoked
    with a ``Settings`` as its context object (``CliRunner().invoke(..., obj=settings)``)."""
    obj = click.get_current_context().obj
    return obj if isinstance(obj, Settings) else get_settings()


@contextmanager
def refusals() -> Iterator[None]:
    """An account refused or Redis out of reach: a one-line error, exit status 1."""
    try:
        yield
    except AccountError as error:
        raise click.ClickException(str(error)) from error
    except (redis.RedisError, OSError) as error:
        raise click.ClickException(f"Redis is unreachable: {error}") from error


def _show_password(name: str, password: str) -> None:
    click.echo(f"one-time password for {name}: {password}")
    click.echo(
        "  (shown this once and stored only hashed: hand it over now; "
        f"`newsroom users reset-password {name}` makes a new one)"
    )


@click.group("users")
def users_group() -> None:
    """Accounts: who may log in, and with which role.

    reader: search, read, feeds, export. editor: + saved searches, alerts, webhooks.
    admin: + dead letters, reindex, users, the pipeline page's controls.
    """


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may do.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of generating a "
    "one-time one (which is printed once).",
)
def users_add(name: str, role: str, password_stdin: bool) -> None:
    """Add the user NAME (lower-case letters, digits, '.', '_', '-')."""
    given = None
    if password_stdin:
        given = sys.stdin.readline().rstrip("\r\n")
    settings = command_settings()
    with refusals():
        user, password = add_user(get_redis(settings), settings, name, role, password=given)
    record_command(settings, "user.add", user.name, role=user.role)
    click.echo(f"added {user.name} ({user.role})")
    if given is None:
        _show_password(user.name, password)


def _row(user: User) -> dict[str, str | bool]:
    return {
        "name": user.name,
        "role": user.role,
        "disabled": user.disabled,
        "created_at": user.created_at,
    }


@users_group.command("list")
@click.option("--as-json", is_flag=True, help="One JSON object per line instead of a table.")
def users_list(as_json: bool) -> None:
    """List the users (never their passwords)."""
    settings = command_settings()
    with refusals():
        users = list_users(get_redis(settings), settings)
    if as_json:
        for user in users:
            click.echo(json.dumps(_row(user)))
        return
    click.echo(f"{len(users)} user(s)")
    for user in users:
        state = "disabled" if user.disabled else "active"
        click.echo(f"{user.name:<24} {user.role:<7} {state:<8} created {user.created_at}")


def _switch(name: str, *, disabled: bool) -> None:
    settings = command_settings()
    change = disable_user if disabled else enable_user
    with refusals():
        user = change(get_redis(settings), settings, name)
    record_command(settings, "user.disable" if disabled else "user.enable", user.name)
    click.echo(f"{'disabled' if disabled else 'enabled'} {user.name}")


@users_group.command("disable")
@click.argument("name")
def users_disable(name: str) -> None:
    """Refuse NAME's logins, sessions and API tokens from now on (kept, listed; `enable`
    lets them in again)."""
    _switch(name, disabled=True)


@users_group.command("enable")
@click.argument("name")
def users_enable(name: str) -> None:
    """Let a disabled user in again (their password and tokens as they were)."""
    _switch(name, disabled=False)


@users_group.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
def users_set_role(name: str, role: str) -> None:
    """Give NAME another role."""
    settings = command_settings()
    with refusals():
        user = set_role(get_redis(settings), settings, name, role)
    record_command(settings, "user.set_role", user.name, role=user.role)
    click.echo(f"{user.name} is now {user.role}")


@users_group.command("set-email")
@click.argument("name")
@click.argument("address", required=False)
@click.option("--clear", is_flag=True, help="Remove the address: no more email alerts.")
def users_set_email(name: str, address: str | None, clear: bool) -> None:
    """Send NAME's email alerts to ADDRESS (name@example.org). Only an admin sets it: a saved
    search mails its owner's address and nobody else's."""
    if clear == (address is not None):
        raise click.UsageError("give an ADDRESS, or --clear")
    settings = command_settings()
    with refusals():
        user = set_email(get_redis(settings), settings, name, address)
    record_command(settings, "user.set_email", user.name, email=user.email)
    click.echo(
        f"{user.name}'s email alerts go to {user.email}"
        if user.email
        else f"{user.name} gets no email alerts"
    )


@users_group.command("reset-password")
@click.argument("name")
def users_reset_password(name: str) -> None:
    """Replace NAME's password with a new one-time one, printed once (the old one stops
    working at once, and NAME's sessions end)."""
    settings = command_settings()
    with refusals():
        password = reset_password(get_redis(settings), settings, name)
    record_command(settings, "user.reset_password", name.strip().lower())
    _show_password(name.strip().lower(), password)


@users_group.command("logout")
@click.argument("name")
def users_logout(name: str) -> None:
    """End NAME's sessions everywhere (their password and API tokens are left as they are;
    revoke tokens with `newsroom tokens revoke`)."""
    settings = command_settings()
    with refusals():
        user = end_sessions(get_redis(settings), settings, name)
    record_command(settings, "user.logout", user.name)
    click.echo(f"ended {user.name}'s sessions")


@users_group.command("first-admin")
@click.option("--name", default="admin", show_default=True, help="The admin's user name.")
@click.option(
    "--generate/--no-generate",
    default=True,
    show_default=True,
    help=f"Without {ADMIN_PASSWORD_VARIABLE}: make a one-time password and print it once "
    "(--no-generate: make no admin, say how to make one).",
)
def users_first_admin(name: str, generate: bool) -> None:
    """Make the first admin when no user exists yet (`make up` and docker-compose run this at
    every start; it does nothing once there are users). The password is
    NEWSROOM_ADMIN_PASSWORD when set (never printed), else a one-time one printed once."""
    given = os.environ.get(ADMIN_PASSWORD_VARIABLE) or None
    settings = command_settings()
    client = get_redis(settings)
    with refusals():
        if given is None and not generate:
            if list_users(client, settings):
                click.echo("users exist: no first admin made")
            else:
                click.echo(
                    f"no user exists and {ADMIN_PASSWORD_VARIABLE} is unset: make the first "
                    f"admin with `newsroom users add {name} --role admin` (docker compose run "
                    f"--rm web newsroom users add {name} --role admin)"
                )
            return
        made = add_first_admin(client, settings, name=name, password=given)
    if made is None:
        click.echo("users exist: no first admin made")
        return
    user, password = made
    record_command(settings, "user.add", user.name, role=user.role, first_admin=True)
    if given is None:
        click.echo(f"made the first admin, {user.name}")
        _show_password(user.name, password)
    else:
        click.echo(
            f"made the first admin, {user.name}, with the password in {ADMIN_PASSWORD_VARIABLE}"
        )
