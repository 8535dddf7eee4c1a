"""Multi-stage review through the API: routing by terms, order and parallel steps, `any` and
`all`, rejection at a later stage and resubmission, `keep_on_resubmit`, named users."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dam.context import Context
from dam.db import session_scope
from dam.errors import Forbidden
from dam.governance.holder import GovernanceHolder
from dam.models import Asset, Role
from dam.principal import SYSTEM, Principal
from dam.web import auth
from dam.workflow import service
from tests.conftest import ROOT, Keys
from tests.workflow.support import METADATA, emitted, new_asset, review_state, transition

pytestmark = pytest.mark.usefixtures("db_backend")

LICENSED: dict[str, Any] = {
    "terms": {**METADATA["terms"], "usage_rights": ["stock"]},
    "rights_expire_at": "2027-06-30T00:00:00Z",
}
LICENSED_DE: dict[str, Any] = {
    "terms": {**METADATA["terms"], "usage_rights": ["stock"], "region": ["de"]},
    "rights_expire_at": "2027-06-30T00:00:00Z",
}


def use_review_pack(ctx: Context, tmp_path: Path, review_yaml: str) -> None:
    """The shipped pack with another review.yaml."""
    pack_dir = tmp_path / "pack"
    shutil.copytree(ROOT / "taxonomy", pack_dir)
    (pack_dir / "review.yaml").write_text(review_yaml)
    ctx.governance = GovernanceHolder(pack_dir)


def review(client: TestClient, headers: dict[str, str], asset_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/assets/{asset_id}/review", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def stages(client: TestClient, headers: dict[str, str], asset_id: str) -> list[tuple[str, str]]:
    """(stage, state) of the newest round."""
    newest = review(client, headers, asset_id)["rounds"][0]
    return [(s["stage"], s["state"]) for s in newest["stages"]]


def approve(
    client: TestClient, headers: dict[str, str], asset_id: str, stage: str | None = None
) -> Any:
    return client.post(
        f"/api/v1/assets/{asset_id}/approve",
        headers=headers,
        json=None if stage is None else {"stage": stage},
    )


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({}, ["brand"]),
        (LICENSED, ["brand", "legal"]),
        ({"terms": {**METADATA["terms"], "region": ["se"]}}, ["brand", "regional"]),
        ({"terms": {**METADATA["terms"], "region": ["amer"]}}, ["brand"]),
        (LICENSED_DE, ["brand", "legal", "regional"]),
    ],
)
def test_stages_are_routed_by_terms(
    client: TestClient,
    designer: dict[str, str],
    metadata: dict[str, Any],
    expected: list[str],
) -> None:
    asset_id = new_asset(client, designer, **metadata)
    assert transition(client, designer, asset_id, "submit").status_code == 200
    routed = stages(client, designer, asset_id)
    assert [s for s, _ in routed] == expected
    assert [state for _, state in routed] == ["active"] + ["waiting"] * (len(expected) - 1)


def test_last_stage_publishes_and_fires_approved_once(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str], ctx: Context
) -> None:
    asset_id = new_asset(client, designer, **LICENSED)
    assert transition(client, designer, asset_id, "submit").status_code == 200

    first = approve(client, brand_manager, asset_id)
    assert first.status_code == 200, first.text
    assert first.json()["current_version"]["review_state"] == "in_review"
    assert first.json()["published_version"] is None
    assert stages(client, designer, asset_id) == [("brand", "approved"), ("legal", "active")]

    second = approve(client, brand_manager, asset_id)
    assert second.status_code == 200, second.text
    assert second.json()["current_version"]["review_state"] == "approved"
    assert second.json()["published_version"] == 1
    assert stages(client, designer, asset_id) == [("brand", "approved"), ("legal", "approved")]

    # Events of one transaction share their time, so compare them as a multiset.
    review_events = sorted(
        t for t, _ in emitted(ctx, asset_id) if t.startswith("review.") or t == "asset.approved"
    )
    assert review_events == [
        "asset.approved",
        "review.stage_approved",  # brand
        "review.stage_approved",  # legal
        "review.stage_started",  # brand
        "review.stage_started",  # legal
    ]
    # Nothing is left to approve.
    again = approve(client, brand_manager, asset_id)
    assert again.status_code == 409
    assert again.json()["error"] == "invalid_transition"


def test_rejection_at_stage_two_sends_back_and_resubmission_restarts_at_stage_one(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str]
) -> None:
    asset_id = new_asset(client, designer, **LICENSED)
    assert transition(client, designer, asset_id, "submit").status_code == 200
    assert approve(client, brand_manager, asset_id).status_code == 200
    rejected = client.post(
        f"/api/v1/assets/{asset_id}/reject",
        headers=brand_manager,
        json={"reason": "The stock licence excludes paid social", "stage": "legal"},
    )
    assert rejected.status_code == 200, rejected.text
    version = rejected.json()["current_version"]
    assert (version["review_state"], version["review_reason"]) == (
        "rejected",
        "The stock licence excludes paid social",
    )
    history = review(client, designer, asset_id)["rounds"]
    assert [(r["number"], r["state"], r["reason"]) for r in history] == [
        (1, "rejected", "The stock licence excludes paid social")
    ]
    assert [(s["stage"], s["state"]) for s in history[0]["stages"]] == [
        ("brand", "approved"),
        ("legal", "rejected"),
    ]
    assert history[0]["stages"][1]["decisions"][0]["verdict"] == "rejected"

    assert transition(client, designer, asset_id, "submit").status_code == 200
    # A rejected stage is never kept: round 2 starts at brand.
    assert stages(client, designer, asset_id) == [("brand", "active"), ("legal", "waiting")]
    assert [r["number"] for r in review(client, designer, asset_id)["rounds"]] == [2, 1]


def test_keep_on_resubmit_carries_an_approval_over(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str]
) -> None:
    """The shipped pack keeps `legal` on resubmission: the licence was cleared once."""
    asset_id = new_asset(client, designer, **LICENSED_DE)
    assert transition(client, designer, asset_id, "submit").status_code == 200
    assert approve(client, brand_manager, asset_id).status_code == 200  # brand
    assert approve(client, brand_manager, asset_id).status_code == 200  # legal
    assert transition(client, brand_manager, asset_id, "reject").status_code == 200  # regional

    assert transition(client, designer, asset_id, "submit").status_code == 200
    newest = review(client, designer, asset_id)["rounds"][0]
    assert [(s["stage"], s["state"], s["carried"]) for s in newest["stages"]] == [
        ("brand", "active", False),
        ("legal", "approved", True),
        ("regional", "waiting", False),
    ]
    assert approve(client, brand_manager, asset_id).status_code == 200  # brand
    assert stages(client, designer, asset_id)[2] == ("regional", "active")
    final = approve(client, brand_manager, asset_id)
    assert final.json()["current_version"]["review_state"] == "approved"


PARALLEL = """
stages:
  - id: brand
    approvers: {roles: [brand_manager, admin]}
    sla_hours: 8
  - id: legal
    approvers: {roles: [admin]}
    sla_hours: 16
  - id: regional
    parallel: true
    approvers: {roles: [brand_manager]}
    sla_hours: 4
