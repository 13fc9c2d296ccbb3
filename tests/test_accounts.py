"""Users, roles and API tokens (shared/accounts.py) against the real Redis, and their settings."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis
from pydantic import ValidationError

from shared import accounts
from shared.accounts import (
    ROLES,
    AccountError,
    add_first_admin,
    add_user,
    authenticate_token,
    check_password,
    create_token,
    disable_user,
    enable_user,
    get_user,
    list_tokens,
    list_users,
    reset_password,
    revoke_token,
    role_allows,
    set_role,
)
from shared.clients import get_redis
from shared.settings import Settings

Store = tuple[redis.Redis, Settings]


@pytest.fixture
def store(services: None, settings: Settings) -> Iterator[Store]:
    """An empty account store of this test's own (a prefix of its own), removed afterwards."""
    own = settings.model_copy(
        update={"index_prefix": f"{settings.index_prefix}-acc-{uuid.uuid4().hex[:8]}"}
    )
    client = get_redis(own)
    yield client, own
    keys = list(client.scan_iter(f"{own.index_prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def _stored_values(store: Store) -> str:
    """Every key and value the store holds, as one text."""
    client, settings = store
    parts = []
    for key in client.scan_iter(f"{settings.index_prefix}:*", count=1000):
        parts.append(key)
        for field, value in client.hgetall(key).items():
            parts += [field, value]
    return "\n".join(parts)


def test_roles_are_ordered() -> None:
    assert ROLES == ("reader", "editor", "admin")
    assert role_allows("admin", "editor")
    assert role_allows("editor", "editor")
    assert role_allows("editor", "reader")
    assert not role_allows("editor", "admin")
    assert not role_allows("reader", "editor")


def test_add_get_list_users(store: Store) -> None:
    client, settings = store
    alice, generated = add_user(client, settings, " Alice ", "editor")
    assert (alice.name, alice.role, alice.disabled) == ("alice", "editor", False)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", generated)  # 128 random bits
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", alice.created_at)
    bob, given = add_user(client, settings, "bob", "reader", password="a long passphrase")
    assert given == "a long passphrase"
    assert get_user(client, settings, "ALICE") == alice
    assert get_user(client, settings, "nobody") is None
    assert get_user(client, settings, "not a name!") is None
    assert list_users(client, settings) == [alice, bob]


def test_refused_users(store: Store) -> None:
    client, settings = store
    add_user(client, settings, "carol", "admin")
    with pytest.raises(AccountError, match="taken"):
        add_user(client, settings, "Carol", "reader")
    with pytest.raises(AccountError, match="unknown role"):
        add_user(client, settings, "dave", "superuser")
    with pytest.raises(AccountError, match="a name has"):
        add_user(client, settings, "dave smith", "reader")
    with pytest.raises(AccountError, match="a password has"):
        add_user(client, settings, "dave", "reader", password="short")
    assert [user.name for user in list_users(client, settings)] == ["carol"]


def test_passwords_disable_enable_reset(store: Store) -> None:
    client, settings = store
    user, password = add_user(client, settings, "erin", "reader")
    assert check_password(client, settings, "erin", password) == user
    assert check_password(client, settings, "Erin", password) == user
    assert check_password(client, settings, "erin", password + "x") is None
    assert check_password(client, settings, "erin", "") is None

    disabled = disable_user(client, settings, "erin")
    assert disabled.disabled
    assert disabled.sessions == user.sessions + 1  # disabling ends the sessions
    assert get_user(client, settings, "erin") == disabled
    assert check_password(client, settings, "erin", password) is None  # right, but disabled
    enable_user(client, settings, "erin")
    assert check_password(client, settings, "erin", password) == replace(user, sessions=1)

    fresh = reset_password(client, settings, "erin")
    assert fresh != password
    assert check_password(client, settings, "erin", password) is None
    # A reset ends the sessions too.
    assert check_password(client, settings, "erin", fresh) == replace(user, sessions=2)
    assert set_role(client, settings, "erin", "editor").role == "editor"
    with pytest.raises(AccountError, match="unknown user"):
        reset_password(client, settings, "nobody")
    with pytest.raises(AccountError, match="unknown user"):
        disable_user(client, settings, "nobody")


def test_an_unknown_name_costs_a_verify_too(store: Store) -> None:
    """Answering for an unknown name verifies a dummy hash: it takes about as long as a wrong
    password for a real user, so timing does not tell which names exist."""
    client, settings = store
    add_user(client, settings, "frank", "reader")
    check_password(client, settings, "nobody", "x" * 20)  # the dummy hash is made on first use
    used = accounts._dummy_hash.cache_info().hits

    # Not timed (tests never are here): each answer for an unknown name verifies the dummy
    # hash, the same argon2id work as a wrong password for a real user.
    for _ in range(3):
        assert check_password(client, settings, "nobody", "wrong password!") is None
    assert accounts._dummy_hash.cache_info().hits == used + 3
    assert check_password(client, settings, "frank", "wrong password!") is None
    assert accounts._dummy_hash.cache_info().hits == used + 3  # a known name: its own hash


def test_first_admin_is_made_once(store: Store) -> None:
    client, settings = store
    results: list[tuple[accounts.User, str] | None] = []
    threads = [
        threading.Thread(target=lambda: results.append(add_first_admin(client, settings)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    made = [result for result in results if result is not None]
    assert len(made) == 1
    assert len(results) == 3
    admin, password = made[0]
    assert (admin.name, admin.role) == ("admin", "admin")
    assert check_password(client, settings, "admin", password) == admin
    assert add_first_admin(client, settings, password="another long one") is None
    assert list_users(client, settings) == [admin]


def test_first_admin_takes_a_given_password(store: Store) -> None:
    client, settings = store
    made = add_first_admin(client, settings, password="the operator's choice")
    assert made is not None
    assert made[1] == "the operator's choice"
    assert check_password(client, settings, "admin", "the operator's choice") == made[0]


def test_tokens_authenticate_record_use_and_revoke(store: Store) -> None:
    client, settings = store
    grace, _ = add_user(client, settings, "grace", "editor")
    token, secret = create_token(client, settings, "Grace", "user", "laptop script")
    assert re.fullmatch(rf"nr_{token.id}_[A-Za-z0-9_-]{{43}}", secret)
    assert (token.owner, token.kind, token.label, token.revoked) == (
        "grace", "user", "laptop script", False,
    )  # fmt: skip
    assert token.last_used_at is None

    found = authenticate_token(client, settings, secret)
    assert found is not None
    used, owner = found
    assert owner == grace
    assert used.id == token.id
    assert used.last_used_at is not None
    (listed,) = list_tokens(client, settings, owner="grace")
    assert listed.last_used_at == used.last_used_at

    # A wrong secret with the right id, a cut one, garbage: refused.
    wrong = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    for bad in (wrong, secret[:-1], "", "nr_", "Bearer " + secret, secret.upper()):
        assert authenticate_token(client, settings, bad) is None

    revoked = revoke_token(client, settings, token.id)
    assert revoked.revoked
    assert revoked.last_used_at == used.last_used_at
    assert authenticate_token(client, settings, secret) is None  # at once
    assert list_tokens(client, settings) == [revoked]
    with pytest.raises(AccountError, match="unknown token"):
        revoke_token(client, settings, "0123456789abcdef")


def test_a_disabled_owner_stops_their_tokens(store: Store) -> None:
    client, settings = store
    add_user(client, settings, "heidi", "admin")
    user_token, user_secret = create_token(client, settings, "heidi", "user", "cli")
    ingest_token, ingest_secret = create_token(client, settings, "heidi", "ingest", "feeder")
    assert authenticate_token(client, settings, user_secret) is not None
    assert authenticate_token(client, settings, ingest_secret) is not None
    disable_user(client, settings, "heidi")
    assert authenticate_token(client, settings, user_secret) is None
    assert authenticate_token(client, settings, ingest_secret) is None
    with pytest.raises(AccountError, match="disabled"):
        create_token(client, settings, "heidi", "user", "another")
    enable_user(client, settings, "heidi")
    assert authenticate_token(client, settings, user_secret) is not None
    assert {token.id for token in list_tokens(client, settings, owner="heidi")} == {
        user_token.id,
        ingest_token.id,
    }


def test_ingest_tokens_belong_to_clients(store: Store) -> None:
    client, settings = store
    token, secret = create_token(client, settings, "wire-feed", "ingest", "Example Wire")
    found = authenticate_token(client, settings, secret)
    assert found is not None
    assert found[0].id == token.id
    assert found[1] is None
    with pytest.raises(AccountError, match="unknown user"):
        create_token(client, settings, "wire-feed", "user", "not a user")
    with pytest.raises(AccountError, match="unknown token kind"):
        create_token(client, settings, "wire-feed", "admin", "x")
    with pytest.raises(AccountError, match="a label has"):
        create_token(client, settings, "wire-feed", "ingest", " ")
    assert list_tokens(client, settings, owner="nobody") == []


def test_the_store_never_holds_a_password_or_a_secret(store: Store) -> None:
    client, settings = store
    _, generated = add_user(client, settings, "ivan", "reader")
    _, given = add_user(client, settings, "judy", "editor", password="correct horse battery")
    reset = reset_password(client, settings, "ivan")
    secrets_made = [
        create_token(client, settings, "judy", "user", "one")[1],
        create_token(client, settings, "feeder", "ingest", "two")[1],
    ]
    for secret in secrets_made:
        assert authenticate_token(client, settings, secret) is not None
    stored = _stored_values(store)
    assert stored.count("$argon2id$") == 2
    for value in (
        generated,
        given,
        reset,
        *secrets_made,
        *(s.split("_", 2)[2] for s in secrets_made),
    ):
        assert value not in stored


def test_production_needs_a_secret_key() -> None:
    base = {"environment": "production"}  # and no ingest key (deprecated): tokens replace it
    with pytest.raises(ValidationError, match="NEWSROOM_SECRET_KEY must be set"):
        Settings(**base)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(**base, secret_key="short")  # type: ignore[arg-type]
    assert Settings(**base, secret_key="s" * 32).secret_key.get_secret_value() == "s" * 32  # type: ignore[arg-type]
    # Elsewhere: a random key per process, never the same twice.
    local = Settings(environment="local")
    assert len(local.secret_key.get_secret_value()) >= 32
    assert local.secret_key != Settings(environment="local").secret_key


def test_a_blank_ingest_key_is_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # Compose passes NEWSROOM_INGEST_API_KEY="" when .env leaves it out.
    for blank in ("", "  "):
        monkeypatch.setenv("NEWSROOM_INGEST_API_KEY", blank)
        assert Settings().ingest_api_key is None
        assert Settings(ingest_api_key=blank).ingest_api_key is None
    monkeypatch.setenv("NEWSROOM_INGEST_API_KEY", "k" * 32)
    key = Settings().ingest_api_key
    assert key is not None
    assert key.get_secret_value() == "k" * 32


def test_trusted_hosts_read_as_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSROOM_TRUSTED_HOSTS", " News.example.org, .example.com ,")
    assert Settings().trusted_hosts == ["news.example.org", ".example.com"]
    monkeypatch.setenv("NEWSROOM_TRUSTED_HOSTS", "")
    assert Settings().trusted_hosts == []
    assert Settings(trusted_hosts=["a.example"]).trusted_hosts == ["a.example"]
