"""POST a JSON body to a user's webhook: a total deadline, no redirects, signed, and, unless
allowed, never to a loopback, private or otherwise internal address.

Anyone may save a search with a webhook, so the address is checked on every delivery after
resolving the name, and the connection goes to the very address checked (a name that resolves
differently the second time cannot slip through).

A receiver cannot hold a delivery longer than its deadline. Socket timeouts bound each read
or write, not the whole: a receiver that drips one byte every 0.25 s never trips a 1 s read
timeout (a 1 KB answer dripped so held the previous http.client code 260 s). So the whole
delivery (name lookup, connect, TLS, send, status, headers and the answer, at most
``MAX_RESPONSE_BYTES`` of it) runs as one asyncio task under ``asyncio.timeout``: past the
deadline it is cancelled wherever it waits and its connection closed. httpx does the HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
import ssl
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

USER_AGENT = "Newsroom-Alerts/1"
# A receiver's answer is not used: read only this much of it, then hang up.
MAX_RESPONSE_BYTES = 64 * 1024


class DeliveryError(Exception):
    """The POST failed. ``permanent``: retrying cannot help (refused address, 4xx).
    ``status``: the receiver's answer, when it gave one."""

    def __init__(self, detail: str, *, permanent: bool, status: int | None = None) -> None:
        super().__init__(detail)
        self.permanent = permanent
        self.status = status


@dataclass(frozen=True)
class Delivered:
    status: int


@dataclass(frozen=True)
class Destination:
    """Where a webhook URL points: what the connection and the Host header need."""

    scheme: str
    host: str  # the name (or address) in the URL, lower case
    port: int
    target: str  # path and query

    @property
    def key(self) -> str:
        """The destination's identity for concurrency limits and the circuit breaker."""
        return f"{self.host}:{self.port}"

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


def parse_url(url: str) -> Destination:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryError(f"not an http(s) URL: {url}", permanent=True)
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as error:
        raise DeliveryError(f"bad port in {url}", permanent=True) from error
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(scheme, parts.hostname.lower(), port, target)


def sign(secret: str, body: bytes) -> str:
    """The ``X-Newsroom-Signature`` header: receivers recompute it with the secret they were
    given when the saved search was created."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to. Every address the name has must be public (unless
    ``allow_private``): otherwise a name with one public and one internal address could still
    reach the internal one."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise DeliveryError(f"cannot resolve {host}: {error}", permanent=False) from error
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise DeliveryError(f"{host} has no address", permanent=False)
    if not allow_private:
        internal = [a for a in addresses if not is_public_address(a)]
        if internal:
            raise DeliveryError(
                f"refused: {host} resolves to a non-public address ({internal[0]})",
                permanent=True,
            )
    return addresses[0]


# getaddrinfo blocks and cannot be cancelled: it runs on these threads so that the deadline
# still holds while it waits (a lookup cut off ends by itself at the resolver's own timeout).
# Not asyncio's default executor: asyncio.run() waits for that one's threads on the way out.
_lookups: ThreadPoolExecutor | None = None
_lookups_lock = threading.Lock()


def _lookup_pool() -> ThreadPoolExecutor:
    global _lookups
    with _lookups_lock:
        if _lookups is None:
            _lookups = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")
        return _lookups


_tls: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    """Certificates verified against the host's name (SNI and check_hostname use the name
    given as ``sni_hostname``, not the address connected to). Built once per process."""
    global _tls
    if _tls is None:
        _tls = ssl.create_default_context()
    return _tls


async def _post(
    destination: Destination,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout_s: float,
    allow_private: bool,
    answer: list[int],
) -> None:
    loop = asyncio.get_running_loop()
    address = await loop.run_in_executor(
        _lookup_pool(),
        lambda: resolve(destination.host, destination.port, allow_private=allow_private),
    )
    literal = f"[{address}]" if ":" in address else address
    url = f"{destination.scheme}://{literal}:{destination.port}{destination.target}"
    async with (
        # trust_env off: a proxy from the environment would connect elsewhere than checked.
        httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            trust_env=False,
            verify=_tls_context(),
        ) as client,
        client.stream(
            "POST",
            url,
            content=body,
            headers={
                "Host": destination.host_header,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                **headers,
            },
            extensions={"sni_hostname": destination.host},
        ) as response,
    ):
        answer.append(response.status_code)
        received = 0
        async for chunk in response.aiter_raw():  # raw: a compressed answer is not inflated
            received += len(chunk)
            if received >= MAX_RESPONSE_BYTES:
                break


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run``, also from a thread whose own event loop is running (an async caller,
    or a library such as Playwright's sync API), where it cannot nest: then in a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def post_json(
    url: str,
    body: bytes,
    *,
    headers: dict[str, str],
    timeout_s: float,
    deadline_s: float,
    allow_private: bool,
) -> Delivered:
    """POST ``body`` (JSON) to ``url`` within ``deadline_s`` of wall time in all (each read or
    write within ``timeout_s``). 2xx is delivered; 408, 429, 5xx, timeouts, the deadline and
    connection errors are worth retrying; other answers (redirects included: they are not
    followed) are permanent failures. An answer whose status arrived but whose body is still
    coming at the deadline counts by its status."""
    destination = parse_url(url)
    answer: list[int] = []
    work = _post(
        destination, body, headers, timeout_s=timeout_s, allow_private=allow_private, answer=answer
    )

    async def bounded() -> None:
        async with asyncio.timeout(deadline_s):
            await work

    try:
        _run(bounded())
    except (TimeoutError, httpx.HTTPError, OSError) as error:
        if not answer:  # with a status, the rest of the answer does not matter
            detail = (
                f"no answer within the delivery deadline of {deadline_s:g} s"
                if isinstance(error, TimeoutError)
                else f"{type(error).__name__}: {error}"
            )
            raise DeliveryError(detail, permanent=False) from error
    status = answer[0]
    if 200 <= status < 300:
        return Delivered(status)
    retry = status in (408, 425, 429) or status >= 500
    raise DeliveryError(f"the receiver answered {status}", permanent=not retry, status=status)
