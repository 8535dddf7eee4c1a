"""Inbox contents per role through a review story, every notification as a webhook event, and
email through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from dam.config import Settings
from dam.context import Context
from dam.models import Role
from dam.worker import run_pending, run_scheduled
from tests.conftest import Clock
from tests.factories import image_bytes, upload
from tests.web.support import Users, sign_in
from tests.workflow.support import METADATA, emitted
from tests.workflow.test_stages import LICENSED

pytestmark = pytest.mark.usefixtures("db_backend")


@dataclass
class Person:
    client: TestClient
    headers: dict[str, str]

    def get(self, path: str) -> Any:
        response = self.client.get(path, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, json: Any = None) -> Any:
        return self.client.post(path, headers=self.headers, json=json)


@pytest.fixture
def people(client: TestClient, ctx: Context) -> Iterator[dict[str, Person]]:
    users = Users(ctx)
    out = {}
    clients = []
    for who, role in (
        ("bea", Role.brand_manager),
        ("ada", Role.admin),
        ("dana", Role.designer),
        ("mia", Role.marketer),
    ):
        email = users.create(role, email=f"{who}@example.com", name=who.title())
        person_client = TestClient(client.app, raise_server_exceptions=False)
        clients.append(person_client)
        csrf = sign_in(person_client, email)
        out[who] = Person(person_client, {"X-CSRF-Token": csrf})
    yield out
    for c in clients:
        c.close()


def _kinds(person: Person) -> list[str]:
    return [n["kind"] for n in person.get("/api/v1/inbox")["notifications"]["items"]]


def _story(people: dict[str, Person], ctx: Context, clock: Clock) -> str:
    dana, bea = people["dana"], people["bea"]
    created = upload(
        dana.client,
        dana.headers,
        image_bytes(size=(64, 48), seed=7),
        metadata={**METADATA, **LICENSED, "title": "Fjord hero"},
    )
    assert created.status_code == 201, created.text
    asset_id = str(created.json()["id"])
    assert dana.post(f"/api/v1/assets/{asset_id}/submit").status_code == 200
    run_pending(ctx)
    clock.advance(hours=8, minutes=1)  # past brand's 8 working hours (Wednesday 17:01 UTC)
    run_scheduled(ctx)
    run_pending(ctx)
    assert bea.post(f"/api/v1/assets/{asset_id}/approve").status_code == 200
    run_pending(ctx)
    rejected = bea.post(
        f"/api/v1/assets/{asset_id}/reject", {"reason": "Licence excludes print", "stage": "legal"}
    )
    assert rejected.status_code == 200, rejected.text
    comment = bea.post(
        f"/api/v1/assets/{asset_id}/versions/1/comments",
        {"body": "@dana@example.com crop the logo here", "pin": {"x": 0.1, "y": 0.2}},
    )
    assert comment.status_code == 201, comment.text
    run_pending(ctx)
    return asset_id


def test_inbox_contents_per_role(people: dict[str, Person], ctx: Context, clock: Clock) -> None:
    bea, ada, dana, mia = (people[k] for k in ("bea", "ada", "dana", "mia"))
    dana_client, dana_headers = dana.client, dana.headers
    created = upload(
        dana_client,
        dana_headers,
        image_bytes(size=(64, 48), seed=8),
        metadata={**METADATA, **LICENSED, "title": "Waiting one"},
    )
    waiting_id = str(created.json()["id"])
    assert dana.post(f"/api/v1/assets/{waiting_id}/submit").status_code == 200
    run_pending(ctx)
    # What waits for whom, before anything else happens.
    [item] = bea.get("/api/v1/inbox")["waiting"]
    assert (item["asset_id"], [s["stage"] for s in item["stages"]]) == (waiting_id, ["brand"])
    assert [i["asset_id"] for i in ada.get("/api/v1/inbox")["waiting"]] == [waiting_id]
    assert dana.get("/api/v1/inbox")["waiting"] == []
    assert mia.get("/api/v1/inbox")["waiting"] == []

    asset_id = _story(people, ctx, clock)
    # Newest first. The reviewers: two reviews waiting (brand, then legal), one SLA breach
    # (both assets' brand stages were overdue at 17:01; the waiting one's too).
    expected_reviewer = [
        "review_waiting",  # legal of the story's asset
        "sla_breached",
        "sla_breached",
        "review_waiting",  # brand of the story's asset
        "review_waiting",  # brand of the waiting one
    ]
    assert _kinds(bea) == expected_reviewer
    assert _kinds(ada) == expected_reviewer
    # The designer: the mention, then the rejection with its reason.
    items = dana.get("/api/v1/inbox")["notifications"]["items"]
    assert [(n["kind"], n["asset_id"]) for n in items] == [
        ("mention", asset_id),
        ("rejected", asset_id),
    ]
    assert items[0]["title"] == "Bea mentioned you on “Fjord hero” (version 1)"
    assert items[1]["body"] == "Licence excludes print"
    assert items[1]["title"] == "“Fjord hero” was sent back at the legal review"
    assert mia.get("/api/v1/inbox") == {
        "waiting": [],
        "notifications": {"total": 0, "unread": 0, "items": []},
    }
    # Reading: one, then the rest.
    assert dana.post("/api/v1/inbox/read", {"ids": [items[0]["id"]]}).json() == {"marked": 1}
    assert dana.get("/api/v1/inbox?unread=true")["notifications"]["total"] == 1
    assert dana.post("/api/v1/inbox/read", {}).json() == {"marked": 1}
    assert dana.get("/api/v1/inbox")["notifications"]["unread"] == 0
    # Every notification is also an event, so a webhook.
    total = sum(p.get("/api/v1/inbox")["notifications"]["total"] for p in (bea, ada, dana, mia))
    assert [t for t, _ in emitted(ctx)].count("notification.created") == total == 12


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    if "mailbox" not in request.fixturenames:
        return settings
    _, port = request.getfixturevalue("mailbox")
    return settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_from": "dam@halden.example"}
    )


def test_notifications_are_emailed_when_smtp_is_configured(
    mailbox: tuple[Mailbox, int], people: dict[str, Person], ctx: Context, clock: Clock
) -> None:
    box, _ = mailbox
    asset_id = _story(people, ctx, clock)
    run_pending(ctx)
    sent = sorted((m["X-Envelope-To"], m["Subject"]) for m in box.messages)
    assert ("dana@example.com", "“Fjord hero” was sent back at the legal review") in sent
    assert ("dana@example.com", "Bea mentioned you on “Fjord hero” (version 1)") in sent
    assert sent.count(("bea@example.com", "“Fjord hero” waits for your Legal review")) == 1
    assert len(sent) == 2 + 3 * 2  # dana's two; bea's and ada's three each
    rejection = next(m for m in box.messages if "sent back" in str(m["Subject"]))
    assert rejection["From"] == "dam@halden.example"
    text = rejection.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Licence excludes print" in text
    assert f"/assets/{asset_id}" in text
    statuses = {
        n["email_status"] for n in people["dana"].get("/api/v1/inbox")["notifications"]["items"]
    }
    assert statuses == {"sent"}
