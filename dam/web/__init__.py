"""The web UI: server-rendered pages on the same app and services as the JSON API."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from dam.errors import BadRequest, DamError, NotFound, Unauthorized
from dam.web import admin, auth, campaign_forms, creative_ops, pages, preview_state, shares
from dam.web import collections as collection_pages
from dam.web.router import router

__all__ = ["install_web"]


def _is_page(request: Request) -> bool:
    path = request.url.path
    return not (path.startswith("/api/") or path.startswith("/static/") or path == "/openapi.json")


def _delegate(
    app: FastAPI, exc_type: type[Exception]
) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The handler the API registered for `exc_type`, as a coroutine function."""
    handler = app.exception_handlers[exc_type]

    async def call(request: Request, exc: Exception) -> Response:
        result = handler(request, exc)
        response: Response = await result if inspect.isawaitable(result) else result
        return response

    return call


def install_web(app: FastAPI) -> None:
    """Pages, static files, the cookie-session principal for the JSON API, and HTML errors on
    page paths (the API keeps its JSON errors)."""
    app.state.session_principal = auth.session_principal
    app.state.has_session = lambda request: (
        auth.session_user(request.app.state.ctx, request) is not None
    )
    app.mount("/static", StaticFiles(directory=str(pages.HERE / "static")), name="static")
    app.include_router(router)
    app.include_router(collection_pages.router)
    app.include_router(shares.router)
    app.include_router(creative_ops.router)
    app.include_router(admin.router)
    app.include_router(admin.public)
    app.include_router(campaign_forms.router)
    app.include_router(preview_state.router)

    api_dam = _delegate(app, DamError)
    api_validation = _delegate(app, RequestValidationError)
    api_http = _delegate(app, StarletteHTTPException)

    async def dam_error(request: Request, exc: Exception) -> Response:
        if not _is_page(request):
            return await api_dam(request, exc)
        assert isinstance(exc, DamError)
        if isinstance(exc, Unauthorized):
            return pages.sign_in_redirect(request)
        return pages.error_page(request, exc)

    async def validation_error(request: Request, exc: Exception) -> Response:
        if not _is_page(request):
            return await api_validation(request, exc)
        return pages.error_page(request, BadRequest("that address or form is not valid"))

    async def http_error(request: Request, exc: Exception) -> Response:
        if not _is_page(request) or not isinstance(exc, StarletteHTTPException):
            return await api_http(request, exc)
        if exc.status_code == 404:
            return pages.error_page(request, NotFound("there is no page at this address"))
        return await api_http(request, exc)

    app.add_exception_handler(DamError, dam_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
