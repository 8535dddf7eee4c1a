"""Job kinds and their handlers. A handler must be idempotent: it may run more than once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

if TYPE_CHECKING:
    from dam.context import Context

Handler = Callable[["Context", Session, dict[str, Any]], None]
_HANDLERS: dict[str, Handler] = {}


class RetryLater(Exception):
    """Raised by a handler to be retried without counting as an error in the logs."""


class GiveUp(Exception):
    """Raised by a handler whose job can never succeed (a file no renderer can draw): the job
    fails at once with this reason instead of being retried. Whatever the handler committed
    before raising stays committed."""


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if kind in _HANDLERS and _HANDLERS[kind] is not fn:
            raise RuntimeError(f"job kind {kind!r} registered twice")
        _HANDLERS[kind] = fn
        return fn

    return register


def get_handler(kind: str) -> Handler | None:
    load_handlers()
    return _HANDLERS.get(kind)


def load_handlers() -> None:
    """Import the modules that register handlers (kept lazy to avoid import cycles)."""
    import dam.assets.jobs
    import dam.search.jobs
    import dam.webhooks.jobs
    import dam.workflow.expiry  # noqa: F401
