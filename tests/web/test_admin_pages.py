"""The admin pages through the real HTTP stack (TestClient): users (create, role, disable, a
one-time password link), API keys (create scoped to campaigns, revoke), webhooks (create,
deliveries, remove), the audit trail and reloading the governance pack. Every form calls the
same service as the API; refusals come back as messages."""

from __future__ import annotations

import html as html_lib
import re
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.context import Context
from dam.models import Role, Webhook, WebhookDelivery
from tests.web.support import Users, csrf_of, sign_in

pytestmark = pytest.mark.usefixtures("db_backend")


def _flash(html: str) -> str:
    found = re.search(r'<div class="flash[^>]*>\s*<p>(.*?)</p>', html, re.S)
    return html_lib.unescape(found.group(1)) if found else ""


def _link_in(text: str) -> str:
    found = re.search(r"http://testserver(/password/[^\s<\"]+)", text)
    assert found, text
    return found.group(1)


def _set_password(client: TestClient, path: str, password: str) -> int:
    return client.post(
        path, data={"password": password, "again": password}, follow_redirects=False
    ).status_code


def test_only_admins_see_the_admin_pages(client: TestClient, users: Users) -> None:
    sign_in(client, users.create(Role.brand_manager))
    assert 'href="/admin"' not in client.get("/library").text
    assert client.get("/admin/users").status_code == 403
    client.cookies.clear()
    csrf = sign_in(client, users.create(Role.admin, email="ada@example.com"))
    assert 'href="/admin"' in client.get("/library").text
    refused = client.post(
        "/admin/users", data={"email": "x@example.com", "role": "designer"}, follow_redirects=False
    )
    assert refused.status_code == 403  # no CSRF token
    assert client.get("/admin/users").status_code == 200
    assert client.get("/admin", follow_redirects=False).headers["location"] == "/admin/users"
    assert csrf


def test_admin_creates_a_user_who_sets_a_password_through_a_one_time_link(
    client: TestClient, users: Users
) -> None:
    csrf = sign_in(client, users.create(Role.admin, email="ada@example.com"))
    made = client.post(
        "/admin/users",
        data={"csrf_token": csrf, "email": "Nina@Example.com", "name": "Nina", "role": "marketer"},
    )
    assert made.status_code == 200
    assert _flash(made.text).startswith("User nina@example.com created. Send them this one-time")
    link = _link_in(_flash(made.text))
    row = re.search(r'<tr data-user="nina@example.com">(.*?)</tr>', made.text, re.S)
    assert row and 'value="marketer" selected' in row.group(1)
    twice = client.post(
        "/admin/users", data={"csrf_token": csrf, "email": "nina@example.com", "role": "designer"}
    )
    assert "nina@example.com" in _flash(twice.text)  # refused: the email is taken

    outsider = TestClient(client.app)
    page = outsider.get(link)
    assert page.status_code == 200 and "nina@example.com" in page.text
    assert "differ" in outsider.post(link, data={"password": "a" * 12, "again": "b" * 12}).text
    weak = outsider.post(link, data={"password": "short", "again": "short"})
    assert weak.status_code == 400 and "at least 10 characters" in weak.text
    assert _set_password(outsider, link, "nina's own password") == 303
    assert _set_password(outsider, link, "another password!") == 410  # works once
    assert "used already" in outsider.get(link).text
    sign_in(outsider, "nina@example.com", "nina's own password")

    # Role, disable (signs her out at once), enable, and a reset link.
    assert row
    user_id = re.search(r'action="/admin/users/([0-9a-f-]{36})/role"', row.group(1))
    assert user_id
    uid = user_id.group(1)
    to_designer = client.post(
        f"/admin/users/{uid}/role", data={"csrf_token": csrf, "role": "designer"}
    )
    assert _flash(to_designer.text) == "nina@example.com is now designer."
    assert "Upload" in outsider.get("/library").text  # the new role at her next request
    off = client.post(f"/admin/users/{uid}/access", data={"csrf_token": csrf, "disabled": "true"})
    assert _flash(off.text) == "nina@example.com is disabled (signed out everywhere)."
    assert outsider.get("/library", follow_redirects=False).status_code == 303
    on = client.post(f"/admin/users/{uid}/access", data={"csrf_token": csrf, "disabled": "false"})
    assert _flash(on.text) == "nina@example.com is enabled again."
    reset = client.post(f"/admin/users/{uid}/password-link", data={"csrf_token": csrf})
    assert "one-time link to set a new password" in _flash(reset.text)
    assert _set_password(outsider, _link_in(_flash(reset.text)), "a brand new password") == 303
    sign_in(outsider, "nina@example.com", "a brand new password")
    assert _set_password(outsider, link, "the old link again") == 410
    self_off = client.post(
        "/admin/users/" + _own_id(client) + "/access", data={"csrf_token": csrf, "disabled": "true"}
    )
    assert _flash(self_off.text) == "you cannot disable your own account"


