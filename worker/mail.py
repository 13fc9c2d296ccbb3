"""Saved-search alerts by email: one message per batch of new matches of a saved search with
email alerts on, to its owner's own address, through the operator's SMTP server.

Only the owner's address (``accounts.User.email``, set by an admin with ``newsroom users
set-email``) is ever written to: a saved search cannot be used to mail anyone else. The address
is read afresh at each attempt, so a changed or removed one, or a disabled owner, takes effect
at once.

The message is built by the standard library (``email.message.EmailMessage``, whose default
policy refuses a header value holding a line break) and sent with ``smtplib``: plain text with
an HTML alternative, at most ``MAX_ARTICLES`` articles listed (the rest counted, with a link to
the saved search's page), every text cut to a bound, so a message stays under ~100 KB. Titles
and names are folded onto one line before they go anywhere near a header.

A slow or silent SMTP server cannot hold a worker: each operation (connect, every command and
answer) times out after ``smtp_timeout_s``, and a timer shuts the connection down once the
whole send has taken ``smtp_deadline_s`` (a server dripping its answers a byte at a time never
trips a per-read timeout). Failures are retried like webhook deliveries (worker/alerts.py's
backoff), recorded on the saved search for its page.
"""

from __future__ import annotations

import contextlib
import html
import logging
import smtplib
import socket
import ssl
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import quote, urlsplit

import redis

from shared import accounts
from shared import saved_searches as store
from shared.settings import Settings
from worker.alerts import DeliveryOutcome, backoff_s

log = logging.getLogger(__name__)

# Articles listed in one message; more are counted and left to the saved search's page.
MAX_ARTICLES = 50
MAX_TITLE_CHARS = 300
MAX_SOURCE_CHARS = 100
MAX_URL_CHARS = 2_000
MAX_SUBJECT_NAME_CHARS = 100


class MailError(Exception):
    """The message was not sent. ``permanent``: retrying cannot help (a 5xx answer, no
    address to send to, no SMTP server configured)."""

    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.permanent = permanent


def one_line(text: Any, limit: int) -> str:
    """``text`` on one line (every run of whitespace, CR and LF included, one space; other
    control characters dropped), at most ``limit`` characters."""
    words = "".join(ch for ch in str(text or "") if ch.isprintable() or ch.isspace()).split()
    line = " ".join(words)
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _web_link(url: Any) -> str | None:
    """An article's own address, when it is a plain http(s) URL of bounded length (anything
    else, a ``javascript:`` URL say, is never made a link)."""
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
        return None
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    parts = urlsplit(url)
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def _article_page(page_url: str | None, article_id: str) -> str | None:
    """This service's page of the article, beside the saved search's page."""
    if not page_url or "/saved/" not in page_url:
        return None
    return page_url.rsplit("/saved/", 1)[0] + "/articles/" + quote(article_id, safe="")


def _lines(payload: Mapping[str, Any]) -> list[dict[str, str]]:
    page_url = payload["saved_search"].get("page_url")
    shown = []
    for article in payload["articles"][:MAX_ARTICLES]:
        own = _web_link(article.get("url"))
        shown.append(
            {
                "title": one_line(article.get("title"), MAX_TITLE_CHARS) or "(untitled)",
                "link": own or _article_page(page_url, str(article["id"])) or "",
                "source": one_line(article.get("source"), MAX_SOURCE_CHARS),
                "date": one_line(article.get("published_at"), 40)[:10],
            }
        )
    return shown


def compose(
    payload: Mapping[str, Any], *, recipient: str, sender: str, delivery_id: str
) -> EmailMessage:
    """The message for one batch of new matches (``payload`` as worker.alerts.webhook_payload
    makes it), or for a spike of them (worker.alerts.spike_payload: with ``spike``, its counts).
    The same ``delivery_id`` on every retry gives the same Message-ID, so a mail system can drop
    a repeat."""
    search = payload["saved_search"]
    name = one_line(search.get("name"), MAX_SUBJECT_NAME_CHARS) or "Saved search"
    articles = payload["articles"]
    shown = _lines(payload)
    more = len(articles) - len(shown)
    page_url = _web_link(search.get("page_url"))
    count = f"{len(articles)} new article{'s' if len(articles) != 1 else ''}"
    intro = f'{count} matched your saved search "{name}".'
    subject = f"Newsroom alert: {name} ({count})"
    spike = payload.get("spike")
    if isinstance(spike, Mapping):
        hours, recent = int(spike.get("recent_hours") or 0), int(spike.get("recent") or 0)
        subject = f"Newsroom alert: {name} is spiking ({recent} in {hours} h)"
        intro = (
            f'The matches of your saved search "{name}" spiked: {recent} in the last {hours} '
            f"hours against {float(spike.get('expected') or 0):.1f} expected from the "
            f"{int(spike.get('baseline_days') or 0)} days before. The newest:"
        )

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = Address(addr_spec=recipient)
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2] or "newsroom.invalid"
    message["Message-ID"] = f"<{delivery_id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders stay quiet
    message["X-Newsroom-Saved-Search"] = one_line(search.get("id"), 64)

    text = [intro, ""]
    for item in shown:
        meta = " · ".join(part for part in (item["source"], item["date"]) if part)
        text += [f"- {item['title']}", *([f"  {meta}"] if meta else []), f"  {item['link']}", ""]
    if more > 0:
        text.append(f"... and {more} more.")
    if page_url:
        text.append(f"All matches: {page_url}")
    text += ["", "You get this because email alerts are on for this saved search; turn them",
             "off on its page."]  # fmt: skip
    message.set_content("\n".join(text))

    rows = []
    for item in shown:
        title = html.escape(item["title"])
        link = html.escape(item["link"], quote=True)
        meta = html.escape(" · ".join(part for part in (item["source"], item["date"]) if part))
        heading = f'<a href="{link}">{title}</a>' if item["link"] else title
        rows.append(f"<li><p>{heading}</p><p>{meta}</p></li>")
    tail = f"<p>… and {more} more.</p>" if more > 0 else ""
    if page_url:
        tail += f'<p><a href="{html.escape(page_url, quote=True)}">All matches</a></p>'
    message.add_alternative(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(message['Subject'])}</title></head><body>"
        f"<p>{html.escape(intro)}</p>"
        f"<ul>{''.join(rows)}</ul>{tail}"
        "<p>You get this because email alerts are on for this saved search; turn them off on "
        "its page.</p></body></html>",
        subtype="html",
    )
    return message


