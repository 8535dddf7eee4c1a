"""The `dam` command: serve, worker, db, keys, storage (and the domain sub-commands)."""

from __future__ import annotations

import signal
import sys
import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError
from sqlmodel import select

from dam.assets.campaign_ids import normalize_campaign_id
from dam.assets.renditions_rebuild import rebuild_renditions
from dam.assets.resumable import check_uploads
from dam.auth import service as auth_service
from dam.bounds import SafeDatetime
from dam.cli import derivatives as derivatives_cli
from dam.cli import governance as governance_cli
from dam.cli import imports as imports_cli
from dam.cli import search as search_cli
from dam.cli import users as users_cli
from dam.cli.contexts import command_context
from dam.cli.errors import CommandFailed, DamGroup
from dam.cli.progress import progress
from dam.config import get_settings
from dam.context import Context
from dam.db import session_scope
from dam.models import AssetVersion, Role
from dam.principal import SYSTEM
from dam.storage import get_blob_store
from dam.storage.check import check_blobs, check_temp_files, remove_stale_temp_files
from dam.worker import WorkerThread

app = typer.Typer(
    cls=DamGroup,
    help="Digital asset management with metadata governance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
storage_app = typer.Typer(help="Blob storage.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(storage_app, name="storage")
app.add_typer(search_cli.app, name="search")
app.add_typer(governance_cli.app, name="governance")
app.add_typer(derivatives_cli.app, name="derivatives")
app.add_typer(users_cli.app, name="users")
app.command("import")(imports_cli.import_command)


@app.callback()
def _dam(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="DAM_DEBUG",
            help="On an error, print the traceback before the message (or DAM_DEBUG=1).",
        ),
    ] = False,
) -> None:
    # Read by DamGroup.invoke (dam.cli.errors) from the context's params.
    pass


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers_in_process: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker",
            help="Run the background worker in-process [default: DAM_RUN_WORKER, true].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Apply migrations and run the API (with the in-process worker unless DAM_RUN_WORKER=false
    or --no-worker; the flag overrides the setting only when it is given)."""
    # Lazy: the web stack is heavy, and the other commands (keys, db, storage) never need it.
    import uvicorn

    from dam.app import create_app, prepare

    ctx = command_context(creates=True, migrate=False)
    settings = ctx.settings
    prepare(ctx)
    _clean_temp_files(ctx)
    application = create_app(settings, ctx=ctx, run_worker=workers_in_process)
    typer.echo(f"DAM on http://{host}:{port} (data: {settings.data_dir.resolve()})", err=True)
    # Forwarded headers are the app's business (DAM_TRUSTED_PROXIES), not uvicorn's default
    # of trusting 127.0.0.1; every log line carries the request id (see dam.api.middleware).
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=False,
        log_config=_log_config(),
    )


def _log_config() -> dict[str, object]:
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    formatters = config["formatters"]
    formatters["default"]["fmt"] = "%(levelprefix)s [%(request_id)s] %(name)s: %(message)s"
    formatters["access"]["fmt"] = (
        '%(levelprefix)s [%(request_id)s] %(client_addr)s - "%(request_line)s" %(status_code)s'
    )
    config["loggers"]["dam"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


@app.command()
def worker() -> None:
    """Run background jobs (renditions, index, webhooks, sweeps) until interrupted."""
    ctx = command_context(creates=True)
    ctx.governance.load()  # refuse a broken pack now, like `dam serve`, not at the first job
    _clean_temp_files(ctx)
    thread = WorkerThread(ctx)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    thread.start()
    typer.echo("worker running", err=True)
    while not stop and thread.is_alive():
        time.sleep(0.5)
    thread.stop()


def _clean_temp_files(ctx: Context) -> None:
    stale = remove_stale_temp_files(
        ctx.settings.data_dir, ctx.store, grace_seconds=ctx.settings.stale_temp_minutes * 60
    )
    if stale:
        size = sum(t.size for t in stale)
        typer.echo(f"removed {len(stale)} temp files left by a crash ({size} bytes)", err=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    command_context(creates=True)
    typer.echo("database is up to date", err=True)


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="Role of the key.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    expires: Annotated[
        datetime | None, typer.Option(help="Expiry (ISO 8601, UTC assumed without zone).")
    ] = None,
    campaign: Annotated[
        list[str] | None, typer.Option(help="Automation keys: restrict to this campaign id.")
    ] = None,
) -> None:
    """Create a key and print it alone on stdout (it is not shown again)."""
    ctx = command_context()
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    if expires is not None:
        try:
            expires = TypeAdapter(SafeDatetime).validate_python(expires)
        except ValidationError as exc:
            raise CommandFailed(f"--expires: {exc.errors()[0]['msg']}") from None
    with session_scope(ctx.engine) as session:
        _, plaintext = auth_service.create_key(
            session,
            role=role,
            name=name,
            actor=SYSTEM,
            now=ctx.now(),
            expires_at=expires,
            campaign_scope=[normalize_campaign_id(c) for c in campaign] if campaign else None,
        )
    typer.echo(plaintext)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    ctx = command_context()
    with session_scope(ctx.engine) as session:
        for key in auth_service.list_keys(session):
            state = "revoked" if key.revoked_at else "active"
            if key.expires_at and key.expires_at <= ctx.now() and not key.revoked_at:
                state = "expired"
            typer.echo(f"{key.id}  {key.prefix}…  {key.role.value:<13} {state:<8} {key.name}")


@keys_app.command("revoke")
def keys_revoke(
    ident: Annotated[str, typer.Argument(help="Key id or its displayed prefix.")],
) -> None:
    """Revoke a key at once."""
    ctx = command_context()
    with session_scope(ctx.engine) as session:
        key = auth_service.find_key(session, ident)
        auth_service.revoke_key(session, key=key, actor=SYSTEM, now=ctx.now())
        typer.echo(f"revoked {key.id} ({key.name})", err=True)


@storage_app.command("init")
def storage_init() -> None:
    """Create the bucket and set up what the endpoint supports (S3: versioning, a lifecycle rule
    aborting stale multipart uploads, CORS); fails only when the bucket cannot be used."""
    # Only the store: no database, no governance pack, nothing created in the working directory.
    report = get_blob_store(get_settings()).init()
    for line in report.lines():
        typer.echo(line)
    if not report.usable:
        typer.echo(f"error: {report.problem}", err=True)
        raise typer.Exit(1)


@storage_app.command("check")
def storage_check(
    deep: Annotated[bool, typer.Option(help="Re-hash every blob and compare its SHA-256.")] = False,
    repair: Annotated[bool, typer.Option(help="Remove orphan blobs and renditions.")] = False,
    grace_minutes: Annotated[
        int, typer.Option(help="Leave orphans younger than this alone (uploads in flight).")
    ] = 60,
) -> None:
    """Verify every version's blob exists (and with --deep, its hash); list and repair orphans;
    list partial resumable uploads and remove expired ones."""
    ctx = command_context()
    capabilities = ctx.store.capabilities()
    for line in capabilities.lines():
        typer.echo(line)
    if not capabilities.usable:
        typer.echo(f"error: {capabilities.problem}", err=True)
        raise typer.Exit(1)
    with session_scope(ctx.engine) as session:
        expected = {
            key: sha
            for key, sha in session.exec(select(AssetVersion.blob_key, AssetVersion.sha256))
        }
    with progress("hashing blobs" if deep else "checking blobs") as report_progress:
        report = check_blobs(
            ctx.store,
            expected,
            deep=deep,
            repair=repair,
            grace_seconds=grace_minutes * 60,
            on_progress=report_progress,
        )
    for line in report.lines():
        typer.echo(line)
    temps = check_temp_files(
        ctx.settings.data_dir, ctx.store, repair=repair, grace_seconds=grace_minutes * 60
    )
    for line in temps.lines():
        typer.echo(line)
    # Resumable uploads: in progress (listed), expired (removed by --repair, as the worker's
    # sweep does), bytes missing from disk (lost), part files without an upload (orphans).
    uploads = check_uploads(ctx, repair=repair, grace_seconds=grace_minutes * 60)
    for line in uploads.lines():
        typer.echo(line)
    if not (report.ok and temps.ok and uploads.ok):
        raise typer.Exit(1)


renditions_app = typer.Typer(
    help="Thumbnails, previews, page thumbnails, clips.", no_args_is_help=True
)
app.add_typer(renditions_app, name="renditions")


@renditions_app.command("rebuild")
def renditions_rebuild(
    kind: Annotated[
        list[str] | None,
        typer.Option(
            help="Only versions of this kind (image, vector, document, video); repeatable."
        ),
    ] = None,
    missing: Annotated[
        bool, typer.Option(help="Only renditions not made yet or left as failure placeholders.")
    ] = False,
) -> None:
    """Draw renditions again, in the worker's sandbox; exit 1 if any version failed."""
    ctx = command_context()
    with progress("renditions") as report_progress:
        try:
            report = rebuild_renditions(
                ctx, kinds=kind or None, missing_only=missing, on_progress=report_progress
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--kind") from None
    typer.echo(
        f"{report.versions} versions, {report.rendered} redrawn, {report.renditions} renditions, "
        f"{len(report.failed)} failed"
    )
    for version_id, reason in report.failed:
        typer.echo(f"FAILED  {version_id}: {reason}", err=True)
    if report.failed:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
