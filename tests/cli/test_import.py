"""`dam import FOLDER --manifest CSV` on the local database: dry run verdicts, bad rows by line,
embedded pre-fill for empty cells, resume by content hash, results CSV, --submit."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest
from sqlmodel import Session, select

from dam.config import get_settings
from dam.context import build_context
from dam.models import Asset, AssetVersion, ReviewState
from tests.cli.conftest import CliEnv
from tests.factories import image_bytes

HEADER = "filename,title,description,tags,asset_type,usage_rights,campaign_ids,rights_expire_at"
DESCRIPTION = "Lifestyle photo of a hiker on a granite ridge, for the spring campaign."


def _shoot(folder: Path, count: int = 3) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for n in range(1, count + 1):
        name = f"IMG_{n:04d}.jpg"
        (folder / name).write_bytes(image_bytes(seed=100 + n))
        names.append(name)
    return names


def _manifest(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _results(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _assets(cli_env: CliEnv) -> list[tuple[Asset, AssetVersion]]:
    get_settings.cache_clear()
    ctx = build_context(get_settings())
    with Session(ctx.engine) as session:
        rows = session.exec(
            select(Asset, AssetVersion).where(
                AssetVersion.asset_id == Asset.id, AssetVersion.number == Asset.current_version
            )
        )
        return [(a, v) for a, v in rows]


@pytest.fixture
def shoot(cli_env: CliEnv, tmp_path: Path) -> Path:
    assert cli_env.invoke("db", "upgrade").code == 0
    folder = tmp_path / "shoot"
    _shoot(folder)
    return folder


def test_dry_run_reports_each_row_and_stores_nothing(
    cli_env: CliEnv, shoot: Path, tmp_path: Path
) -> None:
    (shoot / "stray.jpg").write_bytes(image_bytes(seed=140))
    (shoot / "tiny.jpg").write_bytes(image_bytes(size=(200, 150), seed=141))
    (shoot / "camp.jpg").write_bytes(image_bytes(seed=142))
    manifest = _manifest(
        tmp_path / "shoot.csv",
        [
            f'IMG_0001.jpg,Ridge hiker,"{DESCRIPTION}",spring;hiking,photo,owned,,',
            f'IMG_0002.jpg,Jacket,"{DESCRIPTION}",,potato,owned,,',
            f'missing.jpg,Gone,"{DESCRIPTION}",,photo,owned,,',
            f'IMG_0001.jpg,Again,"{DESCRIPTION}",,photo,owned,,',
            f'tiny.jpg,Tiny,"{DESCRIPTION}",,photo,owned,,',
            f'IMG_0003.jpg,Dated,"{DESCRIPTION}",,photo,owned,,not-a-date',
            f'../outside.jpg,Out,"{DESCRIPTION}",,photo,owned,,',
            f'camp.jpg,Campaign,"{DESCRIPTION}",,photo,owned,NOPE-1,',
        ],
    )
    result = cli_env.invoke("import", str(shoot), "--manifest", str(manifest), "--dry-run")
    assert result.code == 1, result.output
    out = result.stdout
    assert "line 2     IMG_0001.jpg  PASS" in out or "line 2     IMG_0001.jpg  WARN" in out
    assert "line 3     IMG_0002.jpg  ERROR" in out
    assert "unknown term 'potato' in facet 'asset_type'" in out
    assert "line 4     missing.jpg  ERROR" in out
    assert "no file 'missing.jpg' in" in out
    assert "duplicate filename: also on line 2" in out
    assert "line 6     tiny.jpg  FAIL" in out
    assert "block photo-min-size" in out
    assert "rights_expire_at" in out  # the bad date, named
    assert "'../outside.jpg' is not inside the folder" in out
    assert "unknown campaign ids: NOPE-1" in out
    assert "file       stray.jpg  NOT IN THE MANIFEST" in out
    assert "8 rows:" in out and "nothing stored (dry run)" in out
    assert _assets(cli_env) == []
    assert not (tmp_path / "shoot.results.csv").exists()


def test_unknown_columns_refuse_the_manifest_naming_them(
    cli_env: CliEnv, shoot: Path, tmp_path: Path
) -> None:
    manifest = _manifest(tmp_path / "m.csv", ["IMG_0001.jpg,x,y"], header="filename,titel,colour")
    result = cli_env.invoke("import", str(shoot), "--manifest", str(manifest), "--dry-run")
    assert result.code == 1
    assert "unknown columns: titel, colour" in result.stderr
    no_filename = _manifest(tmp_path / "n.csv", ["x"], header="title")
    result = cli_env.invoke("import", str(shoot), "--manifest", str(no_filename))
    assert "no 'filename' column" in result.stderr


def test_import_stores_rows_writes_results_and_resumes_without_duplicates(
    cli_env: CliEnv, shoot: Path, tmp_path: Path
) -> None:
    manifest = _manifest(
        tmp_path / "shoot.csv",
        [
            f'IMG_0001.jpg,Ridge hiker,"{DESCRIPTION}",spring;hiking,photo,owned,,2027-06-30',
            f'IMG_0002.jpg,Jacket,"{DESCRIPTION}",,photo,owned,,',
            f'IMG_0003.jpg,Bad,"{DESCRIPTION}",,potato,owned,,',
        ],
    )
    before = {p.name: p.read_bytes() for p in shoot.iterdir()}
    first = cli_env.invoke("import", str(shoot), "--manifest", str(manifest))
    assert first.code == 1  # one row refused
    # The shoot's files are read in place, never moved into the blob store or removed.
    assert {p.name: p.read_bytes() for p in shoot.iterdir()} == before
    results = _results(tmp_path / "shoot.results.csv")
    assert [(r["filename"], r["status"]) for r in results] == [
        ("IMG_0001.jpg", "created"),
        ("IMG_0002.jpg", "created"),
        ("IMG_0003.jpg", "refused"),
    ]
    assert results[2]["error"] == "invalid_terms"
    assert "potato" in results[2]["detail"]
    stored = {a.title: (a, v) for a, v in _assets(cli_env)}
    assert set(stored) == {"Ridge hiker", "Jacket"}
    hiker, version = stored["Ridge hiker"]
    assert hiker.tags == ["spring", "hiking"]
    assert hiker.rights_expire_at is not None and hiker.rights_expire_at.isoformat().startswith(
        "2027-06-30T00:00:00"
    )
    assert results[0]["asset_id"] == str(hiker.id)
    assert results[0]["sha256"] == version.sha256

    # Fix the bad row and run again: the two stored files are found by hash, not re-created.
    _manifest(
        manifest,
        [
            f'IMG_0001.jpg,Ridge hiker,"{DESCRIPTION}",spring;hiking,photo,owned,,2027-06-30',
            f'IMG_0002.jpg,Jacket,"{DESCRIPTION}",,photo,owned,,',
            f'IMG_0003.jpg,Fixed,"{DESCRIPTION}",,photo,owned,,',
        ],
    )
    second = cli_env.invoke("import", str(shoot), "--manifest", str(manifest), "--submit")
    assert second.code == 0, second.output
    results = _results(tmp_path / "shoot.results.csv")
    assert [r["status"] for r in results] == ["exists", "exists", "created"]
    assert results[0]["asset_id"] == str(hiker.id)
    assert [r["submit"] for r in results] == ["submitted"] * 3
    assert len(_assets(cli_env)) == 3
    assert {v.review_state for _, v in _assets(cli_env)} == {ReviewState.in_review}
    assert "3 rows: 1 created, 2 exists, 0 refused, 0 skipped" in second.stdout


def test_empty_cells_are_prefilled_from_embedded_metadata(
    cli_env: CliEnv, shoot: Path, tmp_path: Path
) -> None:
    photo = shoot / "IMG_0001.jpg"
    subprocess.run(
        [
            "exiftool",
            "-q",
            "-overwrite_original",
            f"-XMP-dc:Description={DESCRIPTION}",
            "-XMP-dc:Title=Granite ridge at dawn",
            "-XMP-dc:Creator=Ana Lind",
            str(photo),
        ],
        check=True,
    )
    manifest = _manifest(
        tmp_path / "shoot.csv",
        ["IMG_0001.jpg,,,,photo,owned,,"],
    )
    dry = cli_env.invoke("import", str(shoot), "--manifest", str(manifest), "--dry-run")
    assert "pre-filled from the file: creator, description, title" in dry.stdout
    result = cli_env.invoke("import", str(shoot), "--manifest", str(manifest))
    assert result.code == 0, result.output
    ((asset, _),) = _assets(cli_env)
    assert asset.title == "Granite ridge at dawn"
    assert asset.description == DESCRIPTION
    assert asset.extra["creator"] == ["Ana Lind"] or asset.extra["creator"] == "Ana Lind"
