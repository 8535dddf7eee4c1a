"""The audit trail: one event per change with actor and request id; the audit and history APIs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session, col, select

from dam.context import Context
from dam.models import AuditEvent, Role
from tests.conftest import Clock, Keys
from tests.factories import image_bytes, upload
from tests.workflow.support import (
    METADATA,
    drive_to,
    new_asset,
    new_version,
    principal_id,
    transition,
)

pytestmark = pytest.mark.usefixtures("db_backend")


def _events_for_request(ctx: Context, request_id: str) -> list[AuditEvent]:
    with Session(ctx.engine) as session:
        return list(
            session.exec(select(AuditEvent).where(col(AuditEvent.request_id) == request_id))
        )


Call = Callable[[TestClient, dict[str, str], str, dict[str, str]], Response]


def _with(headers: dict[str, str], rid: dict[str, str]) -> dict[str, str]:
    return {**headers, **rid}


# Each case: (audit action, who acts, what is prepared, the call). A call gets the client, the
# actor's headers, the id of what was prepared ("" when nothing) and the request-id header.
CASES: list[tuple[str, str, str, Call]] = [
    (
        "asset.created",
        "designer",
        "none",
        lambda c, h, t, r: upload(
            c, _with(h, r), image_bytes(size=(64, 48), seed=9), metadata=METADATA
        ),
    ),
    (
        "asset.version_created",
        "designer",
        "draft",
        lambda c, h, t, r: upload(
            c,
            _with(h, r),
            image_bytes(size=(64, 48), seed=9),
            metadata=None,
            path=f"/api/v1/assets/{t}/versions",
        ),
    ),
    (
        "asset.version_restored",
        "designer",
        "two_versions",
        lambda c, h, t, r: c.post(f"/api/v1/assets/{t}/versions/1/restore", headers=_with(h, r)),
    ),
    (
        "asset.updated",
        "designer",
        "draft",
        lambda c, h, t, r: c.patch(
            f"/api/v1/assets/{t}", headers=_with(h, r), json={"title": "Renamed"}
        ),
    ),
    (
        "asset.archived",
        "designer",
        "draft",
        lambda c, h, t, r: c.delete(f"/api/v1/assets/{t}", headers=_with(h, r)),
    ),
    (
        "asset.submitted",
        "designer",
        "draft",
        lambda c, h, t, r: transition(c, h, t, "submit", extra_headers=r),
    ),
    (
        "asset.approved",
        "brand_manager",
        "in_review",
        lambda c, h, t, r: transition(c, h, t, "approve", extra_headers=r),
    ),
    (
        "asset.rejected",
        "brand_manager",
        "in_review",
        lambda c, h, t, r: transition(c, h, t, "reject", extra_headers=r),
    ),
    (
        "key.created",
        "admin",
        "none",
        lambda c, h, t, r: c.post(
            "/api/v1/keys", headers=_with(h, r), json={"name": "ci", "role": "designer"}
        ),
    ),
    (
        "key.revoked",
        "admin",
        "key",
        lambda c, h, t, r: c.delete(f"/api/v1/keys/{t}", headers=_with(h, r)),
    ),
    (
        "webhook.created",
        "admin",
        "none",
        lambda c, h, t, r: c.post(
            "/api/v1/webhooks",
            headers=_with(h, r),
            json={"url": "https://hooks.example/dam", "events": ["*"], "secret": "s" * 16},
        ),
    ),
    (
        "webhook.deleted",
        "admin",
        "webhook",
        lambda c, h, t, r: c.delete(f"/api/v1/webhooks/{t}", headers=_with(h, r)),
    ),
]


@pytest.mark.parametrize(("action", "who", "setup", "call"), CASES, ids=[c[0] for c in CASES])
def test_every_mutating_endpoint_leaves_exactly_one_audit_event(
    client: TestClient,
    keys: Keys,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    admin: dict[str, str],
    ctx: Context,
    action: str,
    who: str,
    setup: str,
    call: Call,
) -> None:
    actor = {"designer": designer, "brand_manager": brand_manager, "admin": admin}[who]
    target = ""
    if setup in {"draft", "two_versions", "in_review"}:
        target = new_asset(client, designer)
        if setup == "two_versions":
            new_version(client, designer, target, seed=2)
        if setup == "in_review":
            drive_to(client, target, "in_review", designer=designer, reviewer=brand_manager)
    elif setup == "key":
        created = client.post("/api/v1/keys", headers=admin, json={"name": "x", "role": "marketer"})
        target = created.json()["id"]
    elif setup == "webhook":
        created = client.post(
            "/api/v1/webhooks",
            headers=admin,
            json={"url": "https://hooks.example/x", "events": ["*"], "secret": "s" * 16},
        )
        target = created.json()["id"]
    request_id = f"req-{uuid.uuid4().hex[:12]}"

    response = call(client, actor, target, {"X-Request-ID": request_id})

    assert response.status_code < 300, response.text
    assert response.headers["x-request-id"] == request_id
    events = _events_for_request(ctx, request_id)
    assert [e.action for e in events] == [action]
    event = events[0]
    assert str(event.actor_id) == principal_id(client, actor)
    assert event.actor_role == who
    if action.startswith("asset."):
        expected_asset = target or response.json()["id"]
        assert str(event.asset_id) == expected_asset
    else:
        assert event.target == (target or response.json()["id"])


def _seed_trail(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    clock: Clock,
) -> tuple[str, str]:
    first = new_asset(client, designer, seed=1)
    clock.advance(minutes=1)
    second = new_asset(client, designer, seed=2)
    clock.advance(minutes=1)
    assert transition(client, designer, first, "submit").status_code == 200
    clock.advance(minutes=1)
    assert transition(client, brand_manager, first, "approve").status_code == 200
    return first, second


def test_audit_lists_newest_first_with_filters(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    admin: dict[str, str],
    clock: Clock,
) -> None:
    start = clock.advance(minutes=1)  # after the fixtures' key.created events
    first, second = _seed_trail(client, designer, brand_manager, clock)

    def actions(**params: str | int) -> list[tuple[str, str | None]]:
        response = client.get("/api/v1/audit", headers=admin, params=params)
        assert response.status_code == 200, response.text
        return [(i["action"], i["asset_id"]) for i in response.json()["items"]]

    assert actions(since=start.isoformat()) == [
        ("asset.approved", first),
        ("asset.submitted", first),
        ("asset.created", second),
        ("asset.created", first),
    ]
    assert actions(asset_id=first) == [
        ("asset.approved", first),
        ("asset.submitted", first),
        ("asset.created", first),
    ]
    assert actions(action="asset.created") == [("asset.created", second), ("asset.created", first)]
    assert actions(actor=principal_id(client, brand_manager)) == [("asset.approved", first)]
    assert actions(actor="brand_manager key", action="asset.approved") == [
        ("asset.approved", first)
    ]
    window = {
        "since": (start + timedelta(minutes=1)).isoformat(),
        "until": (start + timedelta(minutes=3)).isoformat(),
    }
    assert actions(**window) == [("asset.submitted", first), ("asset.created", second)]

    page = client.get(
        "/api/v1/audit",
        headers=brand_manager,
        params={"asset_id": first, "page_size": 2, "page": 2},
    ).json()
    assert (page["total"], [i["action"] for i in page["items"]]) == (3, ["asset.created"])
    item = client.get("/api/v1/audit", headers=admin, params={"action": "asset.approved"}).json()[
        "items"
    ][0]
    assert item["actor_role"] == "brand_manager"
    assert item["version"] == 1
    assert item["changes"]["review_state"] == {"before": "in_review", "after": "approved"}


def test_audit_refuses_naive_times(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get("/api/v1/audit", headers=admin, params={"since": "2026-01-01T00:00:00"})
    assert response.status_code == 422
    # Refused where it enters (dam.bounds), naming the parameter.
    assert response.json()["error"] == "invalid_request"
    assert "since" in response.json()["detail"]


@pytest.mark.parametrize("role", [Role.designer, Role.marketer, Role.automation])
def test_audit_is_for_admins_and_brand_managers(client: TestClient, keys: Keys, role: Role) -> None:
    assert client.get("/api/v1/audit", headers=keys.headers(role)).status_code == 403


def test_asset_history_follows_visibility(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    clock: Clock,
) -> None:
    first, second = _seed_trail(client, designer, brand_manager, clock)
    history = client.get(f"/api/v1/assets/{first}/history", headers=designer)
    assert history.status_code == 200
    assert [i["action"] for i in history.json()["items"]] == [
        "asset.approved",
        "asset.submitted",
        "asset.created",
    ]
    assert {i["asset_id"] for i in history.json()["items"]} == {first}
    assert client.get(f"/api/v1/assets/{first}/history", headers=marketer).status_code == 200
    assert client.get(f"/api/v1/assets/{second}/history", headers=marketer).status_code == 404
    missing = client.get(f"/api/v1/assets/{uuid.uuid4()}/history", headers=designer)
    assert missing.status_code == 404


def test_events_at_the_same_instant_keep_the_order_they_happened_in(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str]
) -> None:
    # The test clock does not move: every event below has the same `at`.
    asset = new_asset(client, designer, seed=1)
    assert transition(client, designer, asset, "submit").status_code == 200
    assert transition(client, brand_manager, asset, "approve").status_code == 200
    edited = client.patch(f"/api/v1/assets/{asset}", headers=designer, json={"tags": ["late"]})
    assert edited.status_code == 200, edited.text
    for _ in range(3):
        history = client.get(f"/api/v1/assets/{asset}/history", headers=designer).json()
        assert [i["action"] for i in history["items"]] == [
            "asset.updated",
            "asset.approved",
            "asset.submitted",
            "asset.created",
        ]


def test_ordered_ids_sort_in_the_order_they_were_made() -> None:
    from dam.models.types import new_ordered_id

    ids = [new_ordered_id() for _ in range(20_000)]  # several ms, and >4096 within some
    assert ids == sorted(ids)
    assert sorted(str(i) for i in ids) == [str(i) for i in ids]  # as text too (SQLite)
    assert len(set(ids)) == len(ids)
    assert {i.version for i in ids} == {7}
    assert {i.variant for i in ids} == {uuid.RFC_4122}
