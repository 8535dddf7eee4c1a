"""Channel derivatives through the API: presets of the default pack rendered from the version a
principal may see, cached under their key, negotiated from Accept, bounded ad hoc, behind signed
links, cropped around a focal point set through the API."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session, select

from dam.assets import derivatives
from dam.context import Context
from dam.models import Derivative
from tests.campaigns.support import metadata, new_version, publish
from tests.conftest import Clock, count_rows
from tests.factories import image_bytes, upload

pytestmark = pytest.mark.usefixtures("db_backend")


def _asset(
    client: TestClient,
    headers: dict[str, str],
    *,
    seed: int = 3,
    size: tuple[int, int] = (2400, 1600),
    data: bytes | None = None,
    **terms: list[str],
) -> str:
    body = image_bytes(size=size, seed=seed) if data is None else data
    response = upload(client, headers, body, metadata=metadata(**terms))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _image(response: Any) -> Image.Image:
    return Image.open(io.BytesIO(response.content))


def test_preset_renders_its_box_and_format(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    asset_id = _asset(client, designer, channel=["instagram"])
    publish(ctx, asset_id)
    response = client.get(f"/api/v1/assets/{asset_id}/derivatives/ig-feed-4x5", headers=marketer)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    with _image(response) as img:
        assert (img.format, img.size) == ("JPEG", (1080, 1350))
    assert response.headers["X-DAM-Preset"] == "ig-feed-4x5"
    assert response.headers["X-DAM-SHA256"] == hashlib.sha256(response.content).hexdigest()
    assert response.headers["ETag"] == f'"{response.headers["X-DAM-SHA256"]}"'


@pytest.mark.parametrize("storage_backend", ["fs", "s3"], indirect=True)
def test_second_request_is_a_cache_hit_and_if_none_match_is_304(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    asset_id = _asset(client, designer, channel=["display"])
    publish(ctx, asset_id)
    url = f"/api/v1/assets/{asset_id}/derivatives/iab-medium-rectangle"
    first = client.get(url, headers=marketer)
    second = client.get(url, headers=marketer)
    assert first.status_code == second.status_code == 200
    assert (first.headers["X-DAM-Cache"], second.headers["X-DAM-Cache"]) == ("miss", "hit")
    assert first.content == second.content
    assert count_rows(ctx.engine, "derivatives") == 1
    etag = first.headers["ETag"]
    again = client.get(url, headers={**marketer, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


def test_restricted_viewers_only_get_the_published_version(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    asset_id = _asset(client, designer, seed=5, channel=["instagram"])
    publish(ctx, asset_id)
    new_version(client, designer, asset_id, seed=6)  # version 2: a draft
    versions = client.get(f"/api/v1/assets/{asset_id}/versions", headers=designer).json()
    sha = {v["number"]: v["sha256"] for v in versions}
    url = f"/api/v1/assets/{asset_id}/derivatives/ig-square"
    seen = client.get(url, headers=marketer)
    assert seen.headers["X-DAM-Original-SHA256"] == sha[1]
    assert client.get(url, headers=designer).headers["X-DAM-Original-SHA256"] == sha[2]
    refused = client.get(f"{url}?version=2", headers=marketer)
    assert refused.status_code == 404
    assert refused.json()["error"] == "version_not_found"
    listing = client.get(f"/api/v1/assets/{asset_id}/derivatives?version=2", headers=marketer)
    assert listing.status_code == 404
    listed = client.get(f"/api/v1/assets/{asset_id}/derivatives", headers=marketer).json()
    assert listed["version"] == 1


def test_listing_names_the_presets_of_the_assets_channels(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    asset_id = _asset(client, designer, channel=["instagram", "email"])
    publish(ctx, asset_id)
    listed = client.get(f"/api/v1/assets/{asset_id}/derivatives", headers=marketer).json()
    names = [d["preset"] for d in listed["derivatives"]]
    assert names == ["email-600", "email-hero-2x1", "ig-feed-4x5", "ig-square", "ig-story-9x16"]
    assert all(d["size"] is None for d in listed["derivatives"])
    client.get(f"/api/v1/assets/{asset_id}/derivatives/ig-square", headers=marketer)
    listed = client.get(f"/api/v1/assets/{asset_id}/derivatives", headers=marketer).json()
    square = next(d for d in listed["derivatives"] if d["preset"] == "ig-square")
    assert (square["width"], square["height"]) == (1080, 1080)
    email = next(d for d in listed["derivatives"] if d["preset"] == "email-600")
    assert (email["width"], email["height"]) == (1200, 800)  # inside 1200 wide, from 2400x1600
    assert square["size"] is not None and square["sha256"] is not None


def test_format_auto_follows_accept(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    asset_id = _asset(client, designer, channel=["website"])
    publish(ctx, asset_id)
    url = f"/api/v1/assets/{asset_id}/derivatives/web-hero"
    cases = {
        "image/avif,image/webp,*/*": ("image/avif", "AVIF"),
        "image/webp,*/*;q=0.8": ("image/webp", "WEBP"),
        "image/avif;q=0,image/webp": ("image/webp", "WEBP"),
        "*/*": ("image/jpeg", "JPEG"),
    }
    for accept, (mime, fmt) in cases.items():
        response = client.get(url, headers={**marketer, "Accept": accept})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == mime, accept
        assert response.headers["Vary"] == "Accept"
        with _image(response) as img:
            assert img.format == fmt
            assert img.size == (2400, 1350)  # 16:9 at 2400 wide, from a 2400x1600 source


def test_format_override_is_limited_to_the_packs_formats(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    asset_id = _asset(client, designer, channel=["instagram"])
    publish(ctx, asset_id)
    url = f"/api/v1/assets/{asset_id}/derivatives/ig-square"
    response = client.get(f"{url}?format=webp", headers=marketer)
    assert response.headers["content-type"] == "image/webp"
    assert client.get(f"{url}?format=gif", headers=marketer).status_code == 422


def test_ad_hoc_transforms_stay_within_the_packs_limits(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    asset_id = _asset(client, designer)
    publish(ctx, asset_id)
    base = f"/api/v1/assets/{asset_id}/transform"
    ok = client.get(f"{base}?w=300&h=200&fit=cover&format=png", headers=marketer)
    assert ok.status_code == 200, ok.text
    with _image(ok) as img:
        assert (img.format, img.size) == ("PNG", (300, 200))
    inside = client.get(f"{base}?w=600", headers={**marketer, "Accept": "image/webp"})
    with _image(inside) as img:
        assert (img.format, img.size) == ("WEBP", (600, 400))
    for query, needle in (
        ("w=20000", "w must be between 1 and 2400"),
        ("w=2400&h=2400", "more than 4000000 pixels"),
        ("h=300&fit=cover", "needs both w and h"),
        ("w=300&fit=stretch", "fit must be"),
        ("", "give w, h or both"),
    ):
        refused = client.get(f"{base}?{query}", headers=marketer)
        assert refused.status_code == 422, query
        assert refused.json()["error"] == "transform_out_of_limits", query
        assert needle in refused.json()["detail"], query
    assert client.get(f"{base}?w=300&format=tiff", headers=marketer).status_code == 422


def test_unknown_preset_and_non_image_are_clear_errors(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    asset_id = _asset(client, designer)
    publish(ctx, asset_id)
    missing = client.get(f"/api/v1/assets/{asset_id}/derivatives/nope", headers=marketer)
    assert missing.status_code == 404
    assert missing.json()["error"] == "preset_not_found"
    assert "ig-feed-4x5" in missing.json()["detail"]


def test_signed_link_serves_without_a_key_and_refuses_tampering(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    designer: dict[str, str],
    automation: dict[str, str],
) -> None:
    asset_id = _asset(client, designer, channel=["display"])
    publish(ctx, asset_id)
    made = client.post(
        f"/api/v1/assets/{asset_id}/derivatives/iab-leaderboard/links?ttl_seconds=600",
        headers=automation,
    )
    assert made.status_code == 201, made.text
    url = made.json()["url"]
    path = url.split("testserver", 1)[1]
    fetched = client.get(path)
    assert fetched.status_code == 200, fetched.text
    assert fetched.headers["Cache-Control"] == "public, max-age=600, immutable"
    with _image(fetched) as img:
        assert img.size == (728, 90)
    token = path.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    for bad in (f"{forged}.{signature}", f"{payload}.{signature[:-2]}xx", "nonsense"):
        refused = client.get(f"/api/v1/derivatives/{bad}")
        assert refused.status_code == 403
        assert refused.json()["error"] == "invalid_link"
    clock.advance(seconds=601)
    expired = client.get(path)
    assert expired.status_code == 403
    assert expired.json()["error"] == "link_expired"


def test_signed_link_stops_when_the_version_is_no_longer_published(
    client: TestClient, ctx: Context, designer: dict[str, str], automation: dict[str, str]
) -> None:
    asset_id = _asset(client, designer, channel=["display"])
    unpublished = client.post(
        f"/api/v1/assets/{asset_id}/derivatives/iab-leaderboard/links", headers=designer
    )
    assert unpublished.status_code == 409
    assert unpublished.json()["error"] == "not_published"
    publish(ctx, asset_id)
    url = client.post(
        f"/api/v1/assets/{asset_id}/derivatives/iab-leaderboard/links", headers=automation
    ).json()["url"]
    path = url.split("testserver", 1)[1]
    new_version(client, designer, asset_id, seed=9)
    publish(ctx, asset_id, version=2)
    gone = client.get(path)
    assert gone.status_code == 404
    assert gone.json()["error"] == "derivative_not_found"


def test_focal_point_is_set_by_uploaders_and_moves_the_crop(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    # A wide picture: grey, with a red square at the far left, 1:1 crops of a 3:1 frame.
    picture = Image.new("RGB", (2400, 800), (128, 128, 128))
    picture.paste((220, 20, 20), (40, 360, 120, 440))
    picture.paste((20, 20, 220), (2280, 360, 2360, 440))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=92)
    asset_id = _asset(client, designer, data=buffer.getvalue(), channel=["instagram"])
    publish(ctx, asset_id)
    focal_url = f"/api/v1/assets/{asset_id}/versions/1/focal-point"
    assert client.get(focal_url, headers=marketer).json()["source"] == "auto"
    refused = client.put(focal_url, headers=marketer, json={"x": 0.03, "y": 0.5})
    assert refused.status_code == 403
    bad = client.put(focal_url, headers=designer, json={"x": 1.5, "y": 0.5})
    assert bad.status_code == 422
    bad_crop = client.put(
        focal_url, headers=designer, json={"x": 0.03, "y": 0.5, "crops": {"nope": [0, 0, 1, 1]}}
    )
    assert bad_crop.status_code == 422
    assert "nope" in bad_crop.json()["detail"]

    set_ = client.put(focal_url, headers=designer, json={"x": 0.03, "y": 0.5})
    assert set_.status_code == 200, set_.text
    assert (set_.json()["x"], set_.json()["source"]) == (0.03, "set")
    left = client.get(f"/api/v1/assets/{asset_id}/derivatives/ig-square", headers=marketer)
    with _image(left) as img:
        red = img.convert("RGB").getpixel((int(80 / 800 * 1080), 540))
    assert red[0] > 150 and red[2] < 100, red

    client.put(focal_url, headers=designer, json={"x": 0.97, "y": 0.5})
    right = client.get(f"/api/v1/assets/{asset_id}/derivatives/ig-square", headers=marketer)
    assert right.headers["X-DAM-Derivative-Key"] != left.headers["X-DAM-Derivative-Key"]
    with _image(right) as img:
        blue = img.convert("RGB").getpixel((1080 - int(80 / 800 * 1080), 540))
    assert blue[2] > 150 and blue[0] < 100, blue

    cleared = client.delete(focal_url, headers=designer)
    assert cleared.json()["source"] == "auto"


def test_concurrent_requests_render_once(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asset_id = _asset(client, designer, channel=["instagram"])
    publish(ctx, asset_id)
    requests = 4
    renders: list[str] = []
    real = derivatives.render_derivative

    def counting(source: Any, dest: Any, spec: Any, **kw: Any) -> Any:
        renders.append(str(dest))
        # Hold the render until every other request is waiting for it (or give up after 20 s,
        # in which case the assertion below shows how many got in).
        keys = list(derivatives._flights._calls)
        done = threading.Event()
        for _ in range(200):
            if keys and derivatives._flights.waiting(keys[0]) >= requests - 1:
                break
            done.wait(0.1)
        return real(source, dest, spec, **kw)

    monkeypatch.setattr(derivatives, "render_derivative", counting)
    url = f"/api/v1/assets/{asset_id}/derivatives/ig-story-9x16"
    results: list[Any] = []

    def fetch() -> None:
        results.append(client.get(url, headers=marketer))

    threads = [threading.Thread(target=fetch) for _ in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [200] * requests
    assert len(renders) == 1
    assert len({r.content for r in results}) == 1
    assert sorted(r.headers["X-DAM-Cache"] for r in results) == ["hit"] * (requests - 1) + ["miss"]


def test_derivative_carries_the_published_metadata_and_no_location(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    from dam.media.embedded import read_embedded

    asset_id = _asset(client, designer, channel=["email"])
    publish(ctx, asset_id)
    response = client.get(f"/api/v1/assets/{asset_id}/derivatives/email-600", headers=marketer)
    assert response.status_code == 200, response.text
    path = ctx.settings.data_dir / "probe.jpg"
    path.write_bytes(response.content)
    found = read_embedded(path, fmt="JPEG")
    xmp = found.raw.get("xmp", {})
    assert xmp.get("Xmp.dc.identifier") == f"urn:dam:asset:{uuid.UUID(asset_id)}:v1"
    assert found.embedded.gps is None
    with Session(ctx.engine) as session:
        row = session.exec(select(Derivative)).one()
        assert row.compliance["status"] in ("pass", "warn")


def _pack_with_extra_presets(tmp: Any, extra: str) -> Any:
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "taxonomy"
    target = tmp / "pack"
    shutil.copytree(root, target)
    with (target / "derivatives.yaml").open("a", encoding="utf-8") as out:
        out.write(extra)
    return target


def test_output_is_judged_by_the_rules_of_the_channel_it_serves(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
    tmp_path: Any,
) -> None:
    from dam.governance.holder import GovernanceHolder

    ctx.governance = GovernanceHolder(
        _pack_with_extra_presets(
            tmp_path,
            """
  - id: iab-billboard-png
    when: {channel: [display]}
    width: 970
    height: 250
    fit: cover
    format: png
  - id: ig-preview
    when: {channel: [instagram]}
    width: 600
    fit: inside
