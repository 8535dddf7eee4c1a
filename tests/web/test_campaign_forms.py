"""Campaigns made and edited in the UI by the roles that manage them (a marketer here), and the
asset page's campaign picker: a choice among existing campaigns, not a typed id. A refused
form comes back with what was typed."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from fastapi.testclient import TestClient

from dam.context import Context
from dam.models import Role
from tests.campaigns.support import publish
from tests.web.support import Users, new_asset, sign_in

pytestmark = pytest.mark.usefixtures("db_backend")


def _flash(html: str) -> str:
    found = re.search(r'<div class="flash[^>]*>\s*<p>(.*?)</p>', html, re.S)
    return html_lib.unescape(found.group(1)) if found else ""


def test_marketer_creates_and_edits_a_campaign(client: TestClient, users: Users) -> None:
    csrf = sign_in(client, users.create(Role.marketer, email="mia@example.com"))
    listing = client.get("/campaigns")
    assert 'href="/campaigns/new/form"' in listing.text
    form = client.get("/campaigns/new/form")
    assert form.status_code == 200 and '<option value="instagram"' in form.text
    body = {
        "csrf_token": csrf,
        "id": "summer26-ig",
        "name": "Summer 2026 on Instagram",
        "channel": "instagram",
        "objective": "Awareness",
        "starts_on": "2026-06-01",
        "ends_on": "2026-05-01",
        "timezone": "Europe/Oslo",
    }
    refused = client.post("/campaigns", data=body)
    assert refused.status_code == 400
    assert "Ends on must not be before Starts on" in html_lib.unescape(refused.text)
    # What was typed stays in the form.
    assert 'value="summer26-ig"' in refused.text
    assert 'value="Summer 2026 on Instagram"' in refused.text
    assert '<option value="instagram" selected>' in refused.text
    made = client.post("/campaigns", data={**body, "ends_on": "2026-08-31"})
    assert made.status_code == 200
    assert str(made.url).endswith("/campaigns/SUMMER26-IG")
    assert _flash(made.text) == "Campaign SUMMER26-IG created."
    assert "Summer 2026 on Instagram" in made.text
    again = client.post("/campaigns", data={**body, "ends_on": "2026-08-31"})
    assert again.status_code == 400 and "already exists" in again.text

    edit = client.get("/campaigns/SUMMER26-IG/edit")
    assert 'value="2026-06-01"' in edit.text and 'value="Europe/Oslo"' in edit.text
    bad_zone = client.post(
        "/campaigns/SUMMER26-IG/edit",
        data={"csrf_token": csrf, "name": "Summer", "timezone": "Mars/Olympus"},
    )
    assert bad_zone.status_code == 400 and 'value="Mars/Olympus"' in bad_zone.text
    saved = client.post(
        "/campaigns/SUMMER26-IG/edit",
        data={
            "csrf_token": csrf,
            "name": "Summer 2026, social",
            "channel": "social",
            "starts_on": "2026-06-01",
            "ends_on": "",
            "timezone": "UTC",
        },
    )
    assert _flash(saved.text) == "Campaign SUMMER26-IG saved."
    api = client.get("/api/v1/campaigns/SUMMER26-IG").json()
    assert (api["name"], api["channel"], api["ends_on"], api["objective"]) == (
        "Summer 2026, social",
        "social",
        None,
        None,
    )


def test_designers_cannot_manage_campaigns_and_the_asset_page_picks_one(
    client: TestClient,
    ctx: Context,
    users: Users,
    designer: dict[str, str],
    admin: dict[str, str],
) -> None:
    for cid, name in (("SPRING26", "Spring 2026"), ("FALL26", "Fall 2026")):
        assert (
            client.post(
                "/api/v1/campaigns", headers=admin, json={"id": cid, "name": name}
            ).status_code
            == 201
        )
    asset_id = new_asset(client, designer)
    publish(ctx, asset_id)  # campaigns are for published assets
    csrf = sign_in(client, users.create(Role.designer, email="dana@example.com"))
    assert client.get("/campaigns/new/form").status_code == 403
    assert (
        client.post("/campaigns", data={"csrf_token": csrf, "id": "X1", "name": "X"}).status_code
        == 403
    )
    page = client.get(f"/assets/{asset_id}").text
    picker = re.search(
        r'<select id="campaign_id" name="campaign_id" required>(.*?)</select>', page, re.S
    )
    assert picker, page
    assert re.findall(r'<option value="([^"]*)"', picker.group(1)) == ["", "FALL26", "SPRING26"]
    assert "Fall 2026 (FALL26)" in picker.group(1)
    tagged = client.post(
        f"/assets/{asset_id}/campaigns", data={"csrf_token": csrf, "campaign_id": "FALL26"}
    )
    assert _flash(tagged.text) == "Tagged with campaign FALL26."
    picker = re.search(r'<select id="campaign_id"[^>]*>(.*?)</select>', tagged.text, re.S)
    assert picker and re.findall(r'<option value="([^"]*)"', picker.group(1)) == ["", "SPRING26"]
