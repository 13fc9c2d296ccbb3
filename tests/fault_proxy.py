"""A fault-injecting HTTP proxy on loopback, in front of the real Elasticsearch.

Each rule names a method and a path pattern and the answers to give, in turn, to the requests
that match it (an error status with an Elasticsearch-shaped error body); once a rule's answers
are used up, its requests pass through to Elasticsearch like every other request. The proxy
counts what it answered, so a test can check that each fault was really served.

A real process boundary (a socket), not a patched client: the worker's Elasticsearch client
sees exactly what a failing cluster would send.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# The error types Elasticsearch answers with, by status.
_ERROR_TYPES = {
    400: "mapper_parsing_exception",
    429: "es_rejected_execution_exception",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "master_not_discovered_exception",
    504: "gateway_timeout",
}


@dataclass
class Rule:
    method: str
    path: str  # a regular expression searched in the request path
    answers: list[int]
    served: list[int] = field(default_factory=list)

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.search(self.path, path) is not None


class FaultProxy:
    def __init__(self, upstream: str, rules: list[Rule]) -> None:
        target = urlsplit(upstream)
        self.upstream_host = target.hostname or "127.0.0.1"
        self.upstream_port = target.port or 9200
        self.rules = rules
        self.passed: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def pending(self) -> int:
        """Answers not served yet."""
        with self._lock:
            return sum(len(rule.answers) for rule in self.rules)

    def _fault_for(self, method: str, path: str) -> int | None:
        with self._lock:
            for rule in self.rules:
                if rule.answers and rule.matches(method, path):
                    status = rule.answers.pop(0)
                    rule.served.append(status)
                    return status
            self.passed[method] += 1
            return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the test reads the counters

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status = proxy._fault_for(self.command, self.path)
                if status is not None:
                    kind = _ERROR_TYPES.get(status, "exception")
                    error = {
                        "error": {"type": kind, "reason": f"injected {status} ({kind})"},
                        "status": status,
                    }
                    payload = json.dumps(error).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("X-Elastic-Product", "Elasticsearch")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=30
                )
                try:
                    headers = {
                        key: value
                        for key, value in self.headers.items()
                        if key.lower() not in {"host", "connection", "content-length"}
                    }
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                finally:
                    upstream.close()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in {"connection", "transfer-encoding", "content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay  # noqa: N815

        return Handler
