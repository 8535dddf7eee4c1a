"""`dam import FOLDER --manifest shoot.csv [--dry-run] [--submit] [--url URL --key KEY]`.

The manifest format is in `dam.cli.manifest`. Two targets, one behaviour:

- local (default): the service code itself on the configured database and store
  (`assets.service.create_asset`, `governance` for the dry run, `workflow.submit`);
- remote (`--url`, `--key`): the same through the API of a running server, files sent as
  resumable (tus) uploads in chunks, so a dropped connection resumes where it stopped.

A run resumes without duplicating: each file's SHA-256 is looked up first and a file already
stored is reported as `exists` with its asset; a remote upload cut short is resumed from the
offset the server holds (its URL is kept beside the results CSV until it finishes).
"""

from __future__ import annotations

import csv
import hashlib
import json
import mimetypes
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import httpx
import typer

from dam.assets import resumable, service
from dam.assets.schemas import AssetMetadataIn
from dam.assets.upload import ReceivedUpload
from dam.cli.contexts import command_context
from dam.cli.errors import CommandFailed
from dam.cli.manifest import Manifest, ManifestInvalid, Row, read_manifest
from dam.cli.progress import progress
from dam.context import Context
from dam.db import session_scope
from dam.errors import DamError
from dam.models import Asset, ReviewState, Role
from dam.principal import Principal
from dam.workflow import service as workflow

# Who a local import acts as in the audit trail (a remote one acts as its key).
IMPORTER = Principal(id=uuid.UUID(int=0), name="dam import", role=Role.admin, kind="system")
T = TypeVar("T")
RESULT_COLUMNS = ("line", "filename", "status", "asset_id", "sha256", "error", "detail", "submit")


