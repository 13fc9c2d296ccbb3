"""Users, roles and API tokens, kept in Redis: every process (web, ingest, CLI) reads them.

Redis is the store because it already is the durable one every process shares (append-only
file, ``appendfsync everysec``; saved searches and dead letters live there too): accounts
survive restarts and are covered by the same drills, with no second database to run. Keys,
under ``<prefix>:account:``:

- ``users``: hash, user name -> the user as JSON (role, disabled, created_at and the argon2id
  hash of the password; never the password);
- ``tokens``: hash, token id -> the token as JSON (owner, kind, label, created_at, revoked and
  the SHA-256 of its secret; never the secret);
- ``tokens:last_used``: hash, token id -> when it last authenticated (apart, so that using a
  token never rewrites its record and cannot undo a revocation racing with it);
- ``flags``: hash, ``ingest_tokens_made`` once an ingest token was created (ingest then needs
  credentials: ingest/auth.py reads this one field rather than every token).

Passwords are hashed with argon2id (argon2-cffi's ``PasswordHasher``, its RFC 9106 defaults).
Token secrets are 256 random bits: no guessing or dictionary attack can reach them, so a plain
SHA-256 stored in place of the secret is enough (a slow hash would only slow every API call).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, cast, get_args

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.settings import Settings

Role = Literal["reader", "editor", "admin"]
# Least to most: each role may do everything the ones before it may.
ROLES: tuple[Role, ...] = get_args(Role)
TokenKind = Literal["user", "ingest"]
TOKEN_KINDS: tuple[TokenKind, ...] = get_args(TokenKind)

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD_CHARS = 12
# Longer passwords are refused before hashing (argon2 reads all of it).
MAX_PASSWORD_CHARS = 1024
MAX_LABEL_CHARS = 200
# An email address as alerts are sent to: a plain ASCII addr-spec (no display name, comments,
# quoting or line breaks), at most 254 characters (RFC 5321's limit on a path).
# The local part is a dot-atom (no leading, trailing or doubled dot), as the email package
# writes it; check_email also bounds it to 64 characters.
EMAIL_PATTERN = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
MAX_EMAIL_CHARS = 254
# "nr_<id>_<secret>": 16 hex digits of id, 43 URL-safe characters of secret (256 bits).
_TOKEN_PATTERN = re.compile(r"^nr_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


class AccountError(ValueError):
    """A refused account operation; its message is safe to show to whoever asked."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    disabled: bool
    created_at: str
    # Incremented when the password is reset or the user disabled: a session cookie names the
    # generation it was issued in, and one of an older generation is no longer honoured.
    sessions: int = 0
    # Where the user's saved searches send email alerts (set by an admin: `newsroom users
    # set-email`); None: no email alerts.
    email: str | None = None


@dataclass(frozen=True)
class Token:
    id: str
    owner: str
    kind: TokenKind
    label: str
    created_at: str
    last_used_at: str | None
    revoked: bool


def role_allows(have: Role, need: Role) -> bool:
    """Whether a user of role ``have`` may do what needs role ``need``."""
    return ROLES.index(have) >= ROLES.index(need)


def _key(settings: Settings, name: str) -> str:
    return f"{settings.index_prefix}:account:{name}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash no password matches, verified for unknown names so that answering takes as long
    as for a real user (made on first use: no work at import time)."""
    return _hasher().hash(secrets.token_urlsafe(32))


def normalize_name(name: str) -> str:
    """User names are compared in lower case; refuse what is not a plain name."""
    normalized = name.strip().lower()
    if not NAME_PATTERN.fullmatch(normalized):
        raise AccountError(
            "a name has 1 to 64 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return normalized


def _check_role(role: str) -> Role:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    return role


def _check_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise AccountError(
            f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )
    return password


def generate_password() -> str:
    """A one-time password to hand over: 128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


def _user(record: dict[str, Any]) -> User:
    return User(
        name=record["name"],
        role=record["role"],
        disabled=bool(record["disabled"]),
        created_at=record["created_at"],
        sessions=int(record.get("sessions", 0)),
        email=record.get("email"),
    )


def _load_user(r: redis.Redis, settings: Settings, name: str) -> dict[str, Any] | None:
    raw = r.hget(_key(settings, "users"), name)
    return json.loads(cast(str, raw)) if raw else None


def add_user(
    r: redis.Redis, settings: Settings, name: str, role: str, password: str | None = None
) -> tuple[User, str]:
    """A new user; returns it with its password (a generated one-time one when none is given,
    to be shown once: only its hash is kept)."""
    name = normalize_name(name)
    checked_role = _check_role(role)
    password = generate_password() if password is None else _check_password(password)
    record = {
        "name": name,
        "role": checked_role,
        "disabled": False,
        "created_at": _now(),
        "password_hash": _hasher().hash(password),
    }
    if not r.hsetnx(_key(settings, "users"), name, json.dumps(record)):
        raise AccountError(f"the name {name!r} is taken")
    return _user(record), password