"""


def test_parallel_stages_are_active_together_and_named_by_stage(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    admin: dict[str, str],
    ctx: Context,
    tmp_path: Path,
) -> None:
    use_review_pack(ctx, tmp_path, PARALLEL)
    asset_id = new_asset(client, designer)
    assert transition(client, designer, asset_id, "submit").status_code == 200
    assert approve(client, brand_manager, asset_id).status_code == 200
    assert stages(client, designer, asset_id) == [
        ("brand", "approved"),
        ("legal", "active"),
        ("regional", "active"),
    ]
    # A brand manager does not approve legal.
    refused = approve(client, brand_manager, asset_id, stage="legal")
    assert refused.status_code == 403
    assert refused.json()["error"] == "not_an_approver"
    assert approve(client, brand_manager, asset_id).status_code == 200  # regional, the one it may
    waiting = approve(client, brand_manager, asset_id)
    assert waiting.status_code == 403
    assert "'legal' by admin" in waiting.json()["detail"]
    not_active = approve(client, admin, asset_id, stage="regional")
    assert (not_active.status_code, not_active.json()["error"]) == (409, "stage_not_active")
    unknown = approve(client, admin, asset_id, stage="finance")
    assert (unknown.status_code, unknown.json()["error"]) == (422, "unknown_stage")
    done = approve(client, admin, asset_id, stage="legal")
    assert done.json()["current_version"]["review_state"] == "approved"


ALL = """
stages:
  - id: brand
    approvers: {roles: [brand_manager, admin]}
    require: all
