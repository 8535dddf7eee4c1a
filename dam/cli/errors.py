"""How every `dam` command fails: one or two lines on stderr and exit 1, never a traceback.

`DamGroup` is the root command's class; its `invoke` runs every sub-command, so this is the one
place exceptions become messages. `--debug` (or DAM_DEBUG=1) prints the traceback first.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

import sqlalchemy.exc
import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from dam.config import Settings, SettingsInvalid, get_settings
from dam.errors import DamError
from dam.governance.pack import PackInvalid
from dam.storage.base import StorageUnavailable

DEBUG_HINT = "(run with --debug for the traceback)"
PACK_DIRECTORY = "the directory holding taxonomy.yaml and brand_rules.yaml"


class CommandFailed(Exception):
    """A command's own refusal: its message, and a hint on the second line."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class DamGroup(TyperGroup):
    # `ctx` is typer's (vendored) click Context; typed Any to match any typer release.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise  # usage errors and explicit exits: typer reports them
        except Exception as exc:
            if ctx.params.get("debug"):
                traceback.print_exc(file=sys.stderr)
            for line in describe(exc):
                typer.echo(line, err=True)
            raise typer.Exit(1) from None


def describe(exc: BaseException) -> list[str]:
    """One or two lines saying what went wrong and, where it helps, which setting to change."""
    if isinstance(exc, CommandFailed):
        return [f"error: {exc.message}", *([f"  {exc.hint}"] if exc.hint else [])]
    if isinstance(exc, DamError):
        return [f"error: {exc.detail}"]
    if isinstance(exc, PackInvalid):
        return _pack_invalid(exc)
    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        return _settings_invalid(exc)
    if isinstance(exc, SettingsInvalid):
        return [f"error: {exc}"]
    if isinstance(exc, sqlalchemy.exc.SQLAlchemyError):
        return _database(exc)
    if isinstance(exc, StorageUnavailable):
        return [f"error: blob storage: {exc}", f"  check {_storage_settings()}"]
    s3 = _s3(exc)
    if s3 is not None:
        return s3
    if _is_alembic(exc):
        return [f"error: database migration: {_first_line(exc)}", _database_hint()]
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return [f"error: {exc.strerror}{where}", *_setting_of(exc.filename)]
    return [f"unexpected error: {type(exc).__name__}: {_first_line(exc)} {DEBUG_HINT}"]


def _setting_of(filename: object) -> list[str]:
    """The hint naming the directory setting a failing path belongs to, if any."""
    if not filename:
        return []
    try:
        settings = get_settings()
    except Exception:
        return []
    path = Path(str(filename)).resolve()
    for name, directory in (
        ("DAM_DATA_DIR", settings.data_dir),
        ("DAM_TAXONOMY_DIR", settings.taxonomy_dir),
    ):
        if path.is_relative_to(directory.resolve()):
            return [f"  {name} is {directory}; set it to a directory this user can write"]
    return []


def _pack_invalid(exc: PackInvalid) -> list[str]:
    first = exc.errors[0] if exc.errors else None
    if first is not None and first.message == "governance pack directory not found":
        return [
            f"error: governance pack directory not found: {Path(first.file).resolve()}",
            f"  set DAM_TAXONOMY_DIR to {PACK_DIRECTORY}",
        ]
    count = len(exc.errors)
    return [
        f"error: the governance pack is invalid: {first}",
        f"  {count} problem{'s' if count != 1 else ''}; `dam governance check` lists them all",
    ]


def _settings_invalid(exc: ValidationError) -> list[str]:
    error = exc.errors()[0]
    name = "DAM_" + "_".join(str(part) for part in error["loc"]).upper()
    more = exc.error_count() - 1
    return [
        f"error: invalid setting {name}={error.get('input')!r}: {error['msg']}",
        *([f"  and {more} more invalid setting{'s' if more > 1 else ''}"] if more else []),
    ]


def _database(exc: sqlalchemy.exc.SQLAlchemyError) -> list[str]:
    reason = _first_line(getattr(exc, "orig", None) or exc)
    where = _database_where()
    if isinstance(exc, sqlalchemy.exc.ArgumentError):
        return [f"error: invalid database URL {where}: {reason}", _database_hint()]
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return [f"error: cannot use the database at {where}: {reason}", _database_hint()]
    return [f"error: database error at {where}: {reason}", _database_hint()]


def _database_where() -> str:
    try:
        settings = get_settings()
        url = settings.resolved_database_url
    except Exception:  # the settings themselves are broken; say what we can
        return "(unknown: the settings do not load)"
    try:
        shown = sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        shown = url.split("@")[-1] if "@" in url else url
    return shown


def _database_hint() -> str:
    try:
        explicit = get_settings().database_url is not None
    except Exception:
        explicit = True
    if explicit:
        return "  check DAM_DATABASE_URL"
    return "  the SQLite database under DAM_DATA_DIR; set DAM_DATA_DIR or DAM_DATABASE_URL"


def _storage_settings() -> str:
    try:
        filesystem = get_settings().storage.value == "fs"
    except Exception:
        filesystem = False
    if filesystem:
        return "DAM_DATA_DIR (DAM_STORAGE=fs)"
    return "DAM_S3_ENDPOINT_URL, DAM_S3_BUCKET, DAM_S3_REGION and the AWS credentials"


def _s3(exc: BaseException) -> list[str] | None:
    if "botocore" not in sys.modules:
        return None
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "error")
        message = error.get("Message") or _first_line(exc)
        return [f"error: S3 answered {code}: {message}", f"  check {_storage_settings()}"]
    if isinstance(exc, BotoCoreError):
        return [f"error: S3: {_first_line(exc)}", f"  check {_storage_settings()}"]
    return None


def _is_alembic(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("alembic")


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