class Refused(Exception):
    """The target refused a file or an action: the API's error code and detail."""

    def __init__(self, code: str, detail: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra or {}

    @classmethod
    def of(cls, exc: DamError) -> Refused:
        return cls(exc.code, str(exc.detail), exc.extra)

    @classmethod
    def from_body(cls, body: dict[str, Any], status: int) -> Refused:
        extra = {k: v for k, v in body.items() if k not in ("error", "detail")}
        return cls(str(body.get("error", f"http_{status}")), str(body.get("detail", "")), extra)

    def problems(self) -> list[str]:
        """Every problem it names: violations, term problems, or the detail alone."""
        lines = [
            f"{v.get('severity', 'block')} {v.get('rule')}: {v.get('message')}"
            for v in self.extra.get("violations", [])
        ]
        lines += [str(p.get("message")) for p in self.extra.get("problems", [])]
        return lines or [self.detail]


@dataclass
class Verdict:
    status: str  # pass | warn | fail | error
    problems: list[str] = field(default_factory=list)
    duplicate_of: str | None = None
    prefilled: list[str] = field(default_factory=list)


class Target(Protocol):
    def facets(self) -> set[str]: ...
    def validate(self, row: Row, sha256: str) -> Verdict: ...
    def existing(self, sha256: str, size: int) -> str | None: ...
    def create(self, row: Row, sha256: str) -> str: ...
    def submit(self, asset_id: str) -> str: ...


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _verdict(compliance: dict[str, Any], duplicate_of: str | None, prefilled: Any) -> Verdict:
    return Verdict(
        status=str(compliance.get("status", "pass")),
        problems=[
            f"{v.get('severity')} {v.get('rule')}: {v.get('message')}"
            for v in compliance.get("violations", [])
        ],
        duplicate_of=duplicate_of,
        prefilled=sorted(prefilled or {}),
    )


# --- local: the service code on this machine's database --------------------------------------


class LocalTarget:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def facets(self) -> set[str]:
        return {f.id for f in self.ctx.governance.pack.facets}

    def _upload(self, row: Row, sha256: str) -> ReceivedUpload:
        # The file itself, read in place: not the upload's to move or remove (`owned=False`).
        assert row.path is not None
        return ReceivedUpload(
            path=row.path,
            sha256=sha256,
            size=row.path.stat().st_size,
            filename=row.path.name,
            declared_type=None,
            fields={"metadata": json.dumps(row.metadata)},
            owned=False,
        )

    def validate(self, row: Row, sha256: str) -> Verdict:
        upload = self._upload(row, sha256)
        try:
            with session_scope(self.ctx.engine) as session:
                resumable.check_metadata(session, self.ctx, upload.fields["metadata"])
                out = service.preview_compliance(
                    session, ctx=self.ctx, upload=upload, principal=IMPORTER
                )
        except DamError as exc:
            return Verdict(status="error", problems=Refused.of(exc).problems())
        return _verdict(out.compliance, out.duplicate_of, out.prefilled)

    def existing(self, sha256: str, size: int) -> str | None:
        with session_scope(self.ctx.engine) as session:
            found = service.find_by_sha256(session, sha256)
            return str(found.asset_id) if found is not None else None

    def create(self, row: Row, sha256: str) -> str:
        try:
            with session_scope(self.ctx.engine) as session:
                asset = service.create_asset(
                    session,
                    ctx=self.ctx,
                    upload=self._upload(row, sha256),
                    metadata=AssetMetadataIn.model_validate(row.metadata),
                    actor=IMPORTER,
                )
                return str(asset.id)
        except DamError as exc:
            raise Refused.of(exc) from None

    def submit(self, asset_id: str) -> str:
        try:
            with session_scope(self.ctx.engine) as session:
                asset = session.get(Asset, uuid.UUID(asset_id))
                assert asset is not None
                current = service.get_version(session, asset, asset.current_version)
                if current.review_state != ReviewState.draft:
                    return current.review_state.value
                workflow.submit(session, ctx=self.ctx, asset=asset, actor=IMPORTER)
        except DamError as exc:
            raise Refused.of(exc) from None
        return "submitted"


# --- remote: a running server's API -----------------------------------------------------------


class RemoteTarget:
    """The API of a server at `url`, as the key's principal. Files go as tus uploads in
    `chunk` bytes; a PATCH that fails on the network is resumed from the server's offset."""

    RETRIES = 5

    def __init__(self, url: str, key: str, *, chunk: int, state: Path) -> None:
        self.client = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(60.0, connect=10.0),
        )
        self.chunk = chunk
        self.state_path = state
        self.state: dict[str, str] = json.loads(state.read_text()) if state.is_file() else {}
        self._campaigns: dict[str, bool] = {}
        self._lock = threading.Lock()  # rows run in threads: the state file is shared

    def close(self) -> None:
        self.client.close()

    def _json(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"error": f"http_{response.status_code}", "detail": response.text[:200]}
            raise Refused.from_body(body, response.status_code)
        return response.json()

    def facets(self) -> set[str]:
        try:
            taxonomy = self._json(self.client.get("/api/v1/taxonomy"))
        except httpx.HTTPError as exc:
            raise CommandFailed(f"cannot reach {self.client.base_url}: {exc}") from None
        except Refused as exc:
            raise CommandFailed(f"{self.client.base_url} refused: {exc.detail}") from None
        return {f["id"] for f in taxonomy["facets"]}

    def _unknown_campaigns(self, row: Row) -> list[str]:
        unknown = []
        for cid in row.metadata.get("campaign_ids", []):
            key = cid.strip().upper()
            if key not in self._campaigns:
                found = self.client.get(f"/api/v1/campaigns/{key}")
                self._campaigns[key] = found.status_code == 200
            if not self._campaigns[key]:
                unknown.append(key)
        return unknown

    def validate(self, row: Row, sha256: str) -> Verdict:
        assert row.path is not None
        unknown = self._unknown_campaigns(row)
        with row.path.open("rb") as f:
            response = self.client.post(
                "/api/v1/governance/validate",
                files={"file": (row.path.name, f, _mime(row.path))},
                data={"metadata": json.dumps(row.metadata)},
            )
        try:
            out = self._json(response)
        except Refused as exc:
            return Verdict(status="error", problems=exc.problems())
        verdict = _verdict(out["compliance"], out.get("duplicate_of"), out.get("prefilled"))
        if unknown:
            verdict.status = "error"
            verdict.problems.insert(0, f"unknown campaign ids: {', '.join(unknown)}")
        return verdict

    def existing(self, sha256: str, size: int) -> str | None:
        # A file up to one chunk is sent in one request anyway, and a stored one is refused as
        # a duplicate naming its asset: asking first would only add a round trip.
        if size <= self.chunk:
            return None
        page = self._json(self.client.get("/api/v1/assets", params={"sha256": sha256}))
        return str(page["items"][0]["id"]) if page["items"] else None

    def _remember(self, sha256: str, location: str | None) -> None:
        with self._lock:
            if location is None:
                self.state.pop(sha256, None)
            else:
                self.state[sha256] = location
            self.state_path.write_text(json.dumps(self.state, indent=1))

    def _start(self, row: Row, sha256: str, size: int) -> str:
        assert row.path is not None
        location = self.state.get(sha256)
        if location is not None:
            probe = self.client.head(location, headers=resumable_headers())
            if probe.status_code == 200:
                return location
        values = {
            "filename": row.path.name,
            "filetype": _mime(row.path),
            "metadata": json.dumps(row.metadata),
        }
        created = self.client.post(
            "/api/v1/uploads",
            headers={
                **resumable_headers(),
                "Upload-Length": str(size),
                "Upload-Metadata": resumable.encode_upload_metadata(values),
            },
        )
        self._json(created)
        location = str(created.headers["location"])
        self._remember(sha256, location)
        return location

    def create(self, row: Row, sha256: str) -> str:
        assert row.path is not None
        size = row.path.stat().st_size
        location = self._start(row, sha256, size)
        answer = self._send(location, row.path, size)
        self._remember(sha256, None)
        if "dam-asset-id" in answer.headers:
            return str(answer.headers["dam-asset-id"])
        error = json.loads(answer.headers.get("dam-upload-error", "{}"))
        raise Refused.from_body(error, int(error.get("status", 422)))

    def _offset(self, location: str) -> httpx.Response:
        head = self.client.head(location, headers=resumable_headers())
        if head.status_code != 200:
            raise Refused(
                "upload_lost" if head.status_code in (404, 410) else f"http_{head.status_code}",
                f"the server no longer has the upload ({head.status_code}); run again",
            )
        return head

    def _send(self, location: str, path: Path, size: int) -> httpx.Response:
        failures = 0
        with path.open("rb") as f:
            while True:
                head = self._offset(location)
                if "dam-asset-id" in head.headers or "dam-upload-error" in head.headers:
                    return head
                offset = int(head.headers["upload-offset"])
                f.seek(offset)
                try:
                    while offset < size:
                        data = f.read(self.chunk)
                        answer = self.client.patch(
                            location,
                            headers={
                                **resumable_headers(),
                                "Upload-Offset": str(offset),
                                "Content-Type": "application/offset+octet-stream",
                            },
                            content=data,
                        )
                        if answer.status_code in (409, 423):
                            break  # out of step or held: ask for the offset again
                        if answer.status_code >= 400:
                            self._json(answer)  # raises the refusal
                        offset = int(answer.headers["upload-offset"])
                        if offset == size:
                            return answer
                    else:
                        return self._offset(location)
                except httpx.TransportError:
                    failures += 1
                    if failures > self.RETRIES:
                        raise
                    time.sleep(min(2**failures, 30))

    def submit(self, asset_id: str) -> str:
        asset = self._json(self.client.get(f"/api/v1/assets/{asset_id}"))
        state = asset["current_version"]["review_state"]
        if state != ReviewState.draft.value:
            return str(state)
        self._json(self.client.post(f"/api/v1/assets/{asset_id}/submit"))
        return "submitted"