def add_first_admin(
    r: redis.Redis, settings: Settings, name: str = "admin", password: str | None = None
) -> tuple[User, str] | None:
    """An admin ``name`` when no user exists yet (with its password: the one given, else a
    generated one-time one); None when there are users already. Atomic: of processes racing
    on an empty store, one creates the admin."""
    name = normalize_name(name)
    key = _key(settings, "users")
    if r.hlen(key):
        return None
    password = generate_password() if password is None else _check_password(password)
    record = {
        "name": name,
        "role": "admin",
        "disabled": False,
        "created_at": _now(),
        "password_hash": _hasher().hash(password),
    }
    created: list[bool] = []

    def create(pipe: redis.client.Pipeline) -> None:
        created.clear()
        if pipe.hlen(key):
            return
        pipe.multi()
        pipe.hset(key, name, json.dumps(record))
        created.append(True)

    r.transaction(create, key)
    return (_user(record), password) if created else None


def get_user(r: redis.Redis, settings: Settings, name: str) -> User | None:
    try:
        name = normalize_name(name)
    except AccountError:
        return None
    record = _load_user(r, settings, name)
    return _user(record) if record else None


def list_users(r: redis.Redis, settings: Settings) -> list[User]:
    records = cast(dict[str, str], r.hgetall(_key(settings, "users")))
    return [_user(json.loads(records[name])) for name in sorted(records)]


def _update_record(
    r: redis.Redis,
    key: str,
    field: str,
    changes: dict[str, Any],
    missing: str,
    increment: str | None = None,
) -> dict[str, Any]:
    """Change fields of the JSON record ``field`` of the hash ``key`` atomically (WATCH/MULTI:
    a concurrent change to the hash makes this one retry rather than be lost); ``increment``
    names a counter of the record to add one to in the same change."""
    updated: dict[str, Any] = {}

    def change(pipe: redis.client.Pipeline) -> None:
        raw = pipe.hget(key, field)
        if not raw:
            raise AccountError(missing)
        updated.clear()
        updated.update(json.loads(cast(str, raw)) | changes)
        if increment is not None:
            updated[increment] = int(updated.get(increment, 0)) + 1
        pipe.multi()
        pipe.hset(key, field, json.dumps(updated))

    r.transaction(change, key)
    return updated


def _update_user(
    r: redis.Redis, settings: Settings, name: str, end_sessions: bool = False, **changes: Any
) -> User:
    missing = f"unknown user {name!r}"
    try:
        name = normalize_name(name)
    except AccountError:
        raise AccountError(missing) from None
    increment = "sessions" if end_sessions else None
    return _user(_update_record(r, _key(settings, "users"), name, changes, missing, increment))


def disable_user(r: redis.Redis, settings: Settings, name: str) -> User:
    """The user can no longer log in, none of their tokens authenticates, and their sessions
    end (for good: enabling them again does not bring the old ones back)."""
    return _update_user(r, settings, name, end_sessions=True, disabled=True)


def end_sessions(r: redis.Redis, settings: Settings, name: str) -> User:
    """Log the user out everywhere: every session cookie issued so far stops being honoured."""
    return _update_user(r, settings, name, end_sessions=True)


def enable_user(r: redis.Redis, settings: Settings, name: str) -> User:
    return _update_user(r, settings, name, disabled=False)


def set_role(r: redis.Redis, settings: Settings, name: str, role: str) -> User:
    return _update_user(r, settings, name, role=_check_role(role))


def reset_password(r: redis.Redis, settings: Settings, name: str) -> str:
    """A new generated one-time password replaces the old one (returned to be shown once); the
    user's sessions end (whoever knew the old password may be logged in)."""
    password = generate_password()
    _update_user(r, settings, name, end_sessions=True, password_hash=_hasher().hash(password))
    return password


def check_email(address: str) -> str:
    """A plain address (``name@example.org``), else AccountError."""
    address = address.strip()
    if (
        len(address) > MAX_EMAIL_CHARS
        or not EMAIL_PATTERN.fullmatch(address)
        or len(address.rpartition("@")[0]) > 64
    ):
        raise AccountError(f"not a plain email address such as name@example.org: {address!r}")
    return address


def set_email(r: redis.Redis, settings: Settings, name: str, address: str | None) -> User:
    """Where ``name``'s email alerts go (None: nowhere; their saved searches then send none)."""
    return _update_user(r, settings, name, email=None if address is None else check_email(address))


