"""Factories for the campaign tests: assets uploaded through the API, published in the DB."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.context import Context
from dam.models import Asset, AssetVersion, ReviewState
from tests.factories import GOOD_METADATA, image_bytes, upload


def metadata(**terms: list[str]) -> dict[str, Any]:
    return {
        **GOOD_METADATA,
        "terms": {**GOOD_METADATA["terms"], "brand": ["halden"], **terms},
    }


def new_asset(
    client: TestClient,
    headers: dict[str, str],
    *,
    seed: int,
    campaign_ids: list[str] | None = None,
    **terms: list[str],
) -> str:
    meta = metadata(**terms)
    if campaign_ids:
        meta["campaign_ids"] = campaign_ids
    response = upload(client, headers, image_bytes(size=(1200, 800), seed=seed), metadata=meta)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def new_version(client: TestClient, headers: dict[str, str], asset_id: str, *, seed: int) -> None:
    response = upload(
        client,
        headers,
        image_bytes(size=(1200, 800), seed=seed),
        path=f"/api/v1/assets/{asset_id}/versions",
    )
    assert response.status_code == 201, response.text


def publish(ctx: Context, asset_id: str, version: int = 1) -> None:
    """What approval does, without depending on the review workflow's API."""
    with Session(ctx.engine) as session:
        row = session.exec(
            select(AssetVersion).where(
                AssetVersion.asset_id == uuid.UUID(asset_id), AssetVersion.number == version
            )
        ).one()
        row.review_state = ReviewState.approved
        row.reviewed_at = ctx.now()
        asset = session.get(Asset, uuid.UUID(asset_id))
        assert asset is not None
        asset.published_version = version
        session.add_all([row, asset])
        session.commit()


def set_asset(ctx: Context, asset_id: str, **values: Any) -> None:
    with Session(ctx.engine) as session:
        asset = session.get(Asset, uuid.UUID(asset_id))
        assert asset is not None
        for name, value in values.items():
            setattr(asset, name, value)
        session.add(asset)
        session.commit()


def new_campaign(
    client: TestClient, headers: dict[str, str], campaign_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"id": campaign_id, "name": fields.pop("name", campaign_id.title()), **fields}
    response = client.post("/api/v1/campaigns", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def published_asset(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    *,
    seed: int,
    campaign_ids: list[str],
    **terms: list[str],
) -> str:
    asset_id = new_asset(client, designer, seed=seed, campaign_ids=campaign_ids, **terms)
    publish(ctx, asset_id)
    return asset_id


def post_csv(
    client: TestClient, url: str, headers: dict[str, str], text: str, **params: Any
) -> Any:
    """POSTs a CSV body (a metrics report or a platform export) with query parameters."""
    return client.post(
        url,
        headers={**headers, "Content-Type": "text/csv"},
        params=params,
        content=text.encode("utf-8"),
    )