def resumable_headers() -> dict[str, str]:
    return {"Tus-Resumable": resumable.TUS_VERSION}


def _mime(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


# --- the command ------------------------------------------------------------------------------


@contextmanager
def _target(url: str | None, key: str | None, chunk_mib: int, state: Path) -> Iterator[Target]:
    if url is None:
        if key is not None:
            raise CommandFailed("--key goes with --url (a local import needs no key)")
        ctx = command_context()
        ctx.governance.load()
        yield LocalTarget(ctx)
        return
    if not key:
        raise CommandFailed("--url needs --key (an API key of an uploader)", "or set DAM_KEY")
    remote = RemoteTarget(url, key, chunk=chunk_mib * 1024 * 1024, state=state)
    try:
        yield remote
    finally:
        remote.close()


def _read(manifest: Path, folder: Path, target: Target, skip: set[Path]) -> Manifest:
    if not folder.is_dir():
        raise CommandFailed(f"no folder {folder}")
    if not manifest.is_file():
        raise CommandFailed(f"no manifest {manifest}")
    try:
        return read_manifest(manifest, folder, facets=target.facets(), skip=skip)
    except ManifestInvalid as exc:
        raise CommandFailed(f"{manifest}: {exc}") from None


def _echo_row(row: Row, status: str, lines: list[str]) -> None:
    typer.echo(f"line {row.line:<5} {row.filename or '(no filename)'}  {status.upper()}")
    for line in lines:
        typer.echo(f"    {line}")


def _judge(row: Row, target: Target) -> Verdict:
    if not row.ok:
        return Verdict(status="error", problems=row.problems)
    assert row.path is not None
    sha256 = file_sha256(row.path)
    # The validation names a stored file with these bytes (`duplicate_of`) itself.
    return target.validate(row, sha256)


def _each(rows: list[Row], work: Callable[[Row], T], *, jobs: int, label: str) -> list[T]:
    """`work` on every row, `jobs` at a time (inspection, hashing and the parser children run
    in parallel; database writes are short transactions), results in row order."""
    out: list[T | None] = [None] * len(rows)
    with progress(label) as report, ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(work, row): index for index, row in enumerate(rows)}
        report(0, len(rows))
        for done, future in enumerate(as_completed(futures), start=1):
            out[futures[future]] = future.result()
            report(done, len(rows))
    return [item for item in out if item is not None]


