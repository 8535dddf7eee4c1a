"""The Context a command works with, and the refusal to invent a database by accident."""

from __future__ import annotations

from dam.cli.errors import CommandFailed
from dam.config import Settings, get_settings
from dam.context import Context, build_context
from dam.db import upgrade


def command_context(*, creates: bool = False, migrate: bool = True) -> Context:
    """A Context whose parts are built on first use (see dam.context), its schema migrated.

    Unless the command `creates` the data (serve, worker, db upgrade), a default SQLite database
    that does not exist yet is refused with the setting to change, instead of quietly starting
    an empty one (keys listed from the wrong directory, a re-index of nothing)."""
    settings = get_settings()
    if not creates:
        require_existing_data(settings)
    ctx = build_context(settings)
    if migrate:
        upgrade(ctx.engine)
    return ctx


def require_existing_data(settings: Settings) -> None:
    if settings.database_url is not None or "data_dir" in settings.model_fields_set:
        return  # set explicitly: the operator's choice, created if need be
    database = settings.default_database_path
    if not database.exists():
        raise CommandFailed(
            f"no database at {database} (DAM_DATA_DIR is not set; this is its default)",
            "set DAM_DATA_DIR (or DAM_DATABASE_URL) to the data `dam serve` uses, "
            "or run `dam db upgrade` once to create it there",
        )
