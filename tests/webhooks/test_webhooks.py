"""Webhooks: subscriptions through the API, delivery by the worker to a real HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from dam.config import Settings
from dam.context import Context
from dam.db import session_scope
from dam.models import JobStatus, OutboxJob, Role
from dam.worker import get_handler, run_pending
from dam.workflow.expiry import sweep_rights
from tests.conftest import Clock, Keys
from tests.webhooks.receiver import Receiver, receiver
from tests.workflow.support import drive_to, new_asset

pytestmark = pytest.mark.usefixtures("db_backend")

SECRET = "whsec-0123456789abcdef"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receiver listens on 127.0.0.1, which webhooks may reach only when allowed."""
    return settings.model_copy(update={"webhook_allow_private_networks": True})


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


def _subscribe(
    client: TestClient,
    admin: dict[str, str],
    url: str,
    events: list[str] | None = None,
    secret: str = SECRET,
) -> str:
    response = client.post(
        "/api/v1/webhooks",
        headers=admin,
        json={"url": url, "events": events or ["*"], "secret": secret},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _deliveries(client: TestClient, admin: dict[str, str], hook_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return sorted(items, key=lambda d: d["attempt"])


def _signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _event_id(ctx: Context, event_type: str) -> str:
    with Session(ctx.engine) as session:
        jobs = session.exec(select(OutboxJob).where(col(OutboxJob.kind) == "event")).all()
    (event_id,) = [j.payload["event_id"] for j in jobs if j.payload["type"] == event_type]
    return str(event_id)


def _delivery_jobs(ctx: Context) -> list[OutboxJob]:
    with Session(ctx.engine) as session:
        return list(
            session.exec(select(OutboxJob).where(col(OutboxJob.kind) == "webhook.deliver")).all()
        )


# --- subscriptions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://hooks.example/x", "events": ["*"], "secret": SECRET}, "url"),
        ({"url": "https:///no-host", "events": ["*"], "secret": SECRET}, "url"),
        ({"url": "http://hooks.example:99999/", "events": ["*"], "secret": SECRET}, "url"),
        ({"url": "not a url", "events": ["*"], "secret": SECRET}, "url"),
        (
            {"url": "https://hooks.example/x", "events": ["asset.exploded"], "secret": SECRET},
            "events",
        ),
        ({"url": "https://hooks.example/x", "events": [], "secret": SECRET}, "events"),
        ({"url": "https://hooks.example/x", "events": ["*"], "secret": "short"}, "secret"),
    ],
)
def test_invalid_subscriptions_get_422_naming_the_field(
    client: TestClient, admin: dict[str, str], ctx: Context, body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/webhooks", headers=admin, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_webhook"
    assert response.json()["field"] == field
    assert client.get("/api/v1/webhooks", headers=admin).json() == []


@pytest.mark.parametrize(
    "role", [Role.brand_manager, Role.designer, Role.marketer, Role.automation]
)
def test_only_admins_manage_webhooks(
    client: TestClient, keys: Keys, admin: dict[str, str], role: Role
) -> None:
    headers = keys.headers(role)
    hook_id = _subscribe(client, admin, "https://hooks.example/x")
    body = {"url": "https://hooks.example/y", "events": ["*"], "secret": SECRET}
    assert client.post("/api/v1/webhooks", headers=headers, json=body).status_code == 403
    assert client.get("/api/v1/webhooks", headers=headers).status_code == 403
    assert client.delete(f"/api/v1/webhooks/{hook_id}", headers=headers).status_code == 403
    deliveries = client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=headers)
    assert deliveries.status_code == 403


def test_list_never_shows_the_secret_and_delete_stops_the_subscription(
    client: TestClient,
    admin: dict[str, str],
    designer: dict[str, str],
    ctx: Context,
    hooks: Receiver,
) -> None:
    hook_id = _subscribe(
        client, admin, hooks.url, events=["asset.created", "asset.approved", "asset.created"]
    )
    listed = client.get("/api/v1/webhooks", headers=admin).json()
    assert [(h["id"], h["url"], h["events"], h["active"]) for h in listed] == [
        (hook_id, hooks.url, ["asset.approved", "asset.created"], True)
    ]
    assert SECRET not in json.dumps(listed)

    new_asset(client, designer)  # queued before the delete, dropped after it
    assert client.delete(f"/api/v1/webhooks/{hook_id}", headers=admin).status_code == 204
    assert client.get("/api/v1/webhooks", headers=admin).json() == []
    run_pending(ctx)
    assert hooks.received == []
    assert _deliveries(client, admin, hook_id) == []
    again = client.delete(f"/api/v1/webhooks/{hook_id}", headers=admin)
    assert again.status_code == 404
    assert again.json()["error"] == "webhook_not_found"
    missing = client.get(f"/api/v1/webhooks/{uuid.uuid4()}/deliveries", headers=admin)
    assert missing.status_code == 404


# --- delivery -----------------------------------------------------------------------------------


