"""Turnaround figures, exact on a constructed history (every step at a set clock time).

Wednesday 25 November 2026, UTC (the team timezone by default), SLAs: brand 8 h, legal 16 h.

- A (instagram): up 09:00, submitted 10:00, brand approves 12:00.
- B (email, licensed): up and submitted 09:00, brand approves 13:00, legal rejects 15:00;
  resubmitted 17:00, brand approves Thu 09:00, legal Thu 10:00.
- C (instagram): up and submitted 09:00, brand approves Thu 12:00 (due Wed 17:00: breached).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Clock
from tests.workflow.support import METADATA, new_asset, transition
from tests.workflow.test_stages import LICENSED

pytestmark = pytest.mark.usefixtures("db_backend")


def _at(clock: Clock, day: int, hour: int) -> None:
    clock.now = datetime(2026, 11, day, hour, tzinfo=UTC)


def _ok(response: Any) -> None:
    assert response.status_code == 200, response.text


@pytest.fixture
def history(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    clock: Clock,
) -> dict[str, str]:
    instagram = {"terms": {**METADATA["terms"], "channel": ["instagram"]}}
    email = {**LICENSED, "terms": {**LICENSED["terms"], "channel": ["email"]}}
    _at(clock, 25, 9)
    a = new_asset(client, designer, seed=1, **instagram)
    b = new_asset(client, designer, seed=2, **email)
    c = new_asset(client, designer, seed=3, **instagram)
    _ok(transition(client, designer, b, "submit"))
    _ok(transition(client, designer, c, "submit"))
    _at(clock, 25, 10)
    _ok(transition(client, designer, a, "submit"))
    _at(clock, 25, 12)
    _ok(transition(client, brand_manager, a, "approve"))
    _at(clock, 25, 13)
    _ok(transition(client, brand_manager, b, "approve"))
    _at(clock, 25, 15)
    _ok(transition(client, brand_manager, b, "reject"))
    _at(clock, 25, 17)
    _ok(transition(client, designer, b, "submit"))
    _at(clock, 26, 9)
    _ok(transition(client, brand_manager, b, "approve"))
    _at(clock, 26, 10)
    _ok(transition(client, brand_manager, b, "approve"))
    _at(clock, 26, 12)
    _ok(transition(client, brand_manager, c, "approve"))
    # Two briefs: A delivered before its due time, C after.
    for asset_id, due in ((a, "2026-11-25T18:00:00Z"), (c, "2026-11-25T12:00:00Z")):
        brief = client.post(
            "/api/v1/briefs",
            headers=marketer,
            json={"title": "B", "deliverables": [{"id": "hero", "label": "Hero"}], "due_at": due},
        )
        assert brief.status_code == 201, brief.text
        linked = client.post(
            f"/api/v1/briefs/{brief.json()['id']}/links",
            headers=designer,
            json={"asset_id": asset_id, "deliverable": "hero"},
        )
        assert linked.status_code == 200, linked.text
    return {"a": a, "b": b, "c": c}


def _report(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/reports/turnaround", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _stats(count: int, p50: float | None, p90: float | None, mean: float | None) -> dict:
    return {"count": count, "p50_hours": p50, "p90_hours": p90, "mean_hours": mean}


def test_turnaround_figures_are_exact(
    client: TestClient, marketer: dict[str, str], history: dict[str, str]
) -> None:
    report = _report(client, marketer)
    brand, legal = report["stages"]
    assert brand == {
        "stage": "brand",
        "label": "Brand",
        "decided": 4,
        "approved": 4,
        "rejected": 0,
        # A 2 h, B 4 h then 16 h, C 27 h
        "cycle_time": _stats(4, 4.0, 27.0, 12.25),
        "with_sla": 4,
        "sla_breaches": 1,
        "sla_breach_rate": 0.25,
    }
    assert legal == {
        "stage": "legal",
        "label": "Legal",
        "decided": 2,
        "approved": 1,
        "rejected": 1,
        "cycle_time": _stats(2, 1.0, 2.0, 1.5),
        "with_sla": 2,
        "sla_breaches": 0,
        "sla_breach_rate": 0.0,
    }
    assert report["overall"] == {
        "key": "all",
        "label": "All",
        "assets": 3,
        "approved": 3,
        "cycle_time": _stats(3, 25.0, 27.0, 18.0),  # A 2 h, B 25 h, C 27 h
        "waiting_hours": 52.0,  # A 2, B 6 + 17, C 27
        "working_hours": 3.0,  # A 1 before submitting, B 2 after the rejection
        "first_pass_rate": 0.6667,
        "rework_rounds_per_asset": 0.3333,
    }
    email, instagram = report["groups"]
    assert (email["key"], email["assets"], email["cycle_time"]["p50_hours"]) == ("email", 1, 25.0)
    assert (email["first_pass_rate"], email["rework_rounds_per_asset"]) == (0.0, 1.0)
    assert instagram == {
        "key": "instagram",
        "label": "Instagram",
        "assets": 2,
        "approved": 2,
        "cycle_time": _stats(2, 2.0, 27.0, 14.5),
        "waiting_hours": 29.0,
        "working_hours": 1.0,
        "first_pass_rate": 1.0,
        "rework_rounds_per_asset": 0.0,
    }
    assert report["briefs"] == {
        "with_due_date": 2,
        "delivered": 2,
        "delivered_on_time": 1,
        "on_time_rate": 0.5,
    }


def test_turnaround_filters_by_terms_and_dates(
    client: TestClient, marketer: dict[str, str], history: dict[str, str]
) -> None:
    email = _report(client, marketer, term="channel:email")
    assert email["terms"] == {"channel": ["email"]}
    assert email["overall"]["assets"] == 1
    assert [s["stage"] for s in email["stages"]] == ["brand", "legal"]
    assert email["stages"][0]["cycle_time"]["count"] == 2
    # `social` is a parent of Instagram: filtering on it keeps A and C.
    social = _report(client, marketer, term="channel:social")
    assert social["overall"]["assets"] == 2
    later = _report(client, marketer, **{"from": "2026-11-26"})
    assert (later["overall"]["assets"], later["stages"]) == (0, [])
    assert later["briefs"]["with_due_date"] == 0
    same_day = _report(client, marketer, **{"from": "2026-11-25", "to": "2026-11-25"})
    assert same_day["overall"]["assets"] == 3
    by_style = _report(client, marketer, group_by="brand")
    assert [g["key"] for g in by_style["groups"]] == ["halden"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"term": "channel"}, "invalid_terms"),
        ({"term": "channel:myspace"}, "invalid_terms"),
        ({"group_by": "colour"}, "unknown_facet"),
        ({"from": "2026-11-27", "to": "2026-11-01"}, "invalid_range"),
    ],
)
def test_bad_turnaround_queries_are_refused(
    client: TestClient, marketer: dict[str, str], params: dict[str, str], error: str
) -> None:
    response = client.get("/api/v1/reports/turnaround", headers=marketer, params=params)
    assert (response.status_code, response.json()["error"]) == (422, error)