def dry_run(manifest: Manifest, target: Target, *, jobs: int = 1) -> bool:
    counts: dict[str, int] = {}
    verdicts = _each(manifest.rows, lambda row: _judge(row, target), jobs=jobs, label="checking")
    for row, verdict in zip(manifest.rows, verdicts, strict=True):
        lines = list(verdict.problems)
        if verdict.prefilled:
            lines.append(f"pre-filled from the file: {', '.join(verdict.prefilled)}")
        if verdict.duplicate_of:
            lines.append(f"already stored as asset {verdict.duplicate_of}: would be skipped")
        _echo_row(row, verdict.status, lines)
        counts[verdict.status] = counts.get(verdict.status, 0) + 1
    for name in manifest.unlisted:
        typer.echo(f"file       {name}  NOT IN THE MANIFEST (not imported)")
    parts = [f"{counts.get(s, 0)} {s}" for s in ("pass", "warn", "fail", "error")]
    typer.echo(
        f"{len(manifest.rows)} rows: {', '.join(parts)}; "
        f"{len(manifest.unlisted)} files not in the manifest; nothing stored (dry run)"
    )
    return not counts.get("fail") and not counts.get("error")


def real_run(
    manifest: Manifest, target: Target, *, submit: bool, results: Path, jobs: int = 1
) -> bool:
    out = _each(
        manifest.rows,
        lambda row: _import_row(row, target, submit=submit),
        jobs=jobs,
        label="importing",
    )
    for name in manifest.unlisted:
        out.append({"filename": name, "status": "unlisted", "detail": "not in the manifest"})
    with results.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        for item in out:
            writer.writerow({k: item.get(k, "") for k in RESULT_COLUMNS})
    counts: dict[str, int] = {}
    for item in out:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
        if item["status"] in ("refused", "skipped") or item.get("submit", "").startswith("error"):
            typer.echo(
                f"line {item.get('line', '-'):<5} {item['filename']}  {item['status'].upper()}: "
                f"{item.get('error', '')} {item.get('detail', '')}".rstrip()
                + (f" (submit: {item['submit']})" if item.get("submit") else "")
            )
    parts = [f"{counts.get(s, 0)} {s}" for s in ("created", "exists", "refused", "skipped")]
    typer.echo(
        f"{len(manifest.rows)} rows: {', '.join(parts)}; {counts.get('unlisted', 0)} files not "
        f"in the manifest; results in {results}"
    )
    return not (counts.get("refused") or counts.get("skipped")) and not any(
        item.get("submit", "").startswith("error") for item in out
    )


