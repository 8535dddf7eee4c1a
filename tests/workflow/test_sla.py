"""Due times from SLAs in working hours (team timezone, weekends, holidays), the review queue
sorted by due time with overdue work, and breaches announced once as events and webhooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from dam.config import Settings
from dam.context import Context
from dam.db import session_scope
from dam.models import AuditEvent
from dam.worker import run_pending, run_scheduled
from dam.workflow.calendar import WorkCalendar
from dam.workflow.sla import sweep_breaches, sweep_warnings
from tests.conftest import Clock
from tests.webhooks.receiver import receiver
from tests.workflow.support import emitted, new_asset, transition
from tests.workflow.test_stages import LICENSED, approve

pytestmark = pytest.mark.usefixtures("db_backend")

BERLIN = "Europe/Berlin"
# Monday 30 November 2026 is a (made-up) team holiday.
HOLIDAY = "2026-11-30"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "team_timezone": BERLIN,
            "holidays": HOLIDAY,
            "webhook_allow_private_networks": True,
        }
    )


def _calendar(**kw: str) -> WorkCalendar:
    return WorkCalendar.from_settings(Settings(team_timezone=BERLIN, holidays=HOLIDAY, **kw))


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        # Wednesday 10:00 Berlin + 4 h: the same afternoon.
        (_utc(2026, 11, 25, 9), 4, _utc(2026, 11, 25, 13)),
        # Friday 16:00 Berlin + 8 h: 1 h on Friday, the weekend and Monday's holiday skipped,
        # 7 h on Tuesday → Tuesday 16:00 Berlin.
        (_utc(2026, 11, 27, 15), 8, _utc(2026, 12, 1, 15)),
        # Saturday: counting starts when Tuesday opens (Monday is the holiday).
        (_utc(2026, 11, 28, 12), 2, _utc(2026, 12, 1, 10)),
        # Submitted after hours on Thursday: Friday 09:00 + 8 h fills Friday.
        (_utc(2026, 11, 26, 19), 8, _utc(2026, 11, 27, 16)),
        # 16 h from Friday 09:00 Berlin: Friday, then Tuesday → Tuesday 17:00 Berlin.
        (_utc(2026, 11, 27, 8), 16, _utc(2026, 12, 1, 16)),
        # Across the change to summer time (29 March): Friday 16:00 CET + 8 h → Monday 16:00
        # CEST, which is 14:00 UTC.
        (_utc(2026, 3, 27, 15), 8, _utc(2026, 3, 30, 14)),
    ],
)
def test_due_time_counts_working_hours_only(start: datetime, hours: float, due: datetime) -> None:
    calendar = _calendar()
    assert calendar.add_working_hours(start, hours) == due
    assert calendar.working_hours_between(start, due) == hours


def test_working_hours_and_days_are_settings() -> None:
    calendar = _calendar(working_hours="08:00-12:00", working_days="mon,wed")
    # Wednesday 25 Nov 08:00 Berlin + 6 h: 4 h Wednesday; Monday 30 is the holiday, so
    # Wednesday 2 Dec 10:00 Berlin.
    assert calendar.add_working_hours(_utc(2026, 11, 25, 7), 6) == _utc(2026, 12, 2, 9)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("team_timezone", "Mars/Olympus"),
        ("working_hours", "17:00-09:00"),
        ("working_hours", "nine to five"),
        ("working_days", "mon,funday"),
        ("holidays", "2026-13-01"),
    ],
)
def test_bad_calendar_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=value.split(",")[-1].split("-")[0]):
        Settings(**{name: value})  # type: ignore[arg-type]


def test_stage_due_times_and_the_queue_sorted_by_due_with_overdue(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    clock: Clock,
) -> None:
    clock.now = _utc(2026, 11, 27, 15)  # Friday 16:00 in Berlin
    late = new_asset(client, designer, seed=1, **LICENSED)
    assert transition(client, designer, late, "submit").status_code == 200
    clock.now = _utc(2026, 11, 27, 8)  # earlier that Friday (the clock is the tests')
    early = new_asset(client, designer, seed=2)
    assert transition(client, designer, early, "submit").status_code == 200

    queue = client.get("/api/v1/review-queue", headers=brand_manager).json()
    assert [(i["asset_id"], i["due_at"], i["overdue"]) for i in queue["items"]] == [
        (early, "2026-11-27T16:00:00Z", False),  # 8 h from Friday 09:00 Berlin
        (late, "2026-12-01T15:00:00Z", False),
    ]
    [stage] = queue["items"][1]["stages"]
    assert (stage["stage"], stage["sla_hours"], stage["due_at"]) == (
        "brand",
        8.0,
        "2026-12-01T15:00:00Z",
    )

    clock.now = _utc(2026, 11, 28, 12)  # Saturday: the early one is overdue
    queue = client.get("/api/v1/review-queue", headers=brand_manager).json()
    assert [(i["asset_id"], i["overdue"]) for i in queue["items"]] == [
        (early, True),
        (late, False),
    ]
    # Brand approves the late one on Tuesday at 10:00 Berlin: legal's 16 h start then: 7 h on
    # Tuesday, 8 on Wednesday, 1 on Thursday → Thursday 10:00 Berlin.
    clock.now = _utc(2026, 12, 1, 9)
    assert approve(client, brand_manager, late).status_code == 200
    item = next(
        i
        for i in client.get("/api/v1/review-queue", headers=brand_manager).json()["items"]
        if i["asset_id"] == late
    )
    assert [(s["stage"], s["due_at"]) for s in item["stages"]] == [
        ("legal", "2026-12-03T09:00:00Z")
    ]


def test_a_breach_is_announced_once_as_event_audit_and_webhook(
    client: TestClient,
    admin: dict[str, str],
    designer: dict[str, str],
    brand_manager: dict[str, str],
    clock: Clock,
    ctx: Context,
) -> None:
    with receiver() as hooks:
        subscribed = client.post(
            "/api/v1/webhooks",
            headers=admin,
            json={"url": hooks.url, "events": ["review.sla_breached"], "secret": "s" * 20},
        )
        assert subscribed.status_code == 201, subscribed.text
        clock.now = _utc(2026, 11, 27, 15)  # Friday 16:00 Berlin
        asset_id = new_asset(client, designer)
        assert transition(client, designer, asset_id, "submit").status_code == 200

        clock.now = _utc(2026, 12, 1, 14, 59)  # a minute before it is due
        with session_scope(ctx.engine) as session:
            assert sweep_breaches(session, now=ctx.now()) == []
        clock.now = _utc(2026, 12, 1, 15, 1)
        run_scheduled(ctx)  # the worker's periodic tasks
        with session_scope(ctx.engine) as session:
            assert sweep_breaches(session, now=ctx.now()) == []  # once only
        assert [t for t, _ in emitted(ctx, asset_id)].count("review.sla_breached") == 1
        run_pending(ctx)
        [delivery] = hooks.received
    body = json.loads(delivery.body)
    assert body["type"] == "review.sla_breached"
    assert body["data"]["stage"] == "brand"
    assert body["data"]["due_at"] == "2026-12-01T15:00:00+00:00"
    with Session(ctx.engine) as session:
        audit = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "review.sla_breached")
        ).one()
    assert audit.changes["sla_hours"] == 8.0
    review = client.get(f"/api/v1/assets/{asset_id}/review", headers=designer).json()
    assert review["rounds"][0]["stages"][0]["breached_at"] == "2026-12-01T15:01:00Z"
    # Approving late still works; the breach stays on the record.
    assert approve(client, brand_manager, asset_id).status_code == 200


def test_approvers_are_warned_once_before_the_due_time(
    client: TestClient, designer: dict[str, str], clock: Clock, ctx: Context
) -> None:
    """DAM_SLA_WARNING_HOURS (2) working hours before the due time: brand's 8 h from Friday
    16:00 Berlin are due Tuesday 16:00 Berlin, so the warning comes Tuesday 14:00 Berlin."""
    clock.now = _utc(2026, 11, 27, 15)
    asset_id = new_asset(client, designer)
    assert transition(client, designer, asset_id, "submit").status_code == 200
    for moment, expected in (
        (_utc(2026, 11, 30, 13), 0),  # Monday is the holiday
        (_utc(2026, 12, 1, 12, 59), 0),
        (_utc(2026, 12, 1, 13, 1), 1),
        (_utc(2026, 12, 1, 14), 0),  # once only
    ):
        clock.now = moment
        with session_scope(ctx.engine) as session:
            assert len(sweep_warnings(session, now=ctx.now())) == expected, moment
    events = [t for t, _ in emitted(ctx, asset_id)]
    assert events.count("review.sla_warning") == 1
    assert "review.sla_breached" not in events