""",
        )
    )
    # A detailed photo as a banner for the website: its display derivative is judged as a display
    # banner (PNG over the 150 KB IAB budget: blocked), its Instagram preview by the Instagram
    # rules (under 1080 px wide: a warning).
    noisy = Image.effect_noise((2400, 1600), 90).convert("RGB")
    buffer = io.BytesIO()
    noisy.save(buffer, "JPEG", quality=85)
    banner = _asset(
        client, designer, data=buffer.getvalue(), asset_type=["banner"], channel=["website"]
    )
    publish(ctx, banner)
    refused = client.get(f"/api/v1/assets/{banner}/derivatives/iab-billboard-png", headers=marketer)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "derivative_noncompliant"
    blocking = [v["rule"] for v in body["violations"] if v["severity"] == "block"]
    assert blocking == ["display-banner-weight"]
    assert count_rows(ctx.engine, "derivatives") == 0  # nothing stored
    # The shipped IAB preset has a byte budget: the same asset passes.
    ok = client.get(f"/api/v1/assets/{banner}/derivatives/iab-billboard", headers=marketer)
    assert ok.status_code == 200, ok.text
    assert len(ok.content) <= 150_000
    warned = client.get(f"/api/v1/assets/{banner}/derivatives/ig-preview", headers=marketer)
    assert warned.status_code == 200
    assert warned.headers["X-DAM-Compliance"] == "warn"
    with Session(ctx.engine) as session:
        row = session.exec(select(Derivative).where(Derivative.preset == "ig-preview")).one()
    # 600x400 is 3:2, not an Instagram ratio, and under 1080 px wide.
    rules = [v["rule"] for v in row.compliance["violations"]]
    assert rules == ["instagram-aspect", "instagram-min-width"]


def test_a_real_agency_photo_leaves_as_a_derivative_with_its_credits_and_no_location(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    tmp_path: Any,
) -> None:
    """tests/media/corpus/agency-photo.jpg: a real Nikon file tagged by exiftool with GPS,
    Ålesund as its city, the photographer and the agency's copyright (see its README)."""
    import json
    import shutil
    import subprocess
    from pathlib import Path

    from tests.workflow.support import drive_to

    if shutil.which("exiftool") is None:
        pytest.skip("exiftool (Debian libimage-exiftool-perl) not installed")
    agency = Path(__file__).parent.parent / "media" / "corpus" / "agency-photo.jpg"
    terms = {
        "asset_type": ["photo"],
        "usage_rights": ["licensed"],
        "brand": ["halden"],
        "channel": ["email", "instagram"],
    }
    created = client.post(
        "/api/v1/assets",
        headers=designer,
        files={"file": ("DSC_4711.jpg", agency.read_bytes(), "image/jpeg")},
        data={"metadata": json.dumps({"terms": terms, "title": "Fjord runner"})},
    )
    assert created.status_code == 201, created.text
    asset_id = created.json()["id"]
    drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)

    # Stored 1350x1080 with EXIF orientation 6: upright it is 1080x1350, never upscaled.
    for preset, fmt, size in (
        ("email-600", "JPEG", (1080, 1350)),
        ("ig-story-9x16", "JPEG", (1080, 1920)),
    ):
        response = client.get(f"/api/v1/assets/{asset_id}/derivatives/{preset}", headers=marketer)
        assert response.status_code == 200, response.text
        path = tmp_path / f"{preset}.jpg"
        path.write_bytes(response.content)
        tags = json.loads(
            subprocess.run(
                ["exiftool", "-j", "-G1", "-n", str(path)],
                capture_output=True,
                check=True,
                text=True,
            ).stdout
        )[0]
        assert (tags["File:FileType"], tags["File:ImageWidth"], tags["File:ImageHeight"]) == (
            fmt,
            *size,
        )
        assert tags["XMP-dc:Title"] == "Fjord runner"
        assert tags["XMP-dc:Creator"] == "Ingrid Solberg"
        assert tags["XMP-dc:Rights"] == "© 2026 Nordlys Agency AS"
        assert tags["XMP-dc:Identifier"] == f"urn:dam:asset:{asset_id}:v1"
        assert not [k for k in tags if "GPS" in k]
        places = {k: v for k, v in tags.items() if "Ålesund" in str(v)}
        captions = {"XMP-dc:Description", "IPTC:Caption-Abstract", "IFD0:ImageDescription"}
        assert set(places) <= captions, places
        # Nothing else of the camera file rides along (no maker notes, no camera model).
        assert not [k for k in tags if k.startswith(("MakerNotes", "Nikon"))]
        assert "IFD0:Model" not in tags