def _own_id(client: TestClient) -> str:
    page = client.get("/admin/users").text
    row = re.search(r'<tr data-user="ada@example.com">(.*?)</tr>', page, re.S)
    assert row
    found = re.search(r"/admin/users/([0-9a-f-]{36})/", row.group(1))
    assert found
    return found.group(1)


def test_admin_makes_a_campaign_scoped_key_and_revokes_it(
    client: TestClient, users: Users, admin: dict[str, str]
) -> None:
    for cid, name in (("SPRING26", "Spring 2026"), ("FALL26", "Fall 2026")):
        made = client.post("/api/v1/campaigns", headers=admin, json={"id": cid, "name": name})
        assert made.status_code == 201, made.text
    csrf = sign_in(client, users.create(Role.admin, email="ada@example.com"))
    page = client.get("/admin/keys")
    assert '<option value="SPRING26">Spring 2026 (SPRING26)</option>' in page.text
    made = client.post(
        "/admin/keys",
        data={
            "csrf_token": csrf,
            "name": "CMS sync",
            "role": "automation",
            "campaign_ids": ["SPRING26"],
        },
    )
    text = _flash(made.text)
    assert text.startswith("Key 'CMS sync' created. Copy it now")
    secret = text.rsplit(" ", 1)[1]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=bearer).json()["role"] == "automation"
    listed = client.get("/api/v1/keys", headers=admin).json()
    (key,) = [k for k in listed if k["name"] == "CMS sync"]
    assert key["campaign_ids"] == ["SPRING26"]
    row = re.search(r'<tr data-key="CMS sync">(.*?)</tr>', made.text, re.S)
    assert row and "SPRING26" in row.group(1)
    bad_date = client.post(
        "/admin/keys",
        data={"csrf_token": csrf, "name": "X", "role": "automation", "expires_on": "soon"},
    )
    assert _flash(bad_date.text) == "'soon' is not a date"
    revoked = client.post(f"/admin/keys/{key['id']}/revoke", data={"csrf_token": csrf})
    assert _flash(revoked.text) == "Key 'CMS sync' revoked: it stops working at once."
    assert client.get("/api/v1/me", headers=bearer).status_code == 401


def test_webhooks_audit_trail_and_pack_reload(
    client: TestClient, ctx: Context, users: Users
) -> None:
    csrf = sign_in(client, users.create(Role.admin, email="ada@example.com"))
    refused = client.post(
        "/admin/webhooks",
        data={"csrf_token": csrf, "url": "http://127.0.0.1/x", "secret": "s" * 20},
    )
    assert "webhooks may not be sent there" in _flash(refused.text)
    made = client.post(
        "/admin/webhooks",
        data={
            "csrf_token": csrf,
            "url": "https://hooks.example.com/dam",
            "events": "asset.approved, asset.created",
            "secret": "a-long-enough-secret",
        },
    )
    assert _flash(made.text) == "Webhook to https://hooks.example.com/dam created."
    with Session(ctx.engine) as session:
        hook = session.exec(select(Webhook)).one()
        assert hook.events == ["asset.approved", "asset.created"]
        session.add(
            WebhookDelivery(
                webhook_id=hook.id,
                event_id=uuid.uuid4(),
                event_type="asset.approved",
                attempt=1,
                succeeded=False,
                status_code=502,
                error="bad gateway",
                duration_ms=41,
                at=ctx.now(),
            )
        )
        session.commit()
        hook_id = hook.id
    page = client.get(f"/admin/webhooks?deliveries={hook_id}")
    assert "Deliveries to https://hooks.example.com/dam" in page.text
    assert "bad gateway" in page.text and "502" in page.text and "1 delivery" in page.text
    gone = client.post(f"/admin/webhooks/{hook_id}/delete", data={"csrf_token": csrf})
    assert "removed" in _flash(gone.text)
    assert "No webhooks yet." in gone.text

    trail = client.get("/admin/audit", params={"action": "webhook.created"})
    assert trail.status_code == 200
    assert "1 event" in trail.text and "hooks.example.com" in trail.text
    assert 'data-action="webhook.deleted"' not in trail.text
    everything = client.get("/admin/audit").text
    assert 'data-action="webhook.deleted"' in everything
    bad = client.get("/admin/audit", params={"since": "yesterday"})
    assert bad.status_code == 422 and "yesterday" in bad.text

    reload_page = client.get("/admin/governance")
    assert f"revision {ctx.governance.pack.revision}" in reload_page.text
    reloaded = client.post("/admin/governance/reload", data={"csrf_token": csrf})
    assert _flash(reloaded.text) == (
        f"Reloaded: nothing changed (revision {ctx.governance.pack.revision})."
    )
    assert 'data-action="governance.reloaded"' in client.get("/admin/audit").text
    assert csrf_of(reloaded.text)
