"""Saved-search alerts by email (issue 16, item 5): to the owner's own address only, through a
real SMTP server on loopback in a process of its own (aiosmtpd, tests/smtp_server.py), sent by
the real Celery worker; failures retried and shown; a silent or dripping SMTP server cannot
hold a worker past the deadline."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from pydantic import ValidationError

from cli.main import cli
from shared import accounts
from shared import saved_searches as store
from shared.clients import get_redis
from shared.settings import Settings
from tests.conftest import SmtpServer, sign_in, wait_until
from tests.test_alerts import _word
from worker.mail import MAX_ARTICLES, MailError, compose, one_line, run_email_delivery, send

WaitIndexed = Callable[[list[str]], None]


def _payload(articles: list[dict[str, Any]], name: str = "Harbour watch") -> dict[str, Any]:
    return {
        "event": "saved_search.matches",
        "saved_search": {
            "id": "abc123",
            "name": name,
            "page_url": "https://news.example/saved/abc123",
        },
        "articles": articles,
    }


def _article(number: int, **changes: Any) -> dict[str, Any]:
    return {
        "id": f"{number:032x}",
        "title": f"Story {number}",
        "url": f"https://paper.example/{number}",
        "published_at": "2025-10-02T08:00:00Z",
        "source": "Alert Wire",
    } | changes


def _parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None
    assert rich is not None
    return plain.get_content(), rich.get_content()


# --- the message ------------------------------------------------------------------------------


def test_a_message_has_text_and_html_and_its_links() -> None:
    message = compose(
        _payload([_article(1), _article(2, url="javascript:alert(1)", source=None)]),
        recipient="ed@example.org",
        sender="Newsroom <alerts@news.example>",
        delivery_id="d1",
    )
    assert message["To"] == "ed@example.org"
    assert message["Subject"] == "Newsroom alert: Harbour watch (2 new articles)"
    assert message["Message-ID"] == "<d1@news.example>"  # the same on every retry
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    plain, rich = _parts(message)
    assert "- Story 1\n  Alert Wire · 2025-10-02\n  https://paper.example/1" in plain
    # A URL that is not http(s) is never a link: the article's page here stands in for it.
    assert "javascript:" not in plain + rich
    assert f"https://news.example/articles/{2:032x}" in plain
    assert '<a href="https://paper.example/1">Story 1</a>' in rich
    assert "https://news.example/saved/abc123" in plain


def test_line_breaks_in_titles_and_names_never_make_headers() -> None:
    hostile = "Budget\r\nBcc: victim@example.org\r\n\r\nspoofed body"
    message = compose(
        _payload([_article(1, title=hostile, source="Wire\nX-Evil: 1")], name=hostile),
        recipient="ed@example.org",
        sender="Newsroom <alerts@news.example>",
        delivery_id="d2",
    )
    wire = message.as_bytes(policy=email.policy.SMTP)
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert parsed["X-Evil"] is None
    assert parsed["To"] == "ed@example.org"
    assert str(parsed["Subject"]).strip() == (
        "Newsroom alert: Budget Bcc: victim@example.org spoofed body (1 new article)"
    )
    plain, _rich = _parts(message)
    assert "- Budget Bcc: victim@example.org spoofed body\n" in plain
    assert (
        "<script"
        not in compose(
            _payload([_article(1, title="<script>alert(1)</script>")]),
            recipient="ed@example.org",
            sender="n@news.example",
            delivery_id="d3",
        ).as_string()
    )


def test_a_big_batch_makes_a_bounded_message() -> None:
    articles = [
        _article(n, title="word " * 5000, source="s" * 5000, url="https://p.example/" + "a" * 5000)
        for n in range(500)
    ]
    message = compose(
        _payload(articles, name="n" * 500),
        recipient="ed@example.org",
        sender="n@news.example",
        delivery_id="d4",
    )
    size = len(message.as_bytes())
    print(f"\n500 matches with 25 KB titles: {size / 1024:.0f} KB")
    assert size < 150 * 1024
    plain, _ = _parts(message)
    assert plain.count("\n- ") == MAX_ARTICLES
    assert f"... and {500 - MAX_ARTICLES} more." in plain
    assert len(str(message["Subject"])) < 160


def test_one_line() -> None:
    assert one_line("a\r\n b\tc\x00d", 100) == "a b cd"
    assert one_line("x" * 10, 5) == "xxxx…"
    assert one_line(None, 5) == ""


# --- settings and addresses -------------------------------------------------------------------


def test_smtp_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="STARTTLS"):
        Settings(smtp_host="smtp.example.org", smtp_user="u", smtp_starttls=False)
    with pytest.raises(ValidationError, match="NEWSROOM_SMTP_USER"):
        Settings(smtp_host="smtp.example.org", smtp_password="p")
    with pytest.raises(ValidationError, match="sender address"):
        Settings(smtp_from="Newsroom <a@b.example>\r\nBcc: x@y.example")
    assert Settings(smtp_host="127.0.0.1", smtp_user="u", smtp_starttls=False).smtp_user == "u"
    # What compose passes for values .env leaves out is no value.
    blank = Settings(smtp_host=" ", smtp_user="", smtp_password="")
    assert (blank.smtp_host, blank.smtp_user, blank.smtp_password) == (None, None, None)


@pytest.mark.parametrize(
    "address",
    ["", "no-at-sign", "a@b@c.example", "Name <a@b.example>", "a@b.example\r\nBcc: c@d.example",
     "a b@c.example", "a@-b.example", "x" * 65 + "@b.example", "a@" + "b" * 250 + ".example",
     ".a@b.example", "a.@b.example", "a..b@c.example"],
)  # fmt: skip
def test_bad_addresses_are_refused(address: str) -> None:
    with pytest.raises(accounts.AccountError):
        accounts.check_email(address)


@pytest.mark.parametrize(
    "address", ["a@b.example", "first.last+tag@mail.b.example", "o'neil!#$%&*=?^_`{|}~@b.example"]
)
def test_every_address_accepted_can_be_written_into_a_message(address: str) -> None:
    # What check_email accepts, the email package writes without refusing (a leading dot, say,
    # would make every alert of its owner fail to be composed).
    checked = accounts.check_email(address)
    message = EmailMessage()
    message["To"] = Address(addr_spec=checked)
    assert checked in message.as_string()


@pytest.mark.usefixtures("services")
def test_an_admin_sets_a_users_address_with_the_cli(settings: Settings) -> None:
    redis_client = get_redis(settings)
    name = f"mailer-{uuid.uuid4().hex[:8]}"
    accounts.add_user(redis_client, settings, name, "editor")
    runner = CliRunner()
    done = runner.invoke(cli, ["users", "set-email", name, "ed@example.org"], obj=settings)
    assert done.exit_code == 0, done.output
    assert accounts.get_user(redis_client, settings, name).email == "ed@example.org"  # type: ignore[union-attr]
    refused = runner.invoke(cli, ["users", "set-email", name, "a@b\nBcc: c@d"], obj=settings)
    assert refused.exit_code == 1
    assert "not a plain email address" in refused.output
    assert runner.invoke(cli, ["users", "set-email", name], obj=settings).exit_code == 2
    cleared = runner.invoke(cli, ["users", "set-email", name, "--clear"], obj=settings)
    assert cleared.exit_code == 0
    assert "gets no email alerts" in cleared.output
    assert accounts.get_user(redis_client, settings, name).email is None  # type: ignore[union-attr]


# --- through a real SMTP server ---------------------------------------------------------------


def _smtp(settings: Settings, server: SmtpServer, **changes: Any) -> Settings:
    return settings.model_copy(update={"smtp_port": server.port} | changes)


def _received(server: SmtpServer, saved_id: str) -> list[Any]:
    return [m for m in server.messages() if m["X-Newsroom-Saved-Search"] == saved_id]


@pytest.fixture
def owned(settings: Settings) -> Iterator[tuple[store.SavedSearch, str]]:
    """A stored saved search with email alerts on, and its owner's name."""
    redis_client = get_redis(settings)
    owner = f"mailer-{uuid.uuid4().hex[:8]}"
    accounts.add_user(redis_client, settings, owner, "editor")
    search = store.SavedSearch(
        id=store.new_id(), name="Mail test", params={}, query={"match_all": {}}, knn_filter=[],
        mode="keyword", similarity=None, created_at="2025-10-02T08:00:00Z", owner=owner,
        email_alerts=True,
    )  # fmt: skip
    store.create(redis_client, settings.index_prefix, search, None, max_saved=10_000)
    yield search, owner
    store.delete(redis_client, settings.index_prefix, search.id)


