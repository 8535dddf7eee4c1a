"""The governance overview's counts, computed in SQL on both databases."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.context import Context
from dam.models import Asset, AssetStatus, AssetVersion
from dam.web.service import compliance_overview
from tests.web.support import new_asset


def _report(ctx: Context, asset_id: str, status: str, violations: list[dict[str, str]]) -> None:
    with Session(ctx.engine) as session:
        version = session.exec(
            select(AssetVersion).where(AssetVersion.asset_id == uuid.UUID(asset_id))
        ).one()
        version.compliance_status = status
        version.compliance = {"status": status, "violations": violations}
        session.add(version)
        session.commit()


def test_overview_counts_each_asset_once_per_rule(
    client: TestClient, ctx: Context, admin: dict[str, str]
) -> None:
    plain = new_asset(client, admin, seed=1)
    warned = new_asset(client, admin, seed=2)
    blocked = new_asset(client, admin, seed=3)
    archived = new_asset(client, admin, seed=4)
    no_report = new_asset(client, admin, seed=5)
    _report(ctx, plain, "pass", [])
    _report(
        ctx,
        warned,
        "warn",
        [
            {"rule": "palette", "severity": "warn", "message": "a"},
            {"rule": "palette", "severity": "warn", "message": "b"},  # one rule, two findings
            {"rule": "min-size", "severity": "warn", "message": "c"},
        ],
    )
    _report(
        ctx,
        blocked,
        "fail",
        [
            {"rule": "palette", "severity": "warn", "message": "d"},
            {"rule": "palette", "severity": "block", "message": "e"},  # blocking wins
        ],
    )
    _report(ctx, archived, "fail", [{"rule": "palette", "severity": "block", "message": "f"}])
    with Session(ctx.engine) as session:
        asset = session.get(Asset, uuid.UUID(archived))
        assert asset is not None
        asset.status = AssetStatus.archived
        session.add(asset)
        version = session.exec(
            select(AssetVersion).where(AssetVersion.asset_id == uuid.UUID(no_report))
        ).one()
        version.compliance_status = None
        version.compliance = None
        session.add(version)
        session.commit()

    with Session(ctx.engine) as session:
        overview = compliance_overview(session, pack=ctx.governance.pack)
    assert overview.assets == 4  # the archived asset is left out; the unchecked one counts
    assert overview.by_status == {"pass": 1, "warn": 1, "fail": 1}
    assert [(rule, b, w) for rule, _, b, w in overview.by_rule] == [
        ("palette", 1, 1),
        ("min-size", 0, 1),
    ]
