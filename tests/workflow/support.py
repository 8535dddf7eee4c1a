"""Small helpers shared by the workflow, audit and webhook tests."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session, col, select

from dam.context import Context
from dam.models import OutboxJob
from tests.factories import GOOD_METADATA, image_bytes, upload

REASON = "Logo is too close to the edge"
# A small graphic that passes every brand rule, so uploads are quick and compliance is "pass".
METADATA: dict[str, Any] = {
    **GOOD_METADATA,
    "terms": {"asset_type": ["graphic"], "usage_rights": ["owned"], "brand": ["halden"]},
}


def new_asset(
    client: TestClient, headers: dict[str, str], *, seed: int = 1, **metadata: Any
) -> str:
    response = upload(
        client,
        headers,
        image_bytes(size=(64, 48), seed=seed),
        metadata={**METADATA, **metadata},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def new_version(client: TestClient, headers: dict[str, str], asset_id: str, *, seed: int) -> int:
    response = upload(
        client,
        headers,
        image_bytes(size=(64, 48), seed=seed),
        metadata=None,  # keep the asset's metadata
        path=f"/api/v1/assets/{asset_id}/versions",
    )
    assert response.status_code == 201, response.text
    return int(response.json()["current_version"]["number"])


def transition(
    client: TestClient,
    headers: dict[str, str],
    asset_id: str,
    action: str,
    *,
    reason: str = REASON,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    return client.post(
        f"/api/v1/assets/{asset_id}/{action}",
        headers={**headers, **(extra_headers or {})},
        json={"reason": reason} if action == "reject" else None,
    )


def drive_to(
    client: TestClient,
    asset_id: str,
    state: str,
    *,
    designer: dict[str, str],
    reviewer: dict[str, str],
) -> None:
    """Move the asset's current version from draft to `state` through the API; "approved"
    approves every review stage the version's terms route it through."""
    steps = {
        "draft": [],
        "in_review": [("submit", designer)],
        "approved": [("submit", designer), ("approve", reviewer)],
        "rejected": [("submit", designer), ("reject", reviewer)],
    }[state]
    for action, headers in steps:
        response = transition(client, headers, asset_id, action)
        assert response.status_code == 200, response.text
    for _ in range(10):  # one approval per further stage (legal, regional …)
        if state != "approved" or review_state(client, designer, asset_id) == "approved":
            break
        response = transition(client, reviewer, asset_id, "approve")
        assert response.status_code == 200, response.text


def review_state(client: TestClient, headers: dict[str, str], asset_id: str) -> str:
    body = client.get(f"/api/v1/assets/{asset_id}", headers=headers).json()
    return str(body["current_version"]["review_state"])


def principal_id(client: TestClient, headers: dict[str, str]) -> str:
    return str(client.get("/api/v1/me", headers=headers).json()["id"])


def emitted(ctx: Context, asset_id: str | None = None) -> list[tuple[str, int | None]]:
    """(type, version) of every domain event written to the outbox, oldest first."""
    with Session(ctx.engine) as session:
        jobs = session.exec(
            select(OutboxJob)
            .where(col(OutboxJob.kind) == "event")
            .order_by(col(OutboxJob.created_at), col(OutboxJob.id))
        ).all()
    return [
        (job.payload["type"], job.payload["version"])
        for job in jobs
        if asset_id is None or job.payload["asset_id"] == str(uuid.UUID(asset_id))
    ]
