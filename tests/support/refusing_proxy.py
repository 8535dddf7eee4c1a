"""An S3 endpoint that lacks what a test says: a loopback HTTP proxy in front of a real server.

Requests pass through to the upstream server unchanged, except those a rule matches, which get
the S3 error a store without that feature answers (for example `NotImplemented` to
`PUT ?versioning`, as Cloudflare R2 does, or `AccessDenied`, as a key without the permission
gets). The client still talks HTTP to something that behaves like S3 for everything else.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Refusal:
    """Refuse `method` requests carrying the query parameter `subresource` (or, with
    subresource None, requests on an object key) with an S3 error."""

    method: str
    subresource: str | None
    code: str
    status: int

    def matches(self, method: str, path: str, query: dict[str, list[str]]) -> bool:
        if method != self.method:
            return False
        if self.subresource is None:
            # An object request: /bucket/key, no subresource.
            return path.strip("/").count("/") >= 1 and not query
        return self.subresource in query


NOT_IMPLEMENTED = 501
FORBIDDEN = 403


@contextmanager
def refusing_proxy(upstream: str, refusals: list[Refusal]) -> Iterator[str]:
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return None

        def _handle(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query, keep_blank_values=True)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            for refusal in refusals:
                if refusal.matches(self.command, url.path, query):
                    self._refuse(refusal)
                    return
            # The Host header is passed on as signed; moto does not check signatures.
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            finally:
                conn.close()

        def _refuse(self, refusal: Refusal) -> None:
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{refusal.code}</Code>"
                f"<Message>refused by the test proxy</Message></Error>"
            ).encode()
            self.send_response(refusal.status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
