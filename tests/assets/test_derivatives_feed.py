"""Derivatives in the campaign feed: each item lists the presets of its own channels and of the
campaign's channel, with signed links and sizes (byte size once the worker rendered them);
fetching one records the delivery with its preset."""

from __future__ import annotations

import hashlib
import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session, select

from dam.context import Context
from dam.models import DeliveryEvent
from dam.worker import run_pending
from tests.campaigns.support import metadata, new_campaign, publish
from tests.factories import image_bytes, upload

pytestmark = pytest.mark.usefixtures("db_backend")


def _tagged_asset(
    client: TestClient, designer: dict[str, str], campaign: str, **terms: list[str]
) -> str:
    meta = {**metadata(**terms), "campaign_ids": [campaign]}
    response = upload(client, designer, image_bytes(size=(2000, 1500), seed=11), metadata=meta)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_feed_lists_the_presets_of_the_items_and_the_campaigns_channels(
    client: TestClient,
    ctx: Context,
    admin: dict[str, str],
    designer: dict[str, str],
    automation: dict[str, str],
) -> None:
    new_campaign(client, admin, "IG-SPRING", channel="instagram")
    new_campaign(client, admin, "PLAIN")
    asset_id = _tagged_asset(client, designer, "IG-SPRING", channel=["email"])
    client.post(
        f"/api/v1/assets/{asset_id}/campaigns", headers=admin, json={"campaign_ids": ["PLAIN"]}
    )
    publish(ctx, asset_id)

    ig = client.get("/api/v1/campaigns/IG-SPRING/assets", headers=automation).json()
    (item,) = ig["items"]
    presets = [d["preset"] for d in item["derivatives"]]
    assert presets == ["email-600", "email-hero-2x1", "ig-feed-4x5", "ig-square", "ig-story-9x16"]
    sizes = {d["preset"]: (d["width"], d["height"]) for d in item["derivatives"]}
    assert sizes["email-600"] == (1200, 900)  # inside: 1200 wide from 2000x1500
    assert sizes["ig-story-9x16"] == (1080, 1920)
    assert all(d["size"] is None and d["sha256"] is None for d in item["derivatives"])

    plain = client.get("/api/v1/campaigns/PLAIN/assets", headers=automation).json()
    (plain_item,) = plain["items"]
    assert [d["preset"] for d in plain_item["derivatives"]] == ["email-600", "email-hero-2x1"]


def test_tagging_queues_the_presets_so_the_feed_states_their_bytes(
    client: TestClient,
    ctx: Context,
    admin: dict[str, str],
    designer: dict[str, str],
    automation: dict[str, str],
) -> None:
    new_campaign(client, admin, "DISPLAY-Q1", channel="display")
    new_campaign(client, admin, "OTHER")
    asset_id = _tagged_asset(client, designer, "OTHER", channel=["email"])
    publish(ctx, asset_id)
    run_pending(ctx)
    # Tagging the published asset is what queues the campaign's presets.
    tagged = client.post(
        f"/api/v1/assets/{asset_id}/campaigns", headers=admin, json={"campaign_ids": ["DISPLAY-Q1"]}
    )
    assert tagged.status_code in (200, 201), tagged.text
    run_pending(ctx)
    feed = client.get("/api/v1/campaigns/DISPLAY-Q1/assets", headers=automation).json()
    (item,) = feed["items"]
    by_preset = {d["preset"]: d for d in item["derivatives"]}
    assert set(by_preset) == {
        "email-600",
        "email-hero-2x1",
        "iab-medium-rectangle",
        "iab-leaderboard",
        "iab-wide-skyscraper",
        "iab-half-page",
        "iab-mobile-banner",
        "iab-billboard",
    }
    leaderboard = by_preset["iab-leaderboard"]
    assert leaderboard["size"] is not None and leaderboard["size"] <= 150_000
    path = leaderboard["url"].split("testserver", 1)[1]
    fetched = client.get(path)
    assert fetched.status_code == 200, fetched.text
    assert hashlib.sha256(fetched.content).hexdigest() == leaderboard["sha256"]
    assert len(fetched.content) == leaderboard["size"]
    with Image.open(io.BytesIO(fetched.content)) as img:
        assert img.size == (728, 90) == (leaderboard["width"], leaderboard["height"])
    with Session(ctx.engine) as session:
        events = list(session.exec(select(DeliveryEvent)))
    assert [(e.campaign_id, e.preset) for e in events] == [("DISPLAY-Q1", "iab-leaderboard")]
    # The original's link is still the delivered copy, recorded without a preset.
    client.get(item["download_url"].split("testserver", 1)[1])
    with Session(ctx.engine) as session:
        presets = sorted(str(e.preset) for e in session.exec(select(DeliveryEvent)))
    assert presets == ["None", "iab-leaderboard"]


