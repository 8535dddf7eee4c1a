"""Share links and zips offer the pack's derivative presets besides the original: an asset
link offers the presets that serve the asset (its channels, its campaigns' channels), and a
download through it is that derivative, the same bytes the derivatives API serves; a collection
link or zip with a preset sends each image the preset serves as its derivative and the other
files as their delivered originals."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from dam.context import Context
from tests.campaigns.support import new_asset, publish
from tests.collections.support import make_collection

pytestmark = pytest.mark.usefixtures("db_backend")


def _published(client: TestClient, ctx: Context, designer: dict[str, str], **terms: Any) -> str:
    asset_id = new_asset(client, designer, **terms)
    publish(ctx, asset_id)
    return asset_id


def _link(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/share-links", headers=headers, json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


def test_asset_link_offers_the_presets_that_serve_it_and_delivers_the_derivative(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    asset_id = _published(client, ctx, designer, seed=11, channel=["instagram"])
    offered = client.get(
        "/api/v1/share-links/presets", headers=designer, params={"asset_id": asset_id}
    )
    assert offered.status_code == 200, offered.text
    ids = [p["id"] for p in offered.json()["items"]]
    assert ids == ["original", "ig-feed-4x5", "ig-square", "ig-story-9x16"]
    # Every preset of the pack for a collection link.
    every = client.get("/api/v1/share-links/presets", headers=designer).json()["items"]
    assert {"email-600", "ig-square", "web-hero"} <= {p["id"] for p in every}

    wrong = client.post(
        "/api/v1/share-links",
        headers=designer,
        json={"asset_id": asset_id, "preset": "email-600", "allow_download": True},
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"] == "invalid_preset"
    assert "ig-square" in wrong.json()["detail"]

    link = _link(client, designer, asset_id=asset_id, allow_download=True, preset="ig-square")
    assert link["preset"] == "ig-square"
    got = client.get(f"/s/{link['token']}/assets/{asset_id}/download")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-dam-preset"] == "ig-square"
    assert "attachment" in got.headers["content-disposition"]
    assert got.headers["cache-control"] == "no-store"
    assert _size(got.content) == (1080, 1080)
    same = client.get(f"/api/v1/assets/{asset_id}/derivatives/ig-square", headers=marketer)
    assert got.content == same.content
    events = client.get(f"/api/v1/share-links/{link['id']}/events", headers=designer).json()
    assert [(e["action"], e["detail"]) for e in events["items"]] == [("download", "ig-square")]

    # The original stays the default: the delivered published file.
    plain = _link(client, designer, asset_id=asset_id, allow_download=True)
    original = client.get(f"/s/{plain['token']}/assets/{asset_id}/download")
    delivered = client.get(f"/api/v1/assets/{asset_id}/content", headers=marketer)
    assert original.content == delivered.content
    assert _size(original.content) == (1200, 800)


def _members(response: Any) -> tuple[zipfile.ZipFile, list[dict[str, str]]]:
    assert response.status_code == 200, response.text
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    return archive, rows


def test_collection_link_and_zip_with_a_preset_derive_the_images_it_serves(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    square = _published(client, ctx, designer, seed=12, channel=["instagram"])
    mail = _published(client, ctx, designer, seed=13, channel=["email"])
    made = make_collection(
        client, designer, "Launch kit", asset_ids=[square, mail], shared_with=[{"role": "marketer"}]
    )
    unknown = client.post(
        "/api/v1/share-links",
        headers=designer,
        json={"collection_id": made["id"], "preset": "no-such-preset"},
    )
    assert unknown.status_code == 422 and unknown.json()["error"] == "invalid_preset"
    link = _link(
        client, designer, collection_id=made["id"], allow_download=True, preset="ig-square"
    )
    archive, rows = _members(client.get(f"/s/{link['token']}/zip"))
    by_asset = {r["asset_id"]: r for r in rows}
    derived = archive.read(by_asset[square]["file"])
    assert _size(derived) == (1080, 1080)
    ig = client.get(f"/api/v1/assets/{square}/derivatives/ig-square", headers=marketer)
    assert derived == ig.content
    # The email image is not one ig-square serves: it goes as its delivered original.
    as_delivered = client.get(f"/api/v1/assets/{mail}/content", headers=marketer)
    assert archive.read(by_asset[mail]["file"]) == as_delivered.content
    assert [r["included"] for r in rows] == ["yes", "yes"]

    # The signed-in zip takes a preset too; an unknown one is refused before any byte.
    archive, rows = _members(
        client.get(
            f"/api/v1/collections/{made['id']}/zip",
            headers=marketer,
            params={"preset": "email-600"},
        )
    )
    by_asset = {r["asset_id"]: r for r in rows}
    assert _size(archive.read(by_asset[mail]["file"])) == (1200, 800)
    assert (
        archive.read(by_asset[square]["file"])
        == client.get(f"/api/v1/assets/{square}/content", headers=marketer).content
    )
    refused = client.get(
        f"/api/v1/collections/{made['id']}/zip", headers=marketer, params={"preset": "nope"}
    )
    assert refused.status_code == 422
    assert refused.json()["error"] == "invalid_preset"
    selection = client.post(
        "/api/v1/zip", headers=marketer, json={"asset_ids": [square], "preset": "ig-square"}
    )
    archive, rows = _members(selection)
    assert _size(archive.read(rows[0]["file"])) == (1080, 1080)