def test_event_is_delivered_signed_by_the_worker_not_the_request(
    client: TestClient,
    admin: dict[str, str],
    designer: dict[str, str],
    ctx: Context,
    clock: Clock,
    hooks: Receiver,
) -> None:
    hook_id = _subscribe(client, admin, hooks.url, events=["asset.created"])
    asset_id = new_asset(client, designer)
    assert hooks.received == []

    run_pending(ctx)

    assert len(hooks.received) == 1
    request = hooks.received[0]
    assert request.path == "/hooks/dam"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-dam-signature"] == _signature(request.body)
    assert request.headers["x-dam-event"] == "asset.created"
    body = json.loads(request.body)
    assert set(body) == {"id", "type", "time", "view", "asset", "version", "data"}
    assert body["id"] == _event_id(ctx, "asset.created")
    assert (body["type"], body["version"], body["data"]) == ("asset.created", 1, {})
    assert body["time"] == clock.now.isoformat()
    # Receivers get the published view; a draft nobody approved yet is named, not shown.
    assert body["view"] == "published"
    assert body["asset"] == {"id": asset_id, "status": "active", "published_version": None}
    (job,) = _delivery_jobs(ctx)
    assert request.headers["x-dam-delivery"] == str(job.id)

    (delivery,) = _deliveries(client, admin, hook_id)
    assert delivery["event_id"] == body["id"]
    assert delivery["event_type"] == "asset.created"
    assert (delivery["attempt"], delivery["succeeded"], delivery["status_code"]) == (1, True, 200)
    assert (delivery["error"], delivery["next_attempt_at"]) == (None, None)
    assert delivery["duration_ms"] >= 0

    run_pending(ctx)
    assert len(hooks.received) == 1


def test_a_wrong_secret_does_not_verify(
    client: TestClient,
    admin: dict[str, str],
    designer: dict[str, str],
    ctx: Context,
    hooks: Receiver,
) -> None:
    _subscribe(client, admin, hooks.url, events=["asset.created"])
    new_asset(client, designer)
    run_pending(ctx)
    request = hooks.received[0]
    assert request.headers["x-dam-signature"] != _signature(request.body, "another-secret-1234")
    assert request.headers["x-dam-signature"] != _signature(request.body + b" ")


def test_subscriptions_receive_only_their_event_types(
    client: TestClient,
    admin: dict[str, str],
    designer: dict[str, str],
    brand_manager: dict[str, str],
    ctx: Context,
) -> None:
    with receiver() as approvals, receiver() as everything:
        _subscribe(client, admin, approvals.url, events=["asset.approved"])
        _subscribe(client, admin, everything.url, events=["*"])
        asset_id = new_asset(client, designer)
        drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)
        run_pending(ctx)
        assert [r.headers["x-dam-event"] for r in approvals.received] == ["asset.approved"]
        assert sorted(r.headers["x-dam-event"] for r in everything.received) == [
            "asset.approved",
            "asset.created",
            "asset.submitted",
            "notification.created",  # the uploader's inbox: approved
            "review.stage_approved",
            "review.stage_started",
        ]
        approved = json.loads(approvals.received[0].body)
        assert approved["asset"]["published_version"] == 1
        assert approved["data"] == {"published_version": 1, "round": 1}


def test_failed_delivery_is_retried_with_backoff(
    client: TestClient,
    admin: dict[str, str],
    designer: dict[str, str],
    ctx: Context,
    clock: Clock,
    hooks: Receiver,
) -> None:
    hooks.statuses = [500]
    hook_id = _subscribe(client, admin, hooks.url, events=["asset.created"])
    new_asset(client, designer)

    run_pending(ctx)
    assert len(hooks.received) == 1
    (failed,) = _deliveries(client, admin, hook_id)
    assert (failed["attempt"], failed["succeeded"], failed["status_code"]) == (1, False, 500)
    assert failed["error"] == "HTTP 500"
    retry_at = clock.now + timedelta(seconds=2)
    assert failed["next_attempt_at"] == retry_at.isoformat().replace("+00:00", "Z")

    run_pending(ctx)  # not due yet
    assert len(hooks.received) == 1
    clock.advance(seconds=2)
    run_pending(ctx)

    assert len(hooks.received) == 2
    first, second = hooks.received
    assert second.headers["x-dam-delivery"] == first.headers["x-dam-delivery"]
    assert json.loads(second.body)["id"] == json.loads(first.body)["id"]
    assert second.headers["x-dam-signature"] == _signature(second.body)
    attempts = _deliveries(client, admin, hook_id)
    assert [(d["attempt"], d["succeeded"], d["status_code"]) for d in attempts] == [
        (1, False, 500),
        (2, True, 200),
    ]
    assert [j.status for j in _delivery_jobs(ctx)] == [JobStatus.done]