def test_a_tampered_preset_in_a_delivery_link_is_refused(
    client: TestClient,
    ctx: Context,
    admin: dict[str, str],
    designer: dict[str, str],
    automation: dict[str, str],
) -> None:
    new_campaign(client, admin, "IG-TAMPER", channel="instagram")
    asset_id = _tagged_asset(client, designer, "IG-TAMPER")
    publish(ctx, asset_id)
    (item,) = client.get("/api/v1/campaigns/IG-TAMPER/assets", headers=automation).json()["items"]
    url = item["derivatives"][0]["url"].split("testserver", 1)[1]
    token = url.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    other = item["download_url"].rsplit("/", 1)[1].split(".")[1]
    for bad in (f"{payload}.{other}", f"{payload[:-1]}A.{signature}"):
        refused = client.get(f"/api/v1/deliveries/{bad}")
        assert refused.status_code == 403, bad


def test_auto_presets_of_a_transparent_image_fall_back_to_png(
    client: TestClient,
    ctx: Context,
    admin: dict[str, str],
    designer: dict[str, str],
    automation: dict[str, str],
) -> None:
    new_campaign(client, admin, "WEB-HERO", channel="website")
    img = Image.new("RGBA", (2400, 1600), (0, 0, 0, 0))
    img.paste((200, 40, 40, 255), (600, 400, 1800, 1200))
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    meta = {
        **metadata(asset_type=["illustration"]),
        "campaign_ids": ["WEB-HERO"],
    }
    response = upload(
        client,
        designer,
        buffer.getvalue(),
        filename="hero.png",
        content_type="image/png",
        metadata=meta,
    )
    assert response.status_code == 201, response.text
    asset_id = str(response.json()["id"])
    publish(ctx, asset_id)
    (item,) = client.get("/api/v1/campaigns/WEB-HERO/assets", headers=automation).json()["items"]
    formats = {d["preset"]: d["format"] for d in item["derivatives"]}
    assert formats == {"web-hero": "PNG", "web-content": "PNG"}
    fetched = client.get(
        next(d for d in item["derivatives"] if d["preset"] == "web-hero")["url"].split(
            "testserver", 1
        )[1]
    )
    assert fetched.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(fetched.content)) as out:
        assert out.mode == "RGBA" and out.getpixel((0, 0))[3] == 0


def test_the_feed_states_the_bytes_of_a_derivative_cropped_around_a_focal_point(
    client: TestClient,
    ctx: Context,
    admin: dict[str, str],
    designer: dict[str, str],
    automation: dict[str, str],
) -> None:
    # The feed reads the focal point with its items and writes the cache keys from their
    # parts' JSON: the keys must be those the renderer stores the derivative under.
    new_campaign(client, admin, "IG-FOCAL", channel="instagram")
    asset_id = _tagged_asset(client, designer, "IG-FOCAL")
    focal = client.put(
        f"/api/v1/assets/{asset_id}/versions/1/focal-point",
        headers=designer,
        json={"x": 0.25, "y": 0.4, "crops": {"ig-square": [0.1, 0.05, 0.7, 0.85]}},
    )
    assert focal.status_code == 200, focal.text
    publish(ctx, asset_id)
    (item,) = client.get("/api/v1/campaigns/IG-FOCAL/assets", headers=automation).json()["items"]
    by_preset = {d["preset"]: d for d in item["derivatives"]}
    fetched = {
        preset: client.get(by_preset[preset]["url"].split("testserver", 1)[1])
        for preset in ("ig-square", "ig-story-9x16")
    }
    assert all(r.status_code == 200 for r in fetched.values()), fetched
    (again,) = client.get("/api/v1/campaigns/IG-FOCAL/assets", headers=automation).json()["items"]
    stated = {d["preset"]: d for d in again["derivatives"]}
    for preset, response in fetched.items():
        assert stated[preset]["sha256"] == hashlib.sha256(response.content).hexdigest()
        assert stated[preset]["size"] == len(response.content)
        assert response.headers["X-DAM-Derivative-Key"] == _listed_key(
            client, designer, asset_id, preset
        )


def _listed_key(client: TestClient, headers: dict[str, str], asset_id: str, preset: str) -> str:
    listed = client.get(f"/api/v1/assets/{asset_id}/derivatives", headers=headers)
    assert listed.status_code == 200, listed.text
    (row,) = [d for d in listed.json()["derivatives"] if d["preset"] == preset]
    return str(row["key"])
