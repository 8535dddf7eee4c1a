"""Periodic tasks the worker runs on every loop (each is cheap when there is nothing to do)."""

from __future__ import annotations

from collections.abc import Callable

from dam.context import Context

_PERIODIC: list[Callable[[Context], None]] = []


def periodic(fn: Callable[[Context], None]) -> Callable[[Context], None]:
    _PERIODIC.append(fn)
    return fn


def run_scheduled(ctx: Context) -> None:
    from dam.jobs.registry import load_handlers

    load_handlers()
    for fn in _PERIODIC:
        fn(ctx)
