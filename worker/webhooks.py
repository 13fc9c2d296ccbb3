"""POST a JSON body to a user's webhook: a timeout, no redirects, signed, and, unless allowed,
never to a loopback, private or otherwise internal address.

Anyone may save a search with a webhook, so the address is checked on every delivery after
resolving the name, and the connection goes to the very address checked (a name that resolves
differently the second time cannot slip through).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

USER_AGENT = "Newsroom-Alerts/1"
# A receiver's answer is not used: read only this much of it, then hang up.
_MAX_RESPONSE_BYTES = 64 * 1024


class DeliveryError(Exception):
    """The POST failed. ``permanent``: retrying cannot help (refused address, 4xx)."""

    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.permanent = permanent


@dataclass(frozen=True)
class Delivered:
    status: int


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


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to a checked address; the Host header still names the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to a checked address; TLS verifies the certificate for the host's name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def post_json(
    url: str,
    body: bytes,
    *,
    headers: dict[str, str],
    timeout_s: float,
    allow_private: bool,
) -> Delivered:
    """POST ``body`` (JSON) to ``url``. 2xx is delivered; 408, 429, 5xx, timeouts and
    connection errors are worth retrying; other answers (redirects included: they are not
    followed) are permanent failures."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryError(f"not an http(s) URL: {url}", permanent=True)
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as error:
        raise DeliveryError(f"bad port in {url}", permanent=True) from error
    address = resolve(parts.hostname, port, allow_private=allow_private)
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(parts.hostname, port, address, timeout_s)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        response = connection.getresponse()
        response.read(_MAX_RESPONSE_BYTES)
        status = response.status
    except (OSError, http.client.HTTPException) as error:
        raise DeliveryError(f"{type(error).__name__}: {error}", permanent=False) from error
    finally:
        connection.close()
    if 200 <= status < 300:
        return Delivered(status)
    retry = status in (408, 425, 429) or status >= 500
    raise DeliveryError(f"the receiver answered {status}", permanent=not retry)
