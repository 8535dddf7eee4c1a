"""Rights expiry with the injected clock: warning once, expiry on time, renewal by PATCH."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from dam.context import Context
from dam.db import session_scope
from dam.models import Asset, AuditEvent
from dam.worker import run_scheduled
from dam.workflow.expiry import SweepResult, sweep_rights
from tests.conftest import Clock
from tests.workflow.support import drive_to, emitted, new_asset

pytestmark = pytest.mark.usefixtures("db_backend")

WEEK = timedelta(days=7)


def _sweep(ctx: Context) -> SweepResult:
    with session_scope(ctx.engine) as session:
        return sweep_rights(session, now=ctx.now(), warn_before=WEEK)


def _asset(ctx: Context, asset_id: str) -> Asset:
    with Session(ctx.engine) as session:
        asset = session.get(Asset, uuid.UUID(asset_id))
        assert asset is not None
        return asset


def _expiry_events(ctx: Context, asset_id: str) -> list[str]:
    return sorted(t for t, _ in emitted(ctx, asset_id) if t in {"asset.expiring", "asset.expired"})


def _published(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    expires: datetime | None,
    seed: int = 1,
) -> str:
    metadata = {"rights_expire_at": expires.isoformat()} if expires else {}
    asset_id = new_asset(client, designer, seed=seed, **metadata)
    drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)
    return asset_id


def test_sweep_warns_once_then_expires_on_time(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    ctx: Context,
    clock: Clock,
) -> None:
    expires = clock.now + timedelta(days=10)
    asset_id = _published(client, designer, brand_manager, expires)
    never = _published(client, designer, brand_manager, None, seed=2)
    later = _published(client, designer, brand_manager, expires + timedelta(days=30), seed=3)

    assert _sweep(ctx) == SweepResult()

    clock.advance(days=3, seconds=1)  # 7 days minus a second before expiry
    assert _sweep(ctx) == SweepResult(warned=[uuid.UUID(asset_id)])
    assert _asset(ctx, asset_id).rights_warned_at == clock.now
    assert _sweep(ctx) == SweepResult()
    clock.advance(days=6, hours=23)
    assert _sweep(ctx) == SweepResult()
    assert _expiry_events(ctx, asset_id) == ["asset.expiring"]
    assert client.get(f"/api/v1/assets/{asset_id}", headers=marketer).status_code == 200

    clock.advance(seconds=3599)  # exactly the expiry instant
    assert clock.now == expires
    assert _sweep(ctx) == SweepResult(expired=[uuid.UUID(asset_id)])
    assert _asset(ctx, asset_id).status == "expired"
    assert client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()["status"] == "expired"
    assert client.get(f"/api/v1/assets/{asset_id}", headers=marketer).status_code == 404
    assert _expiry_events(ctx, asset_id) == ["asset.expired", "asset.expiring"]
    assert _sweep(ctx) == SweepResult()

    with Session(ctx.engine) as session:
        audit = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "asset.expired")
        ).one()
    assert audit.asset_id == uuid.UUID(asset_id)
    assert audit.actor_name == "system"
    assert audit.changes["status"] == {"before": "active", "after": "expired"}
    for other in (never, later):
        assert _asset(ctx, other).status == "active"
        assert _expiry_events(ctx, other) == []


def test_asset_expiring_inside_the_warning_window_is_warned_at_once(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    ctx: Context,
    clock: Clock,
) -> None:
    soon = _published(client, designer, brand_manager, clock.now + timedelta(days=2))
    past = _published(client, designer, brand_manager, clock.now - timedelta(days=1), seed=2)
    result = _sweep(ctx)
    assert result == SweepResult(expired=[uuid.UUID(past)], warned=[uuid.UUID(soon)])
    assert _expiry_events(ctx, past) == ["asset.expired"]


def test_worker_schedule_expires_within_a_minute(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    ctx: Context,
    clock: Clock,
) -> None:
    expires = clock.now + timedelta(days=1)
    asset_id = _published(client, designer, brand_manager, expires)
    run_scheduled(ctx)
    assert _asset(ctx, asset_id).rights_warned_at == clock.now
    assert _expiry_events(ctx, asset_id) == ["asset.expiring"]

    clock.advance(days=1, seconds=-1)
    run_scheduled(ctx)
    assert _asset(ctx, asset_id).status == "active"
    clock.advance(seconds=59)
    run_scheduled(ctx)
    assert _asset(ctx, asset_id).status == "expired"
    assert client.get(f"/api/v1/assets/{asset_id}", headers=marketer).status_code == 404
    assert _expiry_events(ctx, asset_id) == ["asset.expired", "asset.expiring"]


def test_renewing_rights_returns_an_expired_asset_to_active_once_approved(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    ctx: Context,
    clock: Clock,
) -> None:
    asset_id = _published(client, designer, brand_manager, clock.now + timedelta(days=1))
    _sweep(ctx)
    clock.advance(days=2)
    _sweep(ctx)
    assert _asset(ctx, asset_id).status == "expired"

    still_past = client.patch(
        f"/api/v1/assets/{asset_id}",
        headers=designer,
        json={"rights_expire_at": (clock.now - timedelta(hours=1)).isoformat()},
    )
    assert still_past.status_code == 200
    assert still_past.json()["status"] == "expired"

    # Extending rights is reviewed like any other metadata change: nothing changes live yet.
    renewed_until = clock.now + timedelta(days=365)
    response = client.patch(
        f"/api/v1/assets/{asset_id}",
        headers=designer,
        json={"rights_expire_at": renewed_until.isoformat()},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "expired"
    assert response.json()["pending_changes"] == ["rights_expire_at"]
    assert client.get(f"/api/v1/assets/{asset_id}", headers=marketer).status_code == 404

    drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)
    asset = _asset(ctx, asset_id)
    assert (asset.status, asset.rights_warned_at) == ("active", None)
    assert client.get(f"/api/v1/assets/{asset_id}", headers=marketer).status_code == 200
    with Session(ctx.engine) as session:
        (approval,) = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.action) == "asset.approved")
            .where(col(AuditEvent.at) == clock.now)
        ).all()
    assert approval.published
    live = approval.changes["published_metadata"]
    assert live["status"] == {"before": "expired", "after": "active"}
    assert live["rights_expire_at"]["after"] == renewed_until.isoformat()

    # The new date gets its own warning in time.
    clock.advance(days=365 - 6)
    assert _sweep(ctx) == SweepResult(warned=[uuid.UUID(asset_id)])


def test_clearing_the_expiry_date_also_renews_once_approved(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    ctx: Context,
    clock: Clock,
) -> None:
    asset_id = _published(client, designer, brand_manager, clock.now - timedelta(minutes=1))
    _sweep(ctx)
    response = client.patch(
        f"/api/v1/assets/{asset_id}", headers=designer, json={"rights_expire_at": None}
    )
    assert response.json()["status"] == "expired"
    drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)
    assert _asset(ctx, asset_id).status == "active"
    clock.advance(days=3650)
    assert _sweep(ctx) == SweepResult()


def test_archived_assets_are_not_expired(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    ctx: Context,
    clock: Clock,
) -> None:
    asset_id = _published(client, designer, brand_manager, clock.now + timedelta(days=1))
    assert client.delete(f"/api/v1/assets/{asset_id}", headers=designer).status_code == 200
    clock.advance(days=2)
    assert _sweep(ctx) == SweepResult()
    assert _asset(ctx, asset_id).status == "archived"


def test_new_version_with_a_later_rights_date_renews_an_expired_asset_once_approved(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    ctx: Context,
    clock: Clock,
) -> None:
    from tests.factories import image_bytes, upload

    asset_id = _published(client, designer, brand_manager, clock.now - timedelta(minutes=1))
    _sweep(ctx)
    assert _asset(ctx, asset_id).status == "expired"
    response = upload(
        client,
        designer,
        image_bytes(size=(64, 48), seed=9),
        metadata={"rights_expire_at": (clock.now + timedelta(days=90)).isoformat()},
        path=f"/api/v1/assets/{asset_id}/versions",
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "expired"  # a later date waits for the reviewer
    drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)
    assert _asset(ctx, asset_id).status == "active"