@pytest.mark.parametrize(
    "focus", [None, {"x": 0.25, "y": 0.5, "crop": None}, {"x": 0.1, "y": 0.9, "crop": [0, 0, 1, 1]}]
)
@pytest.mark.parametrize("with_metadata", [False, True])
def test_cache_keys_are_the_digest_of_the_sorted_json_payload(
    ctx: Context, focus: dict[str, Any] | None, with_metadata: bool
) -> None:
    # Keys are written from their parts' JSON; they must stay those of derivatives already
    # stored, which were the digest of the whole payload dumped with sorted keys.
    from dam.media.derivatives import RENDERER_VERSION
    from dam.media.writeback import WRITER_VERSION, DeliveryMetadata

    preset = ctx.governance.pack.presets[0]
    governed = DeliveryMetadata(
        asset_id=str(uuid.UUID(int=5)),
        version=2,
        title='Spring "hero" café',
        creator=("Ana", "Bo"),
        campaign_id=None,
    )
    metadata_value = governed if with_metadata else None
    payload = {
        "source": "ab" * 32,
        "preset": preset.digest,
        "format": "WEBP",
        "focus": dict(focus) if focus else "auto",
        "metadata": governed.to_json() if with_metadata else None,
        "strip": sorted({"location", "gps"}) if with_metadata else [],
        "renderer": RENDERER_VERSION,
        "writer": WRITER_VERSION if with_metadata else None,
    }
    expected = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    assert (
        derivatives.cache_key(
            source_sha256="ab" * 32,
            preset=preset,
            fmt="WEBP",
            focus=focus,
            metadata=metadata_value,
            strip={"location", "gps"},
        )
        == expected
    )
