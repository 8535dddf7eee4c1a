"""Zip downloads of a collection or a selection: what each reader gets inside (originals for
uploaders, delivered copies of the published version for marketers, GPS stripped and credits
written, as `GET /content` gives them), the manifest, names, and refusals."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dam.collections import zips
from dam.storage.fs import FsBlobStore
from tests.collections.support import draft, make_collection, published
from tests.workflow.support import drive_to

AGENCY = Path(__file__).parent.parent / "media" / "corpus" / "agency-photo.jpg"
TERMS = {"asset_type": ["photo"], "usage_rights": ["licensed"], "brand": ["halden"]}


def _agency_photo(client: TestClient, designer: dict[str, str], reviewer: dict[str, str]) -> str:
    created = client.post(
        "/api/v1/assets",
        headers=designer,
        files={"file": ("DSC_4711.jpg", AGENCY.read_bytes(), "image/jpeg")},
        data={"metadata": json.dumps({"terms": TERMS, "title": "Fjord runner"})},
    )
    assert created.status_code == 201, created.text
    asset_id = str(created.json()["id"])
    drive_to(client, asset_id, "approved", designer=designer, reviewer=reviewer)
    return asset_id


def _manifest(archive: zipfile.ZipFile) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8"))))


def _tags(data: bytes, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / f"{uuid.uuid4().hex}.jpg"
    path.write_bytes(data)
    out = subprocess.run(
        ["exiftool", "-j", "-G1", "-n", str(path)], capture_output=True, check=True, text=True
    )
    tags: dict[str, Any] = json.loads(out.stdout)[0]
    return tags


def test_marketer_zip_holds_delivered_published_copies_and_a_manifest(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    tmp_path: Path,
) -> None:
    photo = _agency_photo(client, designer, brand_manager)
    hidden = draft(client, designer, seed=5, title="Not yet approved")
    made = make_collection(
        client,
        designer,
        "Fjord / press pack",
        asset_ids=[hidden, photo],
        shared_with=[{"role": "marketer"}],
    )
    response = client.get(f"/api/v1/collections/{made['id']}/zip", headers=marketer)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert 'filename="Fjord press pack.zip"' in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    assert archive.namelist() == ["manifest.csv", "DSC_4711.jpg"]
    # The same bytes as a marketer's single download: the delivered copy.
    single = client.get(f"/api/v1/assets/{photo}/content", headers=marketer)
    inside = archive.read("DSC_4711.jpg")
    assert inside == single.content
    assert inside != AGENCY.read_bytes()
    tags = _tags(inside, tmp_path)
    assert not [k for k in tags if "GPS" in k]
    assert tags["XMP-dc:Rights"] == "© 2026 Nordlys Agency AS"
    (row,) = _manifest(archive)
    assert row["file"] == "DSC_4711.jpg"
    assert row["asset_id"] == photo
    assert row["version"] == "1"
    assert row["title"] == "Fjord runner"
    assert row["sha256"] == hashlib.sha256(inside).hexdigest()
    assert row["size"] == str(len(inside))
    assert row["original_sha256"] == hashlib.sha256(AGENCY.read_bytes()).hexdigest()
    assert row["copyright"] == "© 2026 Nordlys Agency AS"
    assert row["rights_expire_at"] == "2027-07-01T00:00:00+00:00"
    assert row["included"] == "yes"


@pytest.mark.parametrize("storage_backend", ["fs", "s3"], indirect=True)
def test_designer_zip_holds_originals_of_every_asset_in_order(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str]
) -> None:
    photo = _agency_photo(client, designer, brand_manager)
    second = draft(client, designer, seed=5)
    made = make_collection(client, designer, asset_ids=[second, photo])
    response = client.get(f"/api/v1/collections/{made['id']}/zip", headers=designer)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    # Two uploads named hero.jpg and DSC_4711.jpg; in the collection's order.
    assert archive.namelist() == ["manifest.csv", "hero.jpg", "DSC_4711.jpg"]
    assert archive.read("DSC_4711.jpg") == AGENCY.read_bytes()
    assert [r["asset_id"] for r in _manifest(archive)] == [second, photo]
    # Every member is written with ZIP64 sizes and a data descriptor (a streamed zip).
    for info in archive.infolist():
        assert info.flag_bits & 0x08
        assert info.extract_version >= 45


def test_selection_zip_names_clashing_files_apart_and_refuses_unseen_assets(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
) -> None:
    a = published(client, designer, brand_manager, seed=1)
    b = published(client, designer, brand_manager, seed=2)
    hidden = draft(client, designer, seed=3)
    response = client.post(
        "/api/v1/zip", headers=marketer, json={"asset_ids": [a, b], "name": "picks"}
    )
    assert response.status_code == 200, response.text
    assert "picks.zip" in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == ["manifest.csv", "hero.jpg", "hero (2).jpg"]
    refused = client.post("/api/v1/zip", headers=marketer, json={"asset_ids": [a, hidden]})
    assert refused.status_code == 404
    assert refused.json() == {
        "error": "asset_not_found",
        "detail": f"no asset {hidden}",
        "asset_id": hidden,
        "request_id": refused.json()["request_id"],
    }
    empty = client.post("/api/v1/zip", headers=marketer, json={"asset_ids": []})
    assert empty.status_code == 422


def test_stream_writes_a_valid_zip64_without_seeking(tmp_path: Path) -> None:
    """The streamer straight: many pieces, none larger than a store chunk plus the flush
    threshold, and an archive the standard library and Info-ZIP read back."""
    from datetime import UTC, datetime

    store = FsBlobStore(tmp_path / "blobs")
    payloads = {f"k/{i}": bytes([i]) * (3 * 1024 * 1024 + i) for i in range(3)}
    for key, data in payloads.items():
        store.put_bytes(key, data, content_type="application/octet-stream")
    plan = zips.ZipPlan(
        members=[
            zips.Member(
                name=f"file-{i}.bin",
                blob_key=key,
                mime_type="application/octet-stream",
                modified=datetime(2026, 1, 2, tzinfo=UTC),
            )
            for i, key in enumerate(payloads)
        ],
        manifest=b"file\r\n",
        omitted=0,
    )
    pieces = list(zips.stream(store, plan, now=datetime(2026, 1, 2, tzinfo=UTC)))
    assert len(pieces) >= 9  # about one per MiB read
    assert max(len(p) for p in pieces) <= 1024 * 1024 + 256 * 1024 + 4096
    path = tmp_path / "out.zip"
    path.write_bytes(b"".join(pieces))
    with zipfile.ZipFile(path) as archive:
        for i, data in enumerate(payloads.values()):
            assert archive.read(f"file-{i}.bin") == data
    tested = subprocess.run(["unzip", "-tq", str(path)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