def _deliver(
    search: store.SavedSearch, settings: Settings, attempt: int = 1
) -> tuple[str, str, dict[str, str] | None]:
    payload = _payload([_article(1)]) | {"saved_search": {"id": search.id, "name": search.name}}
    redis_client = get_redis(settings)
    outcome = run_email_delivery(
        search, payload, uuid.uuid4().hex, attempt=attempt, redis_client=redis_client,
        settings=settings,
    )  # fmt: skip
    recorded = store.get_delivery(redis_client, settings.index_prefix, search.id, "email")
    return outcome.state, outcome.detail, recorded


@pytest.mark.usefixtures("services")
def test_sent_to_the_owners_address_only(
    settings: Settings, smtp_server: SmtpServer, owned: tuple[store.SavedSearch, str]
) -> None:
    search, owner = owned
    config = _smtp(settings, smtp_server)
    redis_client = get_redis(settings)
    # No address yet: nothing is sent, and the page says why (retrying cannot help).
    state, detail, recorded = _deliver(search, config)
    assert state == "failed"
    assert "has no email address" in detail
    assert recorded is not None
    assert recorded["state"] == "failed"

    accounts.set_email(redis_client, settings, owner, f"{owner}@example.org")
    state, _, recorded = _deliver(search, config)
    assert state == "delivered"
    assert recorded is not None
    assert recorded["state"] == "delivered"
    [message] = _received(smtp_server, search.id)
    assert message["To"] == f"{owner}@example.org"
    assert message["From"] == settings.smtp_from
    assert message.get_content_type() == "multipart/alternative"
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert "Story 1" in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    accounts.disable_user(redis_client, settings, owner)  # a user who left gets nothing more
    state, detail, _ = _deliver(search, config)
    assert state == "failed"
    assert "disabled" in detail
    assert len(_received(smtp_server, search.id)) == 1


