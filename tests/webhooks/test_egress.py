"""Webhooks reach public addresses only (by default): loopback, link-local and private
addresses are refused when subscribing to a literal address, and at every delivery on the
addresses the name resolves to then (DNS rebinding), with the connection made to the very
address checked. `DAM_WEBHOOK_ALLOW_PRIVATE_NETWORKS` lets internal receivers in."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from dam.context import Context
from dam.models import WebhookDelivery
from dam.webhooks import egress
from dam.worker import run_pending
from tests.webhooks.receiver import Receiver, receiver
from tests.workflow.support import new_asset

pytestmark = pytest.mark.usefixtures("db_backend")

SECRET = "whsec-0123456789abcdef"
NAME = "hooks.partner.test"


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


@pytest.fixture
def resolves_to(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Makes NAME resolve to whatever the test says (as a rebinding DNS server would) and
    counts how often it is looked up; every other name resolves as usual."""
    state: dict[str, Any] = {"address": "127.0.0.1", "lookups": 0}
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == NAME:
            state["lookups"] += 1
            return real(state["address"], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return state


def _subscribe(client: TestClient, admin: dict[str, str], url: str) -> Any:
    return client.post(
        "/api/v1/webhooks",
        headers=admin,
        json={"url": url, "events": ["asset.created"], "secret": SECRET},
    )


def _attempts(ctx: Context) -> list[WebhookDelivery]:
    with Session(ctx.engine) as session:
        return list(session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.at))))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.9/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[fd00::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://localhost:9000/hook",
        "http://api.localhost/hook",
    ],
)
def test_subscribing_an_internal_address_is_refused(
    client: TestClient, admin: dict[str, str], url: str
) -> None:
    response = _subscribe(client, admin, url)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_webhook"
    assert response.json()["field"] == "url"


def test_a_name_that_resolves_to_an_internal_address_is_refused_at_delivery(
    client: TestClient,
    admin: dict[str, str],
    designer: dict[str, str],
    ctx: Context,
    hooks: Receiver,
    resolves_to: dict[str, Any],
) -> None:
    port = hooks.url.split(":")[2].split("/")[0]
    # Subscribed while the name looks harmless; it resolves to loopback when delivered.
    assert _subscribe(client, admin, f"http://{NAME}:{port}/hooks/dam").status_code == 201
    new_asset(client, designer)
    run_pending(ctx)
    assert hooks.received == []
    (attempt,) = _attempts(ctx)
    assert not attempt.succeeded
    assert attempt.error is not None
    assert attempt.error.startswith(f"refused: {NAME} resolves to 127.0.0.1")


def test_when_allowed_the_delivery_goes_to_the_address_checked(
    client: TestClient,
    admin: dict[str, str],
    designer: dict[str, str],
    ctx: Context,
    hooks: Receiver,
    resolves_to: dict[str, Any],
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"webhook_allow_private_networks": True})
    port = hooks.url.split(":")[2].split("/")[0]
    assert _subscribe(client, admin, f"http://{NAME}:{port}/hooks/dam").status_code == 201
    new_asset(client, designer)
    run_pending(ctx)
    (received,) = hooks.received
    assert received.headers["host"] == f"{NAME}:{port}"
    assert resolves_to["lookups"] == 1, "the name was resolved again after the check"
    assert _attempts(ctx)[0].succeeded


def test_the_address_rules() -> None:
    private = ["127.0.0.1", "10.0.0.1", "169.254.1.1", "::1", "fe80::1", "::ffff:10.0.0.1"]
    public = ["93.184.215.14", "2606:4700::1111"]
    assert all(egress.is_private(ipaddress.ip_address(a)) for a in private)
    assert not any(egress.is_private(ipaddress.ip_address(a)) for a in public)
    pinned = egress.pin("https://[2606:4700::1111]:8443/x?y=1", allow_private=False)
    assert pinned.url == "https://[2606:4700::1111]:8443/x?y=1"
    assert pinned.host_header == "[2606:4700::1111]:8443"
