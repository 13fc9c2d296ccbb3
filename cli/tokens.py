"""``newsroom tokens``: API tokens of users and ingest clients (registered in cli/main.py).

A token's secret is printed once, when made: the store keeps only its SHA-256
(shared/accounts.py). A lost secret is replaced by a new token and the old one revoked."""

from __future__ import annotations

import json

import click

from cli.audit import record_command
from cli.users import command_settings, refusals
from shared.accounts import TOKEN_KINDS, Token, create_token, list_tokens, revoke_token
from shared.clients import get_redis


@click.group("tokens")
def tokens_group() -> None:
    """API tokens: "Authorization: Bearer <secret>". A user token acts as its owner (with the
    owner's role); an ingest token posts articles."""


@tokens_group.command("add")
@click.option(
    "--owner",
    required=True,
    help="A user's name (user tokens), or the ingest client's name (ingest tokens).",
)
@click.option("--kind", type=click.Choice(TOKEN_KINDS), required=True, help="What it is for.")
@click.option("--label", required=True, help="What or where it is used (shown in lists).")
def tokens_add(owner: str, kind: str, label: str) -> None:
    """Make a token and print its secret once."""
    settings = command_settings()
    with refusals():
        token, secret = create_token(get_redis(settings), settings, owner, kind, label)
    record_command(settings, "token.add", token.id, owner=token.owner, kind=token.kind,
                   label=token.label)  # fmt: skip
    click.echo(f"made {token.kind} token {token.id} for {token.owner} ({token.label})")
    click.echo(f"secret: {secret}")
    click.echo(
        "  (shown this once and stored only hashed: copy it now; "
        f"`newsroom tokens revoke {token.id}` stops it)"
    )


def _row(token: Token) -> dict[str, str | bool | None]:
    return {
        "id": token.id,
        "owner": token.owner,
        "kind": token.kind,
        "label": token.label,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked": token.revoked,
    }


@tokens_group.command("list")
@click.option("--owner", help="Only this owner's tokens.")
@click.option("--as-json", is_flag=True, help="One JSON object per line instead of a table.")
def tokens_list(owner: str | None, as_json: bool) -> None:
    """List tokens, revoked ones too, oldest first (never their secrets)."""
    settings = command_settings()
    with refusals():
        tokens = list_tokens(get_redis(settings), settings, owner=owner)
    if as_json:
        for token in tokens:
            click.echo(json.dumps(_row(token), ensure_ascii=False))
        return
    click.echo(f"{len(tokens)} token(s)")
    for token in tokens:
        state = "revoked" if token.revoked else "active"
        click.echo(
            f"{token.id}  {token.owner:<20} {token.kind:<6} {state:<7} "
            f"created {token.created_at}  last used {token.last_used_at or 'never'}  "
            f"{token.label}"
        )


@tokens_group.command("revoke")
@click.argument("token_id")
def tokens_revoke(token_id: str) -> None:
    """Stop the token TOKEN_ID at once (it stays listed, as revoked)."""
    settings = command_settings()
    with refusals():
        token = revoke_token(get_redis(settings), settings, token_id)
    record_command(settings, "token.revoke", token.id, owner=token.owner, kind=token.kind)
    click.echo(f"revoked {token.kind} token {token.id} of {token.owner} ({token.label})")