def _import_row(row: Row, target: Target, *, submit: bool) -> dict[str, str]:
    item = {"line": str(row.line), "filename": row.filename}
    if not row.ok:
        return {
            **item,
            "status": "skipped",
            "error": "invalid_row",
            "detail": "; ".join(row.problems),
        }
    assert row.path is not None
    sha256 = file_sha256(row.path)
    item["sha256"] = sha256
    try:
        existing = target.existing(sha256, row.path.stat().st_size)
        if existing is not None:
            item.update(status="exists", asset_id=existing)
        else:
            item.update(status="created", asset_id=target.create(row, sha256))
    except Refused as exc:
        if exc.code == "duplicate" and exc.extra.get("existing_asset_id"):
            item.update(status="exists", asset_id=str(exc.extra["existing_asset_id"]))
        else:
            return {
                **item,
                "status": "refused",
                "error": exc.code,
                "detail": "; ".join(exc.problems()),
            }
    if submit:
        try:
            item["submit"] = target.submit(item["asset_id"])
        except Refused as exc:
            item["submit"] = f"error {exc.code}: {exc.detail}"
    return item


def import_command(
    folder: Annotated[Path, typer.Argument(help="The folder holding the files.")],
    manifest: Annotated[Path, typer.Option(help="The CSV with one row per file.")],
    dry_run_: Annotated[
        bool,
        typer.Option("--dry-run", help="Judge every row (compliance, problems) and store nothing."),
    ] = False,
    submit: Annotated[bool, typer.Option(help="Submit each new asset for review.")] = False,
    url: Annotated[
        str | None, typer.Option(help="A remote server's base URL (else the local database).")
    ] = None,
    key: Annotated[
        str | None, typer.Option(envvar="DAM_KEY", help="API key for --url (or DAM_KEY).")
    ] = None,
    results: Annotated[
        Path | None,
        typer.Option(help="Where to write the results CSV (default: <manifest>.results.csv)."),
    ] = None,
    chunk_mib: Annotated[
        int, typer.Option(min=1, max=512, help="Resumable upload chunk size with --url.")
    ] = 8,
    jobs: Annotated[int, typer.Option(min=1, max=32, help="Files handled at once.")] = 4,
) -> None:
    """Import a folder of files with a CSV manifest (see the README for its columns). Exit 1
    when a row has a problem, fails the brand rules or is refused; files of the folder that no
    row names are listed and left alone."""
    results = results or manifest.with_name(f"{manifest.stem}.results.csv")
    state = results.with_name(f"{results.name}.uploads.json")
    skip = {p.resolve() for p in (manifest, results, state)}
    with _target(url, key, chunk_mib, state) as target:
        parsed = _read(manifest, folder, target, skip)
        ok = (
            dry_run(parsed, target, jobs=jobs)
            if dry_run_
            else real_run(parsed, target, submit=submit, results=results, jobs=jobs)
        )
    if not ok:
        raise typer.Exit(1)
