"""The ingest API seen from the command line: POST batches, ask for states, and wait out
backpressure and outages instead of failing.

- 429 (the queue is full): wait the ``Retry-After`` seconds the service asks for, and again;
- 502/503/504, a refused connection or a timeout: back off (1, 2, 4 ... 30 s) and retry;
  articles have deterministic ids, so a batch sent twice (the first answer lost) is harmless;
- after ``max_wait_s`` of waiting for one request, ``GaveUpError``; 401/403 raise
  ``KeyRefusedError``.

Credentials go as ``Authorization: Bearer``: an API token (or the deprecated shared key).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

RETRY_STATUSES = frozenset({502, 503, 504})
MAX_BACKOFF_S = 30.0


class GaveUpError(Exception):
    """The service stayed busy or unreachable for longer than we were willing to wait."""


class KeyRefusedError(Exception):
    """The token (or key) is missing, wrong, revoked or not allowed: retrying cannot help."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # the decoded JSON, or None

    @property
    def detail(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("detail") or self.body.get("title") or self.body)
        return f"HTTP {self.status}"


def retry_after(response: requests.Response, default: float) -> float:
    raw = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw))
    except ValueError:  # an HTTP date, or nothing: our own pace
        return default


class IngestClient:
    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = 120.0,
        max_wait_s: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[str, float], None] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = (min(10.0, timeout_s), timeout_s)  # (connect, read)
        self.max_wait_s = max_wait_s
        self.sleep = sleep
        self.on_wait = on_wait or (lambda reason, seconds: None)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "newsroom-cli"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def _request(self, method: str, path: str, **kwargs: Any) -> Answer:
        waited = 0.0
        backoff = 1.0
        while True:
            try:
                response = self.session.request(
                    method, self.url + path, timeout=self.timeout, **kwargs
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                reason, pause = f"ingest unreachable ({type(error).__name__})", backoff
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            else:
                if response.status_code in (401, 403):
                    raise KeyRefusedError(_answer(response).detail)
                if response.status_code == 429:
                    reason, pause = "ingest is busy (429)", retry_after(response, 5.0)
                elif response.status_code in RETRY_STATUSES:
                    reason = f"ingest unavailable ({response.status_code})"
                    pause = max(retry_after(response, backoff), backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
                else:
                    return _answer(response)
            if waited + pause > self.max_wait_s:
                raise GaveUpError(f"{reason}; gave up after waiting {waited:.0f} s")
            self.on_wait(reason, pause)
            self.sleep(pause)
            waited += pause

    def post_articles(self, body: bytes, queue: str | None = None) -> Answer:
        """POST a JSON array of articles (to ingest's ``queue``: live or bulk)."""
        return self._request(
            "POST",
            "/articles",
            data=body,
            params={"queue": queue} if queue else None,
            headers={"Content-Type": "application/json; charset=utf-8"},
        )

    def states(self, ids: list[str]) -> Answer:
        """``POST /articles/status`` for up to 1000 ids."""
        return self._request("POST", "/articles/status", json={"ids": ids})


def _answer(response: requests.Response) -> Answer:
    try:
        body = response.json()
    except ValueError:
        body = None
    return Answer(response.status_code, body)
