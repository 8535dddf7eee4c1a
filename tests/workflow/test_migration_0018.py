"""Migration 0018 gives every version already submitted its review round: the single review
of before is one `brand` stage, with the decision the version's review columns recorded."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from dam.context import Context
from dam.db import alembic_config
from dam.models import ReviewDecision, ReviewRound, ReviewStageRun
from tests.workflow.support import REASON, drive_to, new_asset, new_version, transition

pytestmark = pytest.mark.usefixtures("db_backend")


def _migrate(ctx: Context, revision: str, *, down: bool = False) -> None:
    with ctx.engine.begin() as conn:
        cfg = alembic_config(str(ctx.engine.url.render_as_string(hide_password=False)))
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _before_0018(ctx: Context) -> str:
    cfg = alembic_config(str(ctx.engine.url.render_as_string(hide_password=False)))
    down = ScriptDirectory.from_config(cfg).get_revision("0018").down_revision
    assert isinstance(down, str)
    return down


def _rounds(ctx: Context) -> dict[tuple[str, int], Any]:
    with Session(ctx.engine) as session:
        out = {}
        for round_ in session.exec(select(ReviewRound)):
            runs = session.exec(
                select(ReviewStageRun).where(col(ReviewStageRun.round_id) == round_.id)
            ).all()
            decisions = session.exec(
                select(ReviewDecision).where(col(ReviewDecision.round_id) == round_.id)
            ).all()
            out[(str(round_.asset_id), round_.version)] = (
                round_.number,
                round_.state.value,
                round_.reason,
                [(r.stage, r.state.value, r.roles, r.due_at) for r in runs],
                [(d.verdict, d.reason) for d in decisions],
            )
        return out


def test_existing_reviews_migrate_to_one_brand_stage(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    ctx: Context,
) -> None:
    approved = new_asset(client, designer, seed=1)
    drive_to(client, approved, "approved", designer=designer, reviewer=brand_manager)
    rejected = new_asset(client, designer, seed=2)
    drive_to(client, rejected, "rejected", designer=designer, reviewer=brand_manager)
    waiting = new_asset(client, designer, seed=3)
    drive_to(client, waiting, "in_review", designer=designer, reviewer=brand_manager)
    superseded = new_asset(client, designer, seed=4)
    drive_to(client, superseded, "in_review", designer=designer, reviewer=brand_manager)
    assert new_version(client, designer, superseded, seed=5) == 2
    draft = new_asset(client, designer, seed=6)

    _migrate(ctx, _before_0018(ctx), down=True)
    try:
        _migrate(ctx, "0018")
    finally:
        _migrate(ctx, "head")

    roles = ["brand_manager", "admin"]
    assert _rounds(ctx) == {
        (approved, 1): (
            1,
            "approved",
            None,
            [("brand", "approved", roles, None)],
            [("approved", None)],
        ),
        (rejected, 1): (
            1,
            "rejected",
            REASON,
            [("brand", "rejected", roles, None)],
            [("rejected", REASON)],
        ),
        (waiting, 1): (1, "open", None, [("brand", "active", roles, None)], []),
        (superseded, 1): (1, "superseded", None, [("brand", "cancelled", roles, None)], []),
    }
    assert not any(key[0] == draft for key in _rounds(ctx))
    # The migrated open review goes on: one approval publishes.
    response = transition(client, brand_manager, waiting, "approve")
    assert response.status_code == 200, response.text
    assert response.json()["published_version"] == 1
    # …and the rejected one resubmits into round 2, routed by the pack in force.
    assert transition(client, designer, rejected, "submit").status_code == 200
    with Session(ctx.engine) as session:
        numbers = session.exec(
            select(ReviewRound.number).where(col(ReviewRound.asset_id) == uuid.UUID(rejected))
        ).all()
    assert sorted(numbers) == [1, 2]
