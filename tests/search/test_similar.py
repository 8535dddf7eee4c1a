"""GET /api/v1/assets/{id}/similar: nearest perceptual hashes first, visibility respected."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from dam.context import Context
from dam.db import session_scope
from dam.search.similar import find_similar
from dam.worker import run_pending
from tests.conftest import Clock
from tests.search.support import make_asset, set_phash, set_state


def test_similar_orders_nearest_first_and_respects_distance_and_visibility(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    designer: dict[str, str],
    marketer: dict[str, str],
) -> None:
    hashes = {
        "origin": "0000000000000000",
        "one_bit": "0000000000000001",
        "eight_bits": "00000000000000ff",
        "far": "ffffffffffffffff",
        "two_bits": "0000000000000003",
    }
    ids = {
        name: make_asset(client, designer, clock, seed=n + 1, title=f"Image {name}")
        for n, name in enumerate(hashes)
    }
    for name, value in hashes.items():
        set_phash(ctx, ids[name], value)

    url = f"/api/v1/assets/{ids['origin']}/similar"
    body = client.get(url, headers=designer).json()
    assert [(h["id"], h["distance"]) for h in body["items"]] == [
        (ids["one_bit"], 1),
        (ids["two_bits"], 2),
        (ids["eight_bits"], 8),
    ]
    # No thumbnail is advertised before the worker has made it.
    assert [h["thumbnail_url"] for h in body["items"]] == [None, None, None]
    run_pending(ctx)
    body = client.get(url, headers=designer).json()
    assert body["items"][0]["thumbnail_url"].endswith("/renditions/thumb?version=1")
    near = client.get(url, headers=designer, params={"max_distance": 1}).json()
    assert [h["id"] for h in near["items"]] == [ids["one_bit"]]

    # Marketers only see published assets, and only from a published one.
    assert client.get(url, headers=marketer).status_code == 404
    for name in ("origin", "two_bits"):
        set_state(ctx, ids[name], published=True)
    body = client.get(url, headers=marketer).json()
    assert [(h["id"], h["distance"]) for h in body["items"]] == [(ids["two_bits"], 2)]


def test_find_similar_sees_new_versions_and_excludes_the_asset_itself(
    client: TestClient, ctx: Context, clock: Clock, designer: dict[str, str]
) -> None:
    first = make_asset(client, designer, clock, seed=1, title="First")
    set_phash(ctx, first, "0f0f0f0f0f0f0f0f")
    with session_scope(ctx.engine) as session:
        assert find_similar(
            session, phash="0f0f0f0f0f0f0f0e", exclude_asset_id=None, max_distance=4
        ) == [(uuid.UUID(first), 1, 1)]
    second = make_asset(client, designer, clock, seed=2, title="Second")
    set_phash(ctx, second, "0f0f0f0f0f0f0f0f")
    with session_scope(ctx.engine) as session:
        found = find_similar(
            session, phash="0f0f0f0f0f0f0f0f", exclude_asset_id=uuid.UUID(first), max_distance=0
        )
    assert found == [(uuid.UUID(second), 1, 0)]