@pytest.mark.usefixtures("services")
def test_refusals_fail_and_deferrals_are_retried(
    settings: Settings, smtp_server: SmtpServer, owned: tuple[store.SavedSearch, str]
) -> None:
    search, owner = owned
    config = _smtp(settings, smtp_server, alerts_email_max_retries=2)
    redis_client = get_redis(settings)
    accounts.set_email(redis_client, settings, owner, "refuse-me@example.org")
    state, detail, recorded = _deliver(search, config)
    assert state == "failed", detail  # a 5xx: not retried
    assert "550" in detail
    assert recorded is not None
    assert recorded["state"] == "failed"

    accounts.set_email(redis_client, settings, owner, "later@example.org")
    state, detail, recorded = _deliver(search, config)
    assert state == "retrying", detail
    assert "451" in detail
    assert recorded is not None
    assert recorded["state"] == "retrying"
    state, detail, recorded = _deliver(search, config, attempt=3)  # past the retries
    assert state == "failed"
    assert detail.startswith("attempt 3:")
    assert recorded is not None
    assert recorded["state"] == "failed"
    assert _received(smtp_server, search.id) == []


# --- an SMTP server that never answers, or drips ----------------------------------------------


class Peer:
    """A TCP server on loopback that accepts and then says nothing (``silent``) or drips a
    greeting one byte every 0.2 s without ever ending the line (``drip``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.stop = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            while not self.stop.wait(0.2):
                if self.mode == "drip":
                    try:
                        conn.sendall(b"2")
                    except OSError:
                        return

    def close(self) -> None:
        self.stop.set()
        self.server.close()


@pytest.mark.parametrize(
    ("mode", "timeout_s", "deadline_s", "says"),
    [("silent", 0.5, 30, "timed out"), ("drip", 1.0, 1.5, "deadline")],
)
def test_a_silent_or_dripping_server_does_not_hold_the_worker(
    settings: Settings, mode: str, timeout_s: float, deadline_s: float, says: str
) -> None:
    peer = Peer(mode)
    config = settings.model_copy(
        update={"smtp_port": peer.port, "smtp_timeout_s": timeout_s, "smtp_deadline_s": deadline_s}
    )
    message = compose(
        _payload([_article(1)]), recipient="ed@example.org", sender="n@x.example", delivery_id="d"
    )
    started = time.monotonic()
    with pytest.raises(MailError) as failed:
        send(message, settings=config)
    took = time.monotonic() - started
    peer.close()
    print(f"\n{mode}, timeout {timeout_s} s, deadline {deadline_s} s: {took:.2f} s, {failed.value}")
    assert not failed.value.permanent  # retried later, like a webhook's timeout
    assert says in str(failed.value)
    assert took < min(timeout_s, deadline_s) + 0.75  # whichever comes first ends it


def test_a_refused_connection_is_retried(settings: Settings) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: the connection is refused at once
    message = compose(
        _payload([_article(1)]), recipient="ed@example.org", sender="n@x.example", delivery_id="d"
    )
    with pytest.raises(MailError) as failed:
        send(message, settings=settings.model_copy(update={"smtp_port": port}))
    assert not failed.value.permanent
    assert "ConnectionRefusedError" in str(failed.value)


def test_no_smtp_server_is_a_permanent_failure(settings: Settings) -> None:
    message = compose(
        _payload([_article(1)]), recipient="ed@example.org", sender="n@x.example", delivery_id="d"
    )
    with pytest.raises(MailError) as failed:
        send(message, settings=settings.model_copy(update={"smtp_host": None}))
    assert failed.value.permanent


# --- the web and the worker, on the real stack ------------------------------------------------


@pytest.mark.usefixtures("services")
def test_email_alerts_need_a_server_and_the_owners_address(
    web_app: Flask, settings: Settings
) -> None:
    login = sign_in(web_app, "editor")
    client = login.apply(web_app.test_client())
    word = _word()
    refused = client.post("/api/saved-searches", json={"q": word, "email_alerts": True})
    assert refused.status_code == 400
    assert refused.get_json()["parameter"] == "email_alerts"
    assert "set-email" in refused.get_json()["detail"]
    created = client.post("/api/saved-searches", json={"q": word}).get_json()
    assert created["email_alerts"] is False
    turned_on = client.patch(f"/api/saved-searches/{created['id']}", json={"email_alerts": True})
    assert turned_on.status_code == 400
    accounts.set_email(get_redis(settings), settings, login.name, f"{login.name}@example.org")
    turned_on = client.patch(f"/api/saved-searches/{created['id']}", json={"email_alerts": True})
    assert turned_on.status_code == 200
    assert turned_on.get_json()["email_alerts"] is True
    # The form on the saved search's page turns them off again.
    off = client.post(f"/saved/{created['id']}/edit", data={"name": "renamed"})
    assert off.status_code == 303
    assert client.get(f"/api/saved-searches/{created['id']}").get_json()["email_alerts"] is False
    assert client.delete(f"/api/saved-searches/{created['id']}").status_code == 204


@pytest.mark.stack
@pytest.mark.usefixtures("worker")
def test_new_matches_are_emailed_by_the_worker(
    web_app: Flask,
    ingest_client: FlaskClient,
    wait_indexed: WaitIndexed,
    settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    login = sign_in(web_app, "editor")
    client = login.apply(web_app.test_client())
    redis_client = get_redis(settings)
    # The server defers this address (451): the first attempt fails and is queued again.
    accounts.set_email(redis_client, settings, login.name, f"later-{login.name}@example.org")
    word = _word()
    created = client.post(
        "/api/saved-searches", json={"name": "Ferry\r\nBcc: x@y.example", "q": word,
                                     "mode": "keyword", "email_alerts": True},
    ).get_json()  # fmt: skip
    assert created["email_alerts"] is True
    response = ingest_client.post(
        "/articles",
        json=[
            {
                "title": f"The {word} ferry\r\nBcc: victim@example.org runs again",
                "body": f"The {word} ferry runs again from Friday, the harbour board said.",
                "source": "Alert Wire",
                "url": "https://alerts.example/ferry",
                "published_at": "2025-10-02T08:00:00Z",
            }
        ],
    )
    ids = [article["id"] for article in response.get_json()["articles"]]
    wait_indexed(ids)

    def email_state(state: str) -> dict[str, str] | None:
        found = client.get(f"/api/saved-searches/{created['id']}").get_json()["email_delivery"]
        return found if found and found["state"] == state else None

    retrying = wait_until(lambda: email_state("retrying"))
    assert "451" in retrying["detail"]
    # Read again at the next attempt (2 s later): the address the owner has now.
    accounts.set_email(redis_client, settings, login.name, f"{login.name}@example.org")
    [message] = wait_until(lambda: _received(smtp_server, created["id"]), timeout_s=60)
    assert message["To"] == f"{login.name}@example.org"
    assert message["Bcc"] is None
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    plain = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"The {word} ferry Bcc: victim@example.org runs again" in plain
    assert "https://alerts.example/ferry" in plain

    sent = wait_until(lambda: email_state("delivered"))
    assert not sent["detail"].startswith("attempt 1:"), sent  # a later attempt (2, or more)
    page = client.get(f"/saved/{created['id']}").get_data(as_text=True)
    assert "last email: delivered" in page
    assert client.delete(f"/api/saved-searches/{created['id']}").status_code == 204
