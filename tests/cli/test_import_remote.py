"""`dam import --url --key` against a real server (uvicorn on 127.0.0.1): files go as tus
uploads in chunks, a partial upload left by an interrupted run is resumed from the server's
offset, and files already stored are found by hash."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from dam.app import create_app
from dam.cli import app as cli
from dam.context import Context
from dam.models import ResumableUpload, Role, UploadState
from tests.conftest import Keys, count_rows
from tests.factories import image_bytes
from tests.support.live import serve
from tests.support.tus import create, patch

DESCRIPTION = "Lifestyle photo of a hiker on a granite ridge, for the spring campaign."
HEADER = "filename,title,description,asset_type,usage_rights"


@pytest.fixture
def db_backend() -> str:
    return "sqlite"


@pytest.fixture
def base_url(ctx: Context) -> Iterator[str]:
    with serve(create_app(ctx=ctx, run_worker=False)) as (host, port):
        yield f"http://{host}:{port}"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout + result.stderr


def _results(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_remote_import_in_chunks_resumes_a_partial_upload_and_skips_stored_files(
    base_url: str, keys: Keys, ctx: Context, tmp_path: Path
) -> None:
    folder = tmp_path / "shoot"
    folder.mkdir()
    # A JPEG with 2.5 MiB of noise after it: three 1 MiB chunks.
    big = image_bytes(seed=201) + os.urandom(5 * 512 * 1024)
    (folder / "big.jpg").write_bytes(big)
    (folder / "small.jpg").write_bytes(image_bytes(seed=202))
    (folder / "tiny.jpg").write_bytes(image_bytes(size=(200, 150), seed=203))
    manifest = tmp_path / "shoot.csv"
    manifest.write_text(
        "\n".join(
            [
                HEADER,
                f'big.jpg,Big,"{DESCRIPTION}",photo,owned',
                f'small.jpg,Small,"{DESCRIPTION}",photo,owned',
                f'tiny.jpg,Tiny,"{DESCRIPTION}",photo,owned',
            ]
        )
    )
    key = keys.create(Role.designer)
    headers = {"Authorization": f"Bearer {key}"}

    # An earlier run was cut off in the middle of big.jpg: its upload holds the first MiB.
    sha = hashlib.sha256(big).hexdigest()
    with httpx.Client(base_url=base_url) as client:
        metadata = {"title": "Big", "description": DESCRIPTION}
        metadata["terms"] = {"asset_type": ["photo"], "usage_rights": ["owned"]}  # type: ignore[assignment]
        started = create(client, headers, len(big), filename="big.jpg", metadata=metadata)
        location = started.headers["location"]
        assert patch(client, headers, location, 0, big[: 1024 * 1024]).status_code == 204
    state = tmp_path / "shoot.results.csv.uploads.json"
    state.write_text(json.dumps({sha: location}))

    dry_code, dry = _run(
        "import",
        str(folder),
        "--manifest",
        str(manifest),
        "--url",
        base_url,
        "--key",
        key,
        "--dry-run",
    )
    assert dry_code == 1
    assert "line 4     tiny.jpg  FAIL" in dry
    assert count_rows(ctx.engine, "assets") == 0

    code, out = _run(
        "import",
        str(folder),
        "--manifest",
        str(manifest),
        "--url",
        base_url,
        "--key",
        key,
        "--chunk-mib",
        "1",
        "--submit",
    )
    assert code == 1, out  # tiny.jpg is refused
    results = _results(tmp_path / "shoot.results.csv")
    assert [(r["filename"], r["status"]) for r in results] == [
        ("big.jpg", "created"),
        ("small.jpg", "created"),
        ("tiny.jpg", "refused"),
    ]
    assert results[2]["error"] == "policy_violation"
    assert "photo-min-size" in results[2]["detail"]
    assert results[0]["submit"] == "submitted"
    # big.jpg finished the interrupted upload instead of starting another.
    with Session(ctx.engine) as session:
        resumed = session.get(ResumableUpload, uuid.UUID(location.rsplit("/", 1)[1]))
        assert resumed is not None
        assert resumed.state == UploadState.completed
        assert str(resumed.asset_id) == results[0]["asset_id"]
    assert count_rows(ctx.engine, "resumable_uploads") == 3
    assert json.loads(state.read_text()) == {}
    with httpx.Client(base_url=base_url, headers=headers) as client:
        got = client.get(f"/api/v1/assets/{results[0]['asset_id']}/content")
        assert got.content == big

    again_code, again = _run(
        "import", str(folder), "--manifest", str(manifest), "--url", base_url, "--key", key,
        "--chunk-mib", "1",
    )  # fmt: skip
    assert again_code == 1  # tiny.jpg is still refused
    assert "3 rows: 0 created, 2 exists, 1 refused, 0 skipped" in again
    assert [r["status"] for r in _results(tmp_path / "shoot.results.csv")] == [
        "exists",
        "exists",
        "refused",
    ]
    assert count_rows(ctx.engine, "assets") == 2
    # big.jpg (over one chunk) was found by its hash before sending; the small ones were sent
    # and refused as duplicates (or again by the rules), each in an upload of its own.
    assert count_rows(ctx.engine, "resumable_uploads") == 5


def test_remote_import_needs_a_key_and_a_reachable_server(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    manifest = tmp_path / "m.csv"
    manifest.write_text("filename\n")
    code, out = _run("import", str(folder), "--manifest", str(manifest), "--url", "http://x")
    assert code == 1 and "--url needs --key" in out
    code, out = _run(
        "import",
        str(folder),
        "--manifest",
        str(manifest),
        "--url",
        "http://127.0.0.1:9",
        "--key",
        "k",
    )
    assert code == 1 and "cannot reach http://127.0.0.1:9" in out
