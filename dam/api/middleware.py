"""The ASGI middleware every request passes through, outermost first (installed by `dam.app`):

- `RequestContext`: the request id (the client's `X-Request-ID` if it is a sane token, else a
  new one) on every response, in error bodies and on every log record; an unexpected error
  becomes a JSON 500 here, inside the server's own error handling, so the connection stays
  usable; a response sent before the request body was read says `Connection: close`.
- `SecurityHeaders`: CSP, framing, referrer and (in production) HSTS headers.
- `BodyGuard`: before a byte of a body is read, the caller is authenticated and the body's
  declared size checked; then the body is capped while it streams (413) and JSON is checked
  for depth before anything parses it. Each route declares what kind of body it takes with
  `body_kind`; the default is a capped, authenticated body.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dam.api.deps import authenticate_before_body
from dam.audit.service import request_id_var
from dam.bounds import MAX_JSON_DEPTH, json_depth
from dam.context import Context
from dam.errors import DamError, Invalid, PayloadTooLarge

log = logging.getLogger("dam.http")

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and a few separators, as tracing systems generate them; anything else (or
# longer) is replaced, so a client cannot put arbitrary text into our logs and headers.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")


def request_id_from(headers: Headers) -> str:
    given = headers.get("x-request-id", "").strip()
    return given if _SANE_REQUEST_ID.fullmatch(given) else secrets.token_hex(16)


def _announces_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in headers


def install_log_request_ids() -> None:
    """Every log record carries `request_id` (the current request's, or "-"), whichever
    logger writes it, so a formatter can print it beside the message."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "dam_request_ids", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = request_id_var.get() or "-"
        return record

    factory.dam_request_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        rid = request_id_from(headers)
        body_read = not _announces_body(headers)
        started = False

        async def receive_tracked() -> Message:
            nonlocal body_read
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body_read = True
            return message

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                out = MutableHeaders(scope=message)
                out[REQUEST_ID_HEADER] = rid
                if not body_read:
                    # HTTP/1.1 can only keep a connection whose request body was consumed.
                    out["Connection"] = "close"
            await send(message)

        token = request_id_var.set(rid)
        try:
            await self.app(scope, receive_tracked, send_tracked)
        except Exception:
            log.exception(
                "unhandled error on %s %s (request %s)", scope["method"], scope["path"], rid
            )
            if started:
                # Half a response is out; only closing the connection can tell the client.
                raise
            response = JSONResponse(
                {
                    "error": "internal_error",
                    "detail": "an unexpected error occurred; it was logged with the request id",
                    "request_id": rid,
                },
                status_code=500,
            )
            await response(scope, receive_tracked, send_tracked)
        finally:
            request_id_var.reset(token)


class SecurityHeaders:
    """Adds each header a response does not set itself (downloads set their own CSP)."""

    def __init__(self, app: ASGIApp, *, headers: Callable[[Scope], Mapping[str, str]]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                out = MutableHeaders(scope=message)
                for name, value in self.headers(scope).items():
                    if name not in out:
                        out[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- request bodies ------------------------------------------------------------------------


class BodyKind(StrEnum):
    """What a route's request body is; see `body_kind`."""

    # JSON or a form: authenticated first, capped at `DAM_MAX_BODY_KIB`, JSON depth checked.
    capped = "capped"
    # Metric reports (JSON or CSV exports): authenticated first, capped at DAM_MAX_METRICS_MIB.
    metrics = "metrics"
    # File uploads: authenticated first; the upload reader enforces DAM_MAX_UPLOAD_MIB itself.
    upload = "upload"
    # The sign-in form: nobody is signed in yet; capped like `capped`.
    public = "public"


BODY_KIND_ATTR = "dam_body_kind"
F = TypeVar("F", bound=Callable[..., Any])


def body_kind(kind: BodyKind) -> Callable[[F], F]:
    """Declares the kind of body a route takes (put it under the route decorator)."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, BODY_KIND_ATTR, kind)
        return endpoint

    return mark


def flat_routes(app: Any) -> list[RouteContext]:
    """Every route of the app, included routers flattened (built once, on first use: the
    routes are all in place by the time a request arrives)."""
    routes: list[RouteContext] | None = getattr(app.state, "dam_flat_routes", None)
    if routes is None:
        routes = list(iter_route_contexts(app.routes))
        app.state.dam_flat_routes = routes
    return routes


def route_body_kind(app: Any, scope: Scope) -> BodyKind:
    for route in flat_routes(app):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            kind: BodyKind | None = getattr(route.endpoint, BODY_KIND_ATTR, None)
            return kind or BodyKind.capped
    return BodyKind.capped


def allowed_methods(app: Any, scope: Scope) -> list[str]:
    """Every method some route takes at this path (the router's own 405 names only the
    first route that matched the path, though GET, PATCH and DELETE are three routes)."""
    methods: set[str] = set()
    for route in flat_routes(app):
        for method in route.methods or ():
            match, _ = route.matches({**scope, "method": method})
            if match is Match.FULL:
                methods.add(method)
    return sorted(methods)


def _is_json(headers: Headers) -> bool:
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype in ("", "application/json") or ctype.endswith("+json")


async def _error_response(app: Any, request: Request, exc: DamError) -> Response:
    """Through the app's own handlers, so a refusal here reads like any other (JSON for the
    API, a sign-in redirect for pages)."""
    for cls in type(exc).__mro__:
        handler = app.exception_handlers.get(cls)
        if handler is not None:
            response: Response = await handler(request, exc)
            return response
    raise exc  # pragma: no cover - DamError always has a handler


class BodyGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _announces_body(headers := Headers(scope=scope)):
            await self.app(scope, receive, send)
            return
        application = scope["app"]
        ctx: Context = application.state.ctx
        kind = route_body_kind(application, scope)
        request = Request(scope, receive)
        limit = (
            ctx.settings.max_metrics_body_bytes
            if kind == BodyKind.metrics
            else ctx.settings.max_body_bytes
        )
        try:
            if kind != BodyKind.public:
                await run_in_threadpool(authenticate_before_body, request, ctx)
            declared = headers.get("content-length", "")
            if kind != BodyKind.upload and declared.isdigit() and int(declared) > limit:
                raise _too_large(limit)
            if kind == BodyKind.capped and _is_json(headers):
                body = await _read_capped(receive, limit)
                if json_depth(body) > MAX_JSON_DEPTH:
                    raise Invalid(
                        f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels",
                        code="json_too_deep",
                    )
        except DamError as exc:
            response = await _error_response(application, request, exc)
            await response(scope, receive, send)
            return
        if kind == BodyKind.upload:
            await self.app(scope, receive, send)
        elif kind == BodyKind.capped and _is_json(headers):
            await self.app(scope, _replay(body, receive), send)
        else:
            await RequestBodyLimitMiddleware(self.app, max_body_size=limit)(scope, receive, send)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body exceeds the limit of {limit} bytes for this endpoint",
        code="body_too_large",
        limit_bytes=limit,
    )


async def _read_capped(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body, the server's next message is the client going away.
        return await receive()

    return replay


# --- security headers ----------------------------------------------------------------------

# The UI loads its scripts and styles from /static only (no inline script or style), talks to
# its own API, and is never framed. Previews are same-origin images; upload previews are blobs.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's interactive docs are a page of inline script loading Swagger UI from its CDN.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
HSTS = "max-age=31536000; includeSubDomains"


def security_headers_for(settings: Any) -> Callable[[Scope], Mapping[str, str]]:
    common = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if settings.is_production:
        # Only ever served over TLS in production (directly or behind a TLS-terminating proxy).
        common["Strict-Transport-Security"] = HSTS
    pages = {**common, "Content-Security-Policy": PAGE_CSP}
    docs = {**common, "Content-Security-Policy": DOCS_CSP}

    def headers(scope: Scope) -> Mapping[str, str]:
        return docs if scope["path"] in DOCS_PATHS else pages

    return headers