def _cut(client: smtplib.SMTP, fired: threading.Event) -> None:
    """Past the deadline: shut the connection down, which wakes a read or write blocked on it."""
    fired.set()
    sock = client.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def send(message: EmailMessage, *, settings: Settings) -> None:
    """Send ``message`` through the configured SMTP server within ``smtp_deadline_s`` (each
    operation within ``smtp_timeout_s``). Raises MailError: a 5xx answer is permanent; 4xx,
    timeouts, the deadline and connection errors are worth retrying."""
    if not settings.smtp_host:
        raise MailError("no SMTP server: NEWSROOM_SMTP_HOST is unset", permanent=True)
    helo = parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "localhost"
    # local_hostname given: smtplib would otherwise ask DNS for this machine's name.
    client = smtplib.SMTP(timeout=settings.smtp_timeout_s, local_hostname=helo)
    fired = threading.Event()
    deadline = threading.Timer(settings.smtp_deadline_s, _cut, args=(client, fired))
    deadline.daemon = True
    deadline.start()
    try:
        client.connect(settings.smtp_host, settings.smtp_port)
        if settings.smtp_starttls:
            client.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            client.login(settings.smtp_user, password)
        client.send_message(message)
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()  # sent already: a lost goodbye changes nothing
    except smtplib.SMTPResponseException as error:
        detail = error.smtp_error
        text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        raise MailError(
            f"the SMTP server answered {error.smtp_code} {one_line(text, 300)}",
            permanent=error.smtp_code >= 500,
        ) from error
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        raise MailError(
            f"the SMTP server refused the recipient ({', '.join(map(str, codes))})",
            permanent=all(code >= 500 for code in codes),
        ) from error
    except (smtplib.SMTPException, OSError) as error:
        if fired.is_set():
            detail = f"not sent within the deadline of {settings.smtp_deadline_s:g} s"
        else:
            detail = f"{type(error).__name__}: {one_line(error, 300)}"
        raise MailError(detail, permanent=False) from error
    finally:
        deadline.cancel()
        client.close()


def recipient_of(search: store.SavedSearch, redis_client: redis.Redis, settings: Settings) -> str:
    """The owner's address, read now; MailError (permanent) when there is none to write to."""
    owner = accounts.get_user(redis_client, settings, search.owner) if search.owner else None
    if owner is None:
        raise MailError("the saved search has no owner to write to", permanent=True)
    if owner.disabled:
        raise MailError(f"its owner {owner.name} is disabled", permanent=True)
    if not owner.email:
        raise MailError(
            f"its owner {owner.name} has no email address (newsroom users set-email)",
            permanent=True,
        )
    return owner.email


def run_email_delivery(
    search: store.SavedSearch,
    payload: Mapping[str, Any],
    delivery_id: str,
    *,
    attempt: int,
    redis_client: redis.Redis,
    settings: Settings,
) -> DeliveryOutcome:
    """Attempt ``attempt`` (1-based) of one email. A failed attempt within
    ``alerts_email_max_retries`` retries after the webhooks' backoff; a permanent failure, or
    one past the retries, ends it as ``failed``. Records the state on the saved search."""
    prefix = settings.index_prefix
    try:
        recipient = recipient_of(search, redis_client, settings)
        try:
            message = compose(
                payload, recipient=recipient, sender=settings.smtp_from, delivery_id=delivery_id
            )
        except ValueError as refused:  # an address the email package will not write
            raise MailError(
                f"the message could not be written: {refused}", permanent=True
            ) from refused
        send(message, settings=settings)
    except MailError as failed:
        detail = f"attempt {attempt}: {failed}"
        if failed.permanent or attempt > settings.alerts_email_max_retries:
            store.set_delivery(redis_client, prefix, search.id, "failed", detail, "email")
            log.warning("email alert not sent", extra={"saved_search": search.id, "why": detail})
            return DeliveryOutcome("failed", detail)
        store.set_delivery(redis_client, prefix, search.id, "retrying", detail, "email")
        return DeliveryOutcome("retrying", detail, backoff_s(attempt), attempt + 1)
    detail = f"attempt {attempt}: sent to the owner's address"
    store.set_delivery(redis_client, prefix, search.id, "delivered", detail, "email")
    return DeliveryOutcome("delivered", detail, attempt=attempt)
