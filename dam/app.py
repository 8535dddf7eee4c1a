"""The FastAPI application: routers, the one error mapping, request ids, start-up."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from dam.api import ROUTERS
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
    app.state.session_principal = None
    install_error_handlers(app)

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request.headers.get("x-request-id", "")[:64] or secrets.token_hex(8)
        token = request_id_var.set(rid)
        try:
            response = await call_next(request)
        finally:
            request_id_var.reset(token)
        response.headers["X-Request-ID"] = rid
        return response

    for router in ROUTERS:
        app.include_router(router)
    install_web(app)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DamError)
    async def dam_error(request: Request, exc: DamError) -> JSONResponse:
        headers: dict[str, str] = {}
        if isinstance(exc, RangeNotSatisfiable) and "size" in exc.extra:
            headers["Content-Range"] = f"bytes */{exc.extra['size']}"
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=headers)

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
        return JSONResponse(
            {"error": "invalid_request", "detail": detail, "problems": problems}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        body: dict[str, Any] = {
            "error": codes.get(exc.status_code, "http_error"),
            "detail": exc.detail,
        }
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {
                "error": "internal_error",
                "detail": "an unexpected error occurred; it was logged",
                "request_id": request_id_var.get(),
            },
            status_code=500,
        )
