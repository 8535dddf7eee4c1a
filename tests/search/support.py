"""Factories for search tests: assets uploaded through the API, then adjusted in the database
(publication, status) the way the workflow would, with the index job the workflow would write."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.context import Context
from dam.db import session_scope
from dam.jobs.outbox import enqueue
from dam.models import Asset, AssetStatus, AssetVersion, Campaign
from dam.worker import QUICK_LANE, run_pending
from tests.conftest import Clock
from tests.factories import image_bytes, upload

BASE_TERMS: dict[str, list[str]] = {
    "asset_type": ["graphic"],
    "usage_rights": ["owned"],
    "brand": ["halden"],
}


def add_campaign(ctx: Context, campaign_id: str, name: str) -> None:
    with session_scope(ctx.engine) as session:
        session.add(Campaign(id=campaign_id, name=name, created_at=ctx.now(), updated_at=ctx.now()))


def make_asset(
    client: TestClient,
    headers: dict[str, str],
    clock: Clock,
    *,
    title: str,
    seed: int,
    description: str = "",
    tags: list[str] | None = None,
    terms: dict[str, list[str]] | None = None,
    campaigns: list[str] | None = None,
    size: tuple[int, int] = (64, 48),
    filename: str = "tile.png",
) -> str:
    clock.advance(minutes=1)  # distinct creation times, so date sorts are exact
    metadata: dict[str, Any] = {
        "title": title,
        "description": description or "Reference artwork kept in the library.",
        "tags": tags or [],
        "terms": {**BASE_TERMS, **(terms or {})},
        "campaign_ids": campaigns or [],
    }
    response = upload(
        client,
        headers,
        image_bytes(size=size, seed=seed, fmt="PNG"),
        filename=filename,
        content_type="image/png",
        metadata=metadata,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def set_state(
    ctx: Context,
    asset_id: str,
    *,
    published: bool | None = None,
    status: AssetStatus | None = None,
    title: str | None = None,
    emit: bool = True,
) -> None:
    """Change an asset the way the workflow would; `emit=False` skips the index job, to make
    the index stale on purpose."""
    with session_scope(ctx.engine) as session:
        asset = session.get(Asset, uuid.UUID(asset_id))
        assert asset is not None
        if published is not None:
            asset.published_version = asset.current_version if published else None
        if status is not None:
            asset.status = status
        if title is not None:
            # Both views: the asset row (published view) and the current version (working).
            asset.title = title
            current = session.exec(
                select(AssetVersion).where(
                    AssetVersion.asset_id == asset.id,
                    AssetVersion.number == asset.current_version,
                )
            ).one()
            current.title = title
            session.add(current)
        asset.revision += 1
        session.add(asset)
        if emit:
            enqueue(session, "search.index", {"asset_id": asset_id}, now=ctx.now())


def set_phash(ctx: Context, asset_id: str, phash: str) -> None:
    with Session(ctx.engine) as session:
        for version in session.exec(
            select(AssetVersion).where(AssetVersion.asset_id == uuid.UUID(asset_id))
        ):
            version.phash = phash
            session.add(version)
        session.commit()


def index_now(ctx: Context) -> None:
    """Runs the jobs that keep the index in step (the worker's quick lane), not the renditions
    and webhooks queued beside them: search does not wait for them, and a preview costs a
    sandboxed child process per upload."""
    run_pending(ctx, lane=QUICK_LANE)
