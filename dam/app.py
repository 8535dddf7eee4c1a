"""The FastAPI application: routers, the one error mapping, request ids, start-up."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from dam.api import ROUTERS, uploads
from dam.api.middleware import (
    BodyGuard,
    RequestContext,
    SecurityHeaders,
    allowed_methods,
    install_log_request_ids,
    security_headers_for,
)
from dam.api.openapi import errors, install_openapi
from dam.assets.resumable import TUS_VERSION
from dam.audit.service import request_id_var
from dam.auth import service as auth_service
from dam.config import Settings, get_settings
from dam.context import Context, build_context
from dam.db import session_scope, upgrade
from dam.errors import DamError, RangeNotSatisfiable
from dam.web import install_web
from dam.worker import WorkerThread

log = logging.getLogger("dam")


def prepare(ctx: Context) -> None:
    """What must hold before serving: pack valid, schema current, bootstrap key present."""
    # The holder loads lazily; loading here makes a broken pack refuse the start, not an upload.
    ctx.governance.load()
    upgrade(ctx.engine)
    if ctx.settings.bootstrap_admin_key:
        with session_scope(ctx.engine) as session:
            auth_service.ensure_bootstrap_key(
                session, plaintext=ctx.settings.bootstrap_admin_key, now=ctx.now()
            )


def create_app(
    settings: Settings | None = None, *, ctx: Context | None = None, run_worker: bool | None = None
) -> FastAPI:
    settings = settings or (ctx.settings if ctx else get_settings())
    settings.check_production()
    context = ctx or build_context(settings)
    start_worker = settings.run_worker if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = WorkerThread(context) if start_worker else None
        if worker:
            worker.start()
        try:
            yield
        finally:
            if worker:
                worker.stop()

    app = FastAPI(
        title="DAM",
        version="0.1.0",
        description="Digital asset management with metadata governance.",
        lifespan=lifespan,
    )
    app.state.ctx = context
    app.state.run_worker = start_worker
    app.state.session_principal = None
    install_error_handlers(app)
    install_openapi(app)

    install_middleware(app, settings)

    for router in ROUTERS:
        app.include_router(router)
    install_web(app)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses=errors(503))
    def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            with Session(context.engine) as session:
                session.execute(sa.text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            context.store.ping()
            checks["storage"] = "ok"
        except Exception as exc:
            checks["storage"] = f"error: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
        )

    return app


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Outermost first: forwarded headers (trusted proxies only), request context, security
    headers, the body guard; see `dam.api.middleware`. `add_middleware` wraps, so the
    innermost is added first."""
    install_log_request_ids()
    app.add_middleware(BodyGuard)
    app.add_middleware(SecurityHeaders, headers=security_headers_for(settings))
    app.add_middleware(RequestContext)
    if settings.trusted_proxy_list:
        # Only the proxies named in DAM_TRUSTED_PROXIES may say the client used https (so
        # cookies are Secure) or who the client is; anyone else's X-Forwarded-* is ignored.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)


def _error(request: Request, body: dict[str, Any], status_code: int, **kw: Any) -> JSONResponse:
    return JSONResponse({**body, "request_id": request_id_var.get()}, status_code=status_code, **kw)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DamError)
    async def dam_error(request: Request, exc: DamError) -> JSONResponse:
        headers: dict[str, str] = {}
        if isinstance(exc, RangeNotSatisfiable) and "size" in exc.extra:
            headers["Content-Range"] = f"bytes */{exc.extra['size']}"
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if request.url.path.startswith(uploads.PREFIX):
            # tus: every answer names the protocol version, refusals included.
            headers.update(uploads.tus_headers())
            headers["Tus-Version"] = TUS_VERSION
        return _error(request, exc.body(), exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "message": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return _error(
            request, {"error": "invalid_request", "detail": detail, "problems": problems}, 422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        detail: Any = exc.detail
        headers = dict(exc.headers or {})
        if exc.status_code == 413 and MAX_BODY_SIZE_SCOPE_KEY in request.scope:
            limit = request.scope[MAX_BODY_SIZE_SCOPE_KEY]
            detail = f"the request body exceeds the limit of {limit} bytes for this endpoint"
        if exc.status_code == 405:
            allowed = allowed_methods(app, request.scope)
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed here; use {', '.join(allowed)}"
        body: dict[str, Any] = {"error": codes.get(exc.status_code, "http_error"), "detail": detail}
        return _error(request, body, exc.status_code, headers=headers)