"""


def test_all_needs_one_approval_per_listed_role(
    client: TestClient,
    designer: dict[str, str],
    keys: Keys,
    admin: dict[str, str],
    ctx: Context,
    tmp_path: Path,
) -> None:
    use_review_pack(ctx, tmp_path, ALL)
    manager, other_manager = keys.headers(Role.brand_manager), keys.headers(Role.brand_manager)
    asset_id = new_asset(client, designer)
    assert transition(client, designer, asset_id, "submit").status_code == 200
    assert approve(client, manager, asset_id).status_code == 200
    assert review_state(client, designer, asset_id) == "in_review"
    twice = approve(client, manager, asset_id)
    assert (twice.status_code, twice.json()["error"]) == (409, "already_approved")
    counted = approve(client, other_manager, asset_id)
    assert (counted.status_code, counted.json()["error"]) == (409, "approval_not_needed")
    assert "role admin" in counted.json()["detail"]
    assert approve(client, admin, asset_id).json()["current_version"]["review_state"] == (
        "approved"
    )


USERS = """
stages:
  - id: brand
    approvers: {roles: [admin]}
  - id: legal
    approvers: {users: [Lena.Legal@example.com]}
    require: all
"""


def test_a_stage_may_name_its_approvers_by_email(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    admin: dict[str, str],
    ctx: Context,
    tmp_path: Path,
) -> None:
    use_review_pack(ctx, tmp_path, USERS)
    asset_id = new_asset(client, designer)
    assert transition(client, designer, asset_id, "submit").status_code == 200
    assert approve(client, admin, asset_id).status_code == 200
    # Keys have no email: no key approves legal, an admin's neither.
    assert approve(client, admin, asset_id).status_code == 403
    with session_scope(ctx.engine) as session:
        lena = auth.create_user(
            session,
            email="lena.legal@example.com",
            password="correct horse battery",
            role=Role.brand_manager,
            name="Lena",
            actor=SYSTEM,
            now=ctx.now(),
        )
        other = auth.create_user(
            session,
            email="otto@example.com",
            password="correct horse battery",
            role=Role.brand_manager,
            actor=SYSTEM,
            now=ctx.now(),
        )
        people = [Principal(id=u.id, name=u.name, role=u.role, kind="user") for u in (lena, other)]
    with session_scope(ctx.engine) as session:
        asset = session.get(Asset, uuid.UUID(asset_id))
        assert asset is not None
        with pytest.raises(Forbidden):
            service.approve(session, ctx=ctx, asset=asset, actor=people[1])
    with session_scope(ctx.engine) as session:
        asset = session.get(Asset, uuid.UUID(asset_id))
        assert asset is not None
        version = service.approve(session, ctx=ctx, asset=asset, actor=people[0])
        assert version.review_state == "approved"


def test_review_stages_of_the_pack_are_listed(client: TestClient, marketer: dict[str, str]) -> None:
    body = client.get("/api/v1/review-stages", headers=marketer).json()
    assert [(s["id"], s["step"], s["when"]) for s in body["stages"]] == [
        ("brand", 0, {}),
        ("legal", 1, {"usage_rights": ["licensed"]}),
        ("regional", 2, {"region": ["emea"]}),
    ]
    assert body["stages"][1]["keep_on_resubmit"] is True
