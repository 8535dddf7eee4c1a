"""Helpers for the collections tests: published and draft assets made through the API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.workflow.support import new_asset

__all__ = ["draft", "make_collection", "published"]


def draft(client: TestClient, designer: dict[str, str], *, seed: int, **metadata: Any) -> str:
    return new_asset(client, designer, seed=seed, **metadata)


def published(
    client: TestClient,
    designer: dict[str, str],
    reviewer: dict[str, str],
    *,
    seed: int,
    **metadata: Any,
) -> str:
    asset_id = new_asset(client, designer, seed=seed, **metadata)
    assert client.post(f"/api/v1/assets/{asset_id}/submit", headers=designer).status_code == 200
    approved = client.post(f"/api/v1/assets/{asset_id}/approve", headers=reviewer)
    assert approved.status_code == 200, approved.text
    return asset_id


def make_collection(
    client: TestClient, headers: dict[str, str], name: str = "Press pack", **body: Any
) -> dict[str, Any]:
    response = client.post("/api/v1/collections", headers=headers, json={"name": name, **body})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data
