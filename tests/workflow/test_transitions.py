"""Review transitions through the API: the full table per role, and the rules around it."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from dam.context import Context
from dam.db import session_scope
from dam.models import AssetVersion, AuditEvent, Role
from tests.conftest import Clock, Keys
from tests.workflow.support import (
    REASON,
    drive_to,
    emitted,
    new_asset,
    new_version,
    principal_id,
    review_state,
    transition,
)

pytestmark = pytest.mark.usefixtures("db_backend")

STATES = ("draft", "in_review", "approved", "rejected")
# (state, action) -> the state it leads to; None means the transition is refused with 409.
TABLE: dict[tuple[str, str], str | None] = {
    ("draft", "submit"): "in_review",
    ("in_review", "submit"): None,
    ("approved", "submit"): None,
    ("rejected", "submit"): "in_review",
    ("draft", "approve"): None,
    ("in_review", "approve"): "approved",
    ("approved", "approve"): None,
    ("rejected", "approve"): None,
    ("draft", "reject"): None,
    ("in_review", "reject"): "rejected",
    ("approved", "reject"): None,
    ("rejected", "reject"): None,
}
MAY = {
    "submit": {Role.admin, Role.brand_manager, Role.designer},
    "approve": {Role.admin, Role.brand_manager},
    "reject": {Role.admin, Role.brand_manager},
}
AUDIT_ACTION = {
    "submit": "asset.submitted",
    "approve": "asset.approved",
    "reject": "asset.rejected",
}


def _audit_actions(ctx: Context, asset_id: str) -> list[str]:
    with Session(ctx.engine) as session:
        return sorted(
            session.exec(
                select(AuditEvent.action).where(col(AuditEvent.asset_id) == uuid.UUID(asset_id))
            ).all()
        )


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", ["submit", "approve", "reject"])
@pytest.mark.parametrize("state", STATES)
def test_transition_table(
    client: TestClient,
    keys: Keys,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    ctx: Context,
    state: str,
    action: str,
    role: Role,
) -> None:
    asset_id = new_asset(client, designer)
    drive_to(client, asset_id, state, designer=designer, reviewer=brand_manager)
    audit_before = _audit_actions(ctx, asset_id)
    actor = keys.headers(role)

    response = transition(client, actor, asset_id, action)

    expected = TABLE[(state, action)]
    if role not in MAY[action]:
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "forbidden"
    elif expected is None:
        assert response.status_code == 409, response.text
        body = response.json()
        assert body["error"] == "invalid_transition"
        assert body["review_state"] == state
        assert f"version 1 is {state}" in body["detail"]
    else:
        assert response.status_code == 200, response.text
        assert response.json()["current_version"]["review_state"] == expected
        assert _audit_actions(ctx, asset_id) == sorted([*audit_before, AUDIT_ACTION[action]])
        return
    assert review_state(client, designer, asset_id) == state
    assert _audit_actions(ctx, asset_id) == audit_before


def test_approval_publishes_and_a_new_version_does_not_replace_it(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str], ctx: Context
) -> None:
    asset_id = new_asset(client, designer)
    assert (
        client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()["published_version"]
        is None
    )
    drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)
    body = client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()
    assert body["published_version"] == 1

    assert new_version(client, designer, asset_id, seed=2) == 2
    body = client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()
    assert body["published_version"] == 1
    assert body["current_version"]["review_state"] == "draft"

    drive_to(client, asset_id, "rejected", designer=designer, reviewer=brand_manager)
    assert (
        client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()["published_version"] == 1
    )

    assert transition(client, designer, asset_id, "submit").status_code == 200
    approved = transition(client, brand_manager, asset_id, "approve")
    assert approved.status_code == 200
    assert approved.json()["published_version"] == 2
    assert [t for t, _ in emitted(ctx, asset_id) if t == "asset.approved"] == [
        "asset.approved",
        "asset.approved",
    ]


def test_uploader_may_not_approve_own_version(
    client: TestClient, keys: Keys, brand_manager: dict[str, str]
) -> None:
    asset_id = new_asset(client, brand_manager)
    assert transition(client, brand_manager, asset_id, "submit").status_code == 200
    own = transition(client, brand_manager, asset_id, "approve")
    assert own.status_code == 403
    assert own.json()["error"] == "self_approval"
    assert review_state(client, brand_manager, asset_id) == "in_review"
    # Rejecting one's own version (withdrawing it) is allowed.
    assert transition(client, brand_manager, asset_id, "reject").status_code == 200
    assert transition(client, brand_manager, asset_id, "submit").status_code == 200
    other = transition(client, keys.headers(Role.brand_manager), asset_id, "approve")
    assert other.status_code == 200


def test_admin_may_approve_own_version(client: TestClient, admin: dict[str, str]) -> None:
    asset_id = new_asset(client, admin)
    assert transition(client, admin, asset_id, "submit").status_code == 200
    response = transition(client, admin, asset_id, "approve")
    assert response.status_code == 200
    assert response.json()["published_version"] == 1


def _set_compliance(ctx: Context, asset_id: str, status: str) -> None:
    with session_scope(ctx.engine) as session:
        version = session.exec(
            select(AssetVersion).where(col(AssetVersion.asset_id) == uuid.UUID(asset_id))
        ).one()
        version.compliance_status = status
        version.compliance = {
            "status": status,
            "violations": [{"rule": "min-width", "severity": "block", "message": "too narrow"}],
            "revision": "test",
        }
        session.add(version)


def test_submit_is_refused_while_compliance_fails(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    asset_id = new_asset(client, designer)
    _set_compliance(ctx, asset_id, "fail")
    refused = transition(client, designer, asset_id, "submit")
    assert refused.status_code == 409
    assert refused.json()["error"] == "compliance_failed"
    assert refused.json()["violations"][0]["rule"] == "min-width"
    assert review_state(client, designer, asset_id) == "draft"

    _set_compliance(ctx, asset_id, "warn")
    assert transition(client, designer, asset_id, "submit").status_code == 200


@pytest.mark.parametrize("reason", ["", "   \n"])
def test_reject_needs_a_reason(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    reason: str,
) -> None:
    asset_id = new_asset(client, designer)
    drive_to(client, asset_id, "in_review", designer=designer, reviewer=brand_manager)
    response = transition(client, brand_manager, asset_id, "reject", reason=reason)
    assert response.status_code == 422
    assert response.json()["error"] == "reason_required"
    missing = client.post(f"/api/v1/assets/{asset_id}/reject", headers=brand_manager, json={})
    assert missing.status_code == 422
    assert missing.json()["error"] == "invalid_request"
    assert review_state(client, designer, asset_id) == "in_review"


def test_rejection_reason_is_shown_and_cleared_on_resubmission(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str], ctx: Context
) -> None:
    asset_id = new_asset(client, designer)
    drive_to(client, asset_id, "rejected", designer=designer, reviewer=brand_manager)
    version = client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()["current_version"]
    assert (version["review_state"], version["review_reason"]) == ("rejected", REASON)
    with Session(ctx.engine) as session:
        event = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "asset.rejected")
        ).one()
    assert event.changes == {
        "review_state": {"before": "in_review", "after": "rejected"},
        "reason": REASON,
        "stage": "brand",
    }
    resubmitted = transition(client, designer, asset_id, "submit").json()["current_version"]
    assert (resubmitted["review_state"], resubmitted["review_reason"]) == ("in_review", None)


def test_each_transition_emits_its_event(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str], ctx: Context
) -> None:
    asset_id = new_asset(client, designer)
    drive_to(client, asset_id, "rejected", designer=designer, reviewer=brand_manager)
    drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)
    review_events = [
        event
        for event in emitted(ctx, asset_id)
        if event[0] in {"asset.submitted", "asset.approved", "asset.rejected"}
    ]
    assert sorted(review_events) == sorted(
        [
            ("asset.submitted", 1),
            ("asset.rejected", 1),
            ("asset.submitted", 1),
            ("asset.approved", 1),
        ]
    )


def test_transitions_on_archived_asset_are_refused(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str]
) -> None:
    asset_id = new_asset(client, designer)
    drive_to(client, asset_id, "in_review", designer=designer, reviewer=brand_manager)
    assert client.delete(f"/api/v1/assets/{asset_id}", headers=designer).status_code == 200
    response = transition(client, brand_manager, asset_id, "approve")
    assert response.status_code == 409
    assert response.json()["error"] == "asset_archived"


def test_transitions_act_on_the_current_version_only(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str]
) -> None:
    asset_id = new_asset(client, designer)
    drive_to(client, asset_id, "in_review", designer=designer, reviewer=brand_manager)
    new_version(client, designer, asset_id, seed=2)
    response = transition(client, brand_manager, asset_id, "approve")
    assert response.status_code == 409
    assert response.json()["review_state"] == "draft"
    assert response.json()["version"] == 2


def test_stale_if_match_refuses_the_transition(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str]
) -> None:
    asset_id = new_asset(client, designer)
    stale = client.get(f"/api/v1/assets/{asset_id}", headers=designer).headers["etag"]
    submitted = transition(client, designer, asset_id, "submit", extra_headers={"If-Match": stale})
    assert submitted.status_code == 200
    assert submitted.headers["etag"] != stale
    refused = transition(
        client, brand_manager, asset_id, "approve", extra_headers={"If-Match": stale}
    )
    assert refused.status_code == 412
    current = transition(
        client,
        brand_manager,
        asset_id,
        "approve",
        extra_headers={"If-Match": submitted.headers["etag"]},
    )
    assert current.status_code == 200


def test_concurrent_verdicts_cannot_both_win(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    ctx: Context,
    db_backend: str,
) -> None:
    """Two reviewers read the version in review; the first verdict commits and the second is
    refused by the revision compare-and-set."""
    if db_backend == "sqlite":
        pytest.skip("SQLite serialises write transactions, so the two cannot interleave")
    from dam.errors import Conflict
    from dam.models import Asset
    from dam.principal import Principal
    from dam.workflow import service

    asset_id = new_asset(client, designer)
    drive_to(client, asset_id, "in_review", designer=designer, reviewer=brand_manager)
    first = Principal(id=uuid.uuid4(), name="first", role=Role.brand_manager)
    second = Principal(id=uuid.uuid4(), name="second", role=Role.brand_manager)
    with Session(ctx.engine) as a, Session(ctx.engine) as b:
        asset_a, asset_b = a.get(Asset, uuid.UUID(asset_id)), b.get(Asset, uuid.UUID(asset_id))
        assert asset_a is not None and asset_b is not None
        # Held so the identity map keeps what b read before a's verdict.
        seen_by_b = b.exec(
            select(AssetVersion).where(col(AssetVersion.asset_id) == uuid.UUID(asset_id))
        ).one()
        service.approve(a, ctx=ctx, asset=asset_a, actor=first)
        a.commit()
        assert seen_by_b.review_state == "in_review"
        with pytest.raises(Conflict) as refused:
            service.reject(b, ctx=ctx, asset=asset_b, actor=second, reason="no")
        b.rollback()
    assert refused.value.code == "concurrent_update"
    assert review_state(client, designer, asset_id) == "approved"


def test_review_queue_is_oldest_first_with_waiting_time(
    client: TestClient,
    keys: Keys,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    clock: Clock,
    ctx: Context,
) -> None:
    other_designer = keys.headers(Role.designer, name="Ana Designer")
    first = new_asset(client, designer, seed=1, title="First")
    second = new_asset(client, other_designer, seed=2, title="Second")
    third = new_asset(client, designer, seed=3, title="Third")
    _never_submitted = new_asset(client, designer, seed=4, title="Draft only")
    assert transition(client, other_designer, second, "submit").status_code == 200
    clock.advance(minutes=10)
    assert transition(client, designer, first, "submit").status_code == 200
    clock.advance(minutes=5)
    assert transition(client, designer, third, "submit").status_code == 200
    clock.advance(seconds=30)

    queue = client.get("/api/v1/review-queue", headers=brand_manager)
    assert queue.status_code == 200, queue.text
    body = queue.json()
    assert body["total"] == 3
    assert [(i["title"], i["waited_seconds"]) for i in body["items"]] == [
        ("Second", 930),
        ("First", 330),
        ("Third", 30),
    ]
    head = body["items"][0]
    assert head["asset_id"] == second
    assert head["version"] == 1
    assert head["uploader"] == {"id": principal_id(client, other_designer), "name": "Ana Designer"}
    compliance = client.get(f"/api/v1/assets/{second}", headers=designer).json()["current_version"][
        "compliance"
    ]
    assert head["compliance_status"] == compliance["status"]

    assert transition(client, brand_manager, second, "approve").status_code == 200
    new_version(client, designer, first, seed=5)  # supersedes the version in review
    remaining = client.get("/api/v1/review-queue", headers=brand_manager).json()
    assert [i["title"] for i in remaining["items"]] == ["Third"]
    paged = client.get("/api/v1/review-queue?page=2&page_size=1", headers=brand_manager).json()
    assert (paged["total"], paged["items"]) == (1, [])


@pytest.mark.parametrize("role", [Role.designer, Role.marketer, Role.automation])
def test_review_queue_is_for_reviewers(client: TestClient, keys: Keys, role: Role) -> None:
    response = client.get("/api/v1/review-queue", headers=keys.headers(role))
    assert response.status_code == 403


def test_new_version_withdraws_the_one_waiting_for_review(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str]
) -> None:
    asset_id = new_asset(client, designer, seed=1)
    assert transition(client, designer, asset_id, "submit").status_code == 200
    assert new_version(client, designer, asset_id, seed=2) == 2
    versions = client.get(f"/api/v1/assets/{asset_id}/versions", headers=designer).json()
    assert [(v["number"], v["review_state"]) for v in versions] == [(2, "draft"), (1, "draft")]
    assert versions[1]["review_reason"] == "withdrawn from review: version 2 replaced it"
    queue = client.get("/api/v1/review-queue", headers=brand_manager).json()
    assert asset_id not in [item["asset_id"] for item in queue["items"]]
    history = client.get(f"/api/v1/assets/{asset_id}/history", headers=designer).json()
    created = [e for e in history["items"] if e["action"] == "asset.version_created"]
    assert created[0]["changes"]["withdrawn_from_review"] == [1]