def check_password(r: redis.Redis, settings: Settings, name: str, password: str) -> User | None:
    """The user when ``password`` is theirs and they are not disabled; else None (unknown,
    wrong or disabled alike). Unknown names verify a dummy hash, so timing tells nothing."""
    try:
        name = normalize_name(name)
    except AccountError:
        name = ""
    record = _load_user(r, settings, name) if name else None
    if len(password) > MAX_PASSWORD_CHARS:
        return None
    stored = record["password_hash"] if record else _dummy_hash()
    try:
        _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if record is None or record["disabled"]:
        return None
    if _hasher().check_needs_rehash(stored):
        # Stronger default parameters since it was hashed: store it again with them.
        try:
            _update_user(r, settings, name, password_hash=_hasher().hash(password))
        except AccountError:
            return None
    return _user(record)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _token(record: dict[str, Any], last_used_at: str | None) -> Token:
    return Token(
        id=record["id"],
        owner=record["owner"],
        kind=record["kind"],
        label=record["label"],
        created_at=record["created_at"],
        last_used_at=last_used_at,
        revoked=bool(record["revoked"]),
    )


def create_token(
    r: redis.Redis, settings: Settings, owner: str, kind: str, label: str
) -> tuple[Token, str]:
    """A new API token and its secret ("nr_<id>_<random>"), to be shown once: only its
    SHA-256 is kept. A user token's owner must be an active user; an ingest token's owner is
    the ingest client's name (or a user: a disabled one stops the token too)."""
    owner = normalize_name(owner)
    if kind not in TOKEN_KINDS:
        raise AccountError(f"unknown token kind {kind!r} (one of {', '.join(TOKEN_KINDS)})")
    label = label.strip()
    if not label or len(label) > MAX_LABEL_CHARS or not label.isprintable():
        raise AccountError(f"a label has 1 to {MAX_LABEL_CHARS} printable characters")
    if kind == "user":
        user = get_user(r, settings, owner)
        if user is None:
            raise AccountError(f"unknown user {owner!r}")
        if user.disabled:
            raise AccountError(f"user {owner!r} is disabled")
    token_id = secrets.token_hex(8)
    secret = f"nr_{token_id}_{secrets.token_urlsafe(32)}"
    record = {
        "id": token_id,
        "owner": owner,
        "kind": kind,
        "label": label,
        "created_at": _now(),
        "revoked": False,
        "sha256": _digest(secret),
    }
    if kind == "ingest":
        # Set before the token exists (a crash between leaves ingest closed, not open): ingest
        # reads this one key on an anonymous request instead of listing every token.
        r.hset(_key(settings, "flags"), "ingest_tokens_made", 1)
    if not r.hsetnx(_key(settings, "tokens"), token_id, json.dumps(record)):
        raise AccountError("token id collision, try again")  # 64 random bits: never in practice
    return _token(record, None), secret


def ingest_tokens_made(r: redis.Redis, settings: Settings) -> bool:
    """Whether an ingest token was ever created here (revoking it does not undo this)."""
    return bool(r.hexists(_key(settings, "flags"), "ingest_tokens_made"))


def authenticate_token(
    r: redis.Redis, settings: Settings, secret: str
) -> tuple[Token, User | None] | None:
    """The token a secret belongs to, with its owner when the owner is a user, and records
    when it was used; None when the secret is unknown or malformed, the token revoked, or its
    owner disabled (or, for a user token, gone)."""
    match = _TOKEN_PATTERN.fullmatch(secret.strip())
    if match is None:
        return None
    token_id = match.group(1)
    raw = r.hget(_key(settings, "tokens"), token_id)
    if not raw:
        return None
    record = json.loads(cast(str, raw))
    if not hmac.compare_digest(record["sha256"], _digest(secret.strip())) or record["revoked"]:
        return None
    owner_record = _load_user(r, settings, record["owner"])
    if owner_record is not None and owner_record["disabled"]:
        return None
    if owner_record is None and record["kind"] == "user":
        return None
    used_at = _now()
    r.hset(_key(settings, "tokens:last_used"), token_id, used_at)
    return _token(record, used_at), _user(owner_record) if owner_record else None


def revoke_token(r: redis.Redis, settings: Settings, token_id: str) -> Token:
    """Revoked at once: the next request carrying it is refused. The record stays (listed)."""
    updated = _update_record(
        r, _key(settings, "tokens"), token_id, {"revoked": True}, f"unknown token {token_id!r}"
    )
    last_used = r.hget(_key(settings, "tokens:last_used"), token_id)
    return _token(updated, cast(str | None, last_used))


def list_tokens(r: redis.Redis, settings: Settings, owner: str | None = None) -> list[Token]:
    """Tokens (revoked ones too), oldest first; only ``owner``'s when given."""
    with r.pipeline(transaction=False) as pipe:
        pipe.hgetall(_key(settings, "tokens"))
        pipe.hgetall(_key(settings, "tokens:last_used"))
        records, last_used = cast(list[dict[str, str]], pipe.execute())
    wanted = owner.strip().lower() if owner is not None else None
    tokens = [
        _token(record, last_used.get(record["id"]))
        for record in map(json.loads, records.values())
        if wanted is None or record["owner"] == wanted
    ]
    return sorted(tokens, key=lambda token: (token.created_at, token.id))
