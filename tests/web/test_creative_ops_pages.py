"""The creative-operations pages over real HTTP: filing a brief from the form, the brief page,
the review queue's due times and overdue work, the inbox and the turnaround dashboard."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from dam.context import Context
from dam.models import Role
from dam.worker import run_pending
from tests.conftest import Clock
from tests.web.support import Users, new_asset, sign_in
from tests.workflow.support import transition

pytestmark = pytest.mark.usefixtures("db_backend")


def test_a_brief_is_filed_from_the_form_and_shown(
    client: TestClient, users: Users, designer: dict[str, str]
) -> None:
    csrf = sign_in(client, users.create(Role.marketer))
    filed = client.post(
        "/briefs",
        data={
            "csrf_token": csrf,
            "title": "Autumn trail",
            "objective": "Sign-ups",
            "terms": "channel: instagram; audience: women",
            "deliverables": "3 \u00d7 Instagram 4:5\n1 x Email hero",
            "due": "2026-12-04",
            "kpi": "ctr",
        },
    )
    assert filed.status_code == 200, filed.text
    assert re.search(r"/briefs/[0-9a-f-]{36}$", str(filed.url))
    assert "Filed the brief" in filed.text
    assert "3 \u00d7 Instagram 4:5" in filed.text
    assert "1 \u00d7 Email hero" in filed.text
    assert "What worked before on instagram" in filed.text
    assert "04 Dec 2026, 17:00 UTC" in filed.text
    listing = client.get("/briefs").text
    assert "Autumn trail" in listing
    refused = client.post(
        "/briefs",
        data={"csrf_token": csrf, "title": "X", "terms": "channel: myspace", "deliverables": "A"},
    )
    assert "unknown term" in refused.text


def test_review_queue_shows_stages_due_times_and_overdue(
    client: TestClient, users: Users, designer: dict[str, str], clock: Clock
) -> None:
    asset_id = new_asset(client, designer)
    assert transition(client, designer, asset_id, "submit").status_code == 200
    sign_in(client, users.create(Role.brand_manager))
    queue = client.get("/review").text
    assert "Brand review" in queue
    assert "due 25 Nov 2026, 17:00 UTC" in queue
    assert "Overdue" not in queue
    clock.advance(hours=9)
    assert "Overdue" in client.get("/review").text


def test_inbox_and_dashboard_pages(
    client: TestClient, users: Users, designer: dict[str, str], ctx: Context, clock: Clock
) -> None:
    bea = users.create(Role.brand_manager, name="Bea")
    asset_id = new_asset(client, designer)
    assert transition(client, designer, asset_id, "submit").status_code == 200
    run_pending(ctx)
    csrf = sign_in(client, bea)
    inbox = client.get("/inbox").text
    assert "Waiting for you" in inbox
    assert "waits for your Brand review" in inbox
    assert "1 unread" in inbox
    read = client.post("/inbox/read", data={"csrf_token": csrf})
    assert "Marked everything read." in read.text
    assert "unread" not in client.get("/inbox").text.split("<h1>")[1].split("</h1>")[0]
    clock.advance(hours=3)
    approved = client.post(f"/assets/{asset_id}/approve", data={"csrf_token": csrf})
    assert "it is now published" in approved.text
    dashboard = client.get("/turnaround").text
    assert '<dd id="cycle-p50">3.0 h</dd>' in dashboard
    assert "Brand" in dashboard
    assert "<svg" in dashboard
