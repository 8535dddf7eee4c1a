"""Embedded metadata through the API: an agency photo (tests/media/corpus/agency-photo.jpg: a
real Nikon file tagged with Debian's exiftool by make-agency-photo.sh) pre-fills its asset,
shows its credits to everyone and its GPS only to uploaders, is judged at its display size,
is found by its photographer's name, and leaves the building without its location."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dam.context import Context
from dam.worker import run_pending
from tests.conftest import count_rows
from tests.workflow.support import drive_to

pytestmark = pytest.mark.usefixtures("db_backend")
AGENCY = Path(__file__).parent.parent / "media" / "corpus" / "agency-photo.jpg"
TERMS = {"asset_type": ["photo"], "usage_rights": ["licensed"], "brand": ["halden"]}


def _upload(client: TestClient, headers: dict[str, str], metadata: dict[str, Any]) -> Any:
    return client.post(
        "/api/v1/assets",
        headers=headers,
        files={"file": ("DSC_4711.jpg", AGENCY.read_bytes(), "image/jpeg")},
        data={"metadata": json.dumps(metadata)},
    )


def test_the_file_fills_what_the_request_leaves_empty(
    client: TestClient, designer: dict[str, str]
) -> None:
    response = _upload(client, designer, {"terms": TERMS, "title": "Fjord runner (hero)"})
    assert response.status_code == 201, response.text
    body = response.json()
    # Explicit metadata wins; the rest comes from the file.
    assert body["title"] == "Fjord runner (hero)"
    assert body["description"] == "A trail runner crosses the ridge above Ålesund at sunrise."
    # plus:LicenseEndDate 2027-06-30: the rights run to the end of that day.
    assert body["rights_expire_at"] == "2027-07-01T00:00:00Z"
    assert body["extra"]["creator"] == "Ingrid Solberg"
    assert body["extra"]["copyright"] == "© 2026 Nordlys Agency AS"
    assert "fjord" in body["tags"]
    prefilled = body["current_version"]["embedded"]["prefilled"]
    assert "title" not in prefilled
    assert {"description", "rights_expire_at", "creator", "copyright"} <= set(prefilled)
    assert prefilled["rights_expire_at"] == "Xmp.plus.LicenseEndDate"
    # A licence end date and credits in the file: nothing "missing" blocks or warns.
    rules = {v["rule"] for v in body["current_version"]["compliance"]["violations"]}
    assert "licensed-rights-expiry" not in rules
    assert "licensed-credits" not in rules


def test_validate_shows_the_prefilled_values_before_anything_is_stored(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    response = client.post(
        "/api/v1/governance/validate",
        headers=designer,
        files={"file": ("DSC_4711.jpg", AGENCY.read_bytes(), "image/jpeg")},
        data={"metadata": json.dumps({"terms": TERMS})},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["metadata"]["title"] == "Trail runner above the fjord"
    assert body["prefilled"]["title"].startswith("Xmp.dc.title")
    assert body["embedded"]["embedded"]["creator"] == ["Ingrid Solberg"]
    # Orientation 6: the 1350x1080 pixels are a 1080x1350 portrait.
    assert (body["width"], body["height"]) == (1080, 1350)


def test_prefill_shows_what_the_file_fills_before_any_term_is_chosen(
    client: TestClient, designer: dict[str, str], marketer: dict[str, str], ctx: Context
) -> None:
    """The upload form asks this as soon as a file is picked; validate would refuse the
    missing required terms (422) and show nothing."""
    files = {"file": ("DSC_4711.jpg", AGENCY.read_bytes(), "image/jpeg")}
    refused = client.post("/api/v1/governance/validate", headers=designer, files=files)
    assert refused.status_code == 422
    response = client.post(
        "/api/v1/governance/prefill",
        headers=designer,
        files=files,
        data={"metadata": json.dumps({"extra": {"credit": "Nordlys Agency"}})},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["metadata"]["title"] == "Trail runner above the fjord"
    assert body["metadata"]["rights_expire_at"] == "2027-07-01T00:00:00+00:00"
    assert body["metadata"]["extra"]["credit"] == "Nordlys Agency"  # explicit wins
    assert body["metadata"]["terms"] == {"visual_style": ["lifestyle"]}
    assert body["prefilled"]["copyright"] == "Xmp.dc.rights"
    assert "credit" not in body["prefilled"]
    assert (body["width"], body["height"]) == (1080, 1350)
    assert body["embedded"]["embedded"]["gps"] is not None
    assert (
        client.post("/api/v1/governance/prefill", headers=marketer, files=files).status_code == 403
    )
    assert count_rows(ctx.engine, "assets") == 0


def test_orientation_and_location_in_the_version_json(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    ctx: Context,
) -> None:
    created = _upload(client, designer, {"terms": TERMS}).json()
    version = created["current_version"]
    assert (version["width"], version["height"]) == (1080, 1350)
    assert (version["stored_width"], version["stored_height"]) == (1350, 1080)
    shown = version["embedded"]["fields"]
    assert shown["gps"]["latitude"] == pytest.approx(62.472229, abs=1e-5)
    assert shown["location"]["city"] == "Ålesund"
    # Judged as the 4:5 portrait it is on every screen: no Instagram warning for "5:4".
    messages = " ".join(v["message"] for v in version["compliance"]["violations"])
    assert "5:4" not in messages

    drive_to(client, created["id"], "approved", designer=designer, reviewer=brand_manager)
    run_pending(ctx)
    seen = client.get(f"/api/v1/assets/{created['id']}", headers=marketer).json()
    fields = seen["current_version"]["embedded"]["fields"]
    assert fields["creator"] == ["Ingrid Solberg"]
    assert fields["gps"] is None
    assert fields["location"] == {}
    hits = client.get(
        "/api/v1/search", headers=marketer, params={"q": "solberg", "orientation": "portrait"}
    ).json()["items"]
    assert [h["id"] for h in hits] == [created["id"]]


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="Debian's exiftool is not installed")
def test_a_marketer_downloads_the_governed_metadata_without_the_location(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    ctx: Context,
    tmp_path: Path,
) -> None:
    created = _upload(client, designer, {"terms": TERMS, "title": "Fjord runner"}).json()
    asset_id = created["id"]
    drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)

    original = client.get(f"/api/v1/assets/{asset_id}/content", headers=designer)
    assert original.content == AGENCY.read_bytes()
    assert original.headers["x-dam-sha256"] == hashlib.sha256(AGENCY.read_bytes()).hexdigest()

    delivered = client.get(f"/api/v1/assets/{asset_id}/content", headers=marketer)
    assert delivered.status_code == 200, delivered.text
    assert delivered.headers["x-dam-sha256"] == hashlib.sha256(delivered.content).hexdigest()
    assert delivered.headers["x-dam-size"] == str(len(delivered.content))
    assert delivered.headers["x-dam-original-sha256"] == original.headers["x-dam-sha256"]
    path = tmp_path / "delivered.jpg"
    path.write_bytes(delivered.content)
    tags = json.loads(
        subprocess.run(
            ["exiftool", "-j", "-G1", "-n", str(path)], capture_output=True, check=True, text=True
        ).stdout
    )[0]
    assert tags["XMP-dc:Title"] == "Fjord runner"
    assert tags["XMP-dc:Rights"] == "© 2026 Nordlys Agency AS"
    # The licence end leaves as the file brought it in (stored as the next midnight's expiry).
    assert str(tags["XMP-plus:LicenseEndDate"]).startswith("2027:06:30")
    assert asset_id in json.dumps(tags)
    assert not [k for k in tags if "GPS" in k]
    # Place names are gone (the caption may still name the town: it is the caption).
    places = {k: v for k, v in tags.items() if "Ålesund" in str(v)}
    captions = {"XMP-dc:Description", "IPTC:Caption-Abstract", "IFD0:ImageDescription"}
    assert set(places) <= captions, places
    # The stored original never changes; the second download is the cached copy.
    again = client.get(f"/api/v1/assets/{asset_id}/content", headers=marketer)
    assert again.content == delivered.content
    check = client.get(f"/api/v1/assets/{asset_id}/content", headers=designer)
    assert hashlib.sha256(check.content).hexdigest() == created["current_version"]["sha256"]