def test_delivery_gives_up_after_the_limit(
    client: TestClient,
    admin: dict[str, str],
    designer: dict[str, str],
    ctx: Context,
    clock: Clock,
    hooks: Receiver,
) -> None:
    ctx.settings.webhook_max_attempts = 3
    hooks.always = 503
    hook_id = _subscribe(client, admin, hooks.url, events=["asset.created"])
    new_asset(client, designer)

    for _ in range(6):
        run_pending(ctx)
        clock.advance(hours=1)

    assert len(hooks.received) == 3
    attempts = _deliveries(client, admin, hook_id)
    assert [(d["attempt"], d["succeeded"], d["status_code"]) for d in attempts] == [
        (1, False, 503),
        (2, False, 503),
        (3, False, 503),
    ]
    assert attempts[1]["next_attempt_at"] is not None
    assert attempts[2]["next_attempt_at"] is None
    assert attempts[2]["error"] == "HTTP 503; gave up after 3 attempts"
    (job,) = _delivery_jobs(ctx)
    assert (job.status, job.attempts) == (JobStatus.failed, 3)


def test_a_slow_receiver_times_out_and_is_retried(
    client: TestClient,
    admin: dict[str, str],
    designer: dict[str, str],
    ctx: Context,
    hooks: Receiver,
) -> None:
    ctx.settings.webhook_timeout_seconds = 0.2
    hooks.delay_seconds = 1.0
    hook_id = _subscribe(client, admin, hooks.url, events=["asset.created"])
    new_asset(client, designer)
    run_pending(ctx)
    (attempt,) = _deliveries(client, admin, hook_id)
    assert (attempt["succeeded"], attempt["status_code"]) == (False, None)
    assert attempt["error"] == "timed out after 0.2 s"
    assert attempt["next_attempt_at"] is not None
    (job,) = _delivery_jobs(ctx)
    assert job.status == JobStatus.pending


def test_redirects_are_not_followed(
    client: TestClient,
    admin: dict[str, str],
    designer: dict[str, str],
    ctx: Context,
    hooks: Receiver,
) -> None:
    hooks.redirect_to = hooks.url + "/moved"
    hook_id = _subscribe(client, admin, hooks.url, events=["asset.created"])
    new_asset(client, designer)
    run_pending(ctx)
    assert [r.path for r in hooks.received] == ["/hooks/dam"]
    (attempt,) = _deliveries(client, admin, hook_id)
    assert (attempt["succeeded"], attempt["status_code"]) == (False, 302)
    assert attempt["error"] == "HTTP 302 (redirects are not followed)"


def test_an_unreachable_receiver_is_recorded(
    client: TestClient, admin: dict[str, str], designer: dict[str, str], ctx: Context
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hook_id = _subscribe(client, admin, f"http://127.0.0.1:{port}/gone", events=["asset.created"])
    new_asset(client, designer)
    run_pending(ctx)
    (attempt,) = _deliveries(client, admin, hook_id)
    assert (attempt["succeeded"], attempt["status_code"]) == (False, None)
    assert attempt["error"].startswith("ConnectError")


def test_fan_out_is_idempotent(
    client: TestClient, admin: dict[str, str], designer: dict[str, str], ctx: Context
) -> None:
    _subscribe(client, admin, "https://hooks.example/a", events=["asset.created"])
    _subscribe(client, admin, "https://hooks.example/b", events=["*"])
    _subscribe(client, admin, "https://hooks.example/c", events=["asset.approved"])
    new_asset(client, designer)
    with Session(ctx.engine) as session:
        (event,) = session.exec(select(OutboxJob).where(col(OutboxJob.kind) == "event")).all()
    fan_out = get_handler("event")
    assert fan_out is not None
    for _ in range(2):
        with session_scope(ctx.engine) as session:
            fan_out(ctx, session, dict(event.payload))
    jobs = _delivery_jobs(ctx)
    assert len(jobs) == 2
    assert {j.payload["event_id"] for j in jobs} == {event.payload["event_id"]}
    assert all(j.max_attempts == ctx.settings.webhook_max_attempts for j in jobs)


def test_expiry_events_reach_subscribers(
    client: TestClient,
    admin: dict[str, str],
    designer: dict[str, str],
    brand_manager: dict[str, str],
    ctx: Context,
    clock: Clock,
    hooks: Receiver,
) -> None:
    _subscribe(client, admin, hooks.url, events=["asset.expiring", "asset.expired"])
    expires = clock.now + timedelta(days=3)
    asset_id = new_asset(client, designer, rights_expire_at=expires.isoformat())
    drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)
    for days in (0, 3):
        clock.advance(days=days)
        with session_scope(ctx.engine) as session:
            sweep_rights(session, now=ctx.now(), warn_before=timedelta(days=7))
        run_pending(ctx)
    bodies = [json.loads(r.body) for r in hooks.received]
    assert [(b["type"], b["asset"]["id"]) for b in bodies] == [
        ("asset.expiring", asset_id),
        ("asset.expired", asset_id),
    ]
    assert bodies[0]["data"] == {"rights_expire_at": expires.isoformat()}
    assert bodies[1]["asset"]["status"] == "expired"
