"""Issue 20's UI stories in real headless Chromium: the exact-duplicate message links to the
asset already stored; an admin creates a user whose one-time link sets their password, makes a
campaign-scoped key, reloads the pack and reads the audit trail; a marketer creates a campaign
and tags an asset with it from the picker. No page logs a console error. Screens go to
test-artifacts/screenshots/ (issue20-*.png)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from dam.models import Role
from tests.factories import image_bytes
from tests.web.support import GRAPHIC, Users
from tests.web.test_browser import (  # noqa: F401 (fixtures)
    SHOTS,
    Live,
    _settle,
    _sign_in,
    browser,
    live,
    pytestmark,
)


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"issue20-{name}.png"), full_page=True)


def _watch(page: Any, errors: list[str]) -> Any:
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


def test_duplicate_link_admin_pages_and_campaign_picker(
    browser: Any,  # noqa: F811 (the fixture imported above)
    live: Live,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    users = Users(live.ctx)
    errors: list[str] = []
    data = image_bytes(size=(900, 600), seed=41)
    with live.api() as api:
        made = api.post(
            "/api/v1/assets",
            files={"file": ("harbour.jpg", data, "image/jpeg")},
            data={"metadata": json.dumps({**GRAPHIC, "title": "Harbour at dusk"})},
        )
        assert made.status_code == 201, made.text
        asset_id = made.json()["id"]
        assert api.post(f"/api/v1/assets/{asset_id}/submit").status_code == 200
        assert api.post(f"/api/v1/assets/{asset_id}/approve").status_code == 200
    _settle(live)

    # The same file again: the message links to the asset that has it.
    again = tmp_path / "harbour-copy.jpg"
    again.write_bytes(data)
    page = _watch(_sign_in(browser, live, users.create(Role.designer)), errors)
    page.goto("/upload")
    page.locator("#files").set_input_files([str(again)])
    page.locator(".file-title").first.fill("Harbour again")
    page.locator('fieldset[data-facet="asset_type"]').get_by_label("Graphic", exact=True).check()
    page.locator('fieldset[data-facet="usage_rights"]').get_by_label("Owned", exact=True).check()
    page.locator('fieldset[data-facet="brand"]').get_by_label("Halden", exact=True).check()
    page.get_by_role("button", name="Check compliance").click()
    existing = page.locator(".file-result a[data-duplicate-of]")
    expect(existing).to_have_text("Open the existing asset")
    expect(page.locator(".file-result")).to_contain_text(
        "This exact file is already in the library."
    )
    _shot(page, "01-duplicate")
    existing.click()
    page.wait_for_url(f"**/assets/{asset_id}")

    # A misspelt term in the search box: the taxonomy's term is offered and filters by it.
    page.goto("/library")
    page.get_by_role("combobox", name="Search the library").fill("instagarm")
    term = page.locator("#q-suggestions .suggest-term").first
    expect(term).to_have_text("Instagram · Channel")
    _shot(page, "01b-typo-suggestion")
    term.dispatch_event("mousedown")
    page.wait_for_url("**/library?channel=instagram")
    page.context.close()

    # The admin's pages: a new user with a one-time password link.
    admin = _watch(
        _sign_in(browser, live, users.create(Role.admin, email="ada@example.com")), errors
    )
    admin.get_by_role("link", name="Admin").click()
    admin.wait_for_url("**/admin/users")
    form = admin.get_by_role("form", name="New user")
    form.get_by_label("Email").fill("nina@example.com")
    form.get_by_label("Role").select_option("marketer")
    form.get_by_role("button", name="Create user").click()
    flash = admin.locator("[data-flash]")
    expect(flash).to_contain_text("one-time link")
    found = re.search(r"(/password/\S+)", flash.inner_text())
    assert found
    _shot(admin, "02-admin-users")

    outsider = browser.new_context(base_url=live.url)
    nina = _watch(outsider.new_page(), errors)
    nina.goto(found.group(1))
    nina.get_by_label("New password").fill("nina's own password")
    nina.get_by_label("Again").fill("nina's own password")
    nina.get_by_role("button", name="Set password").click()
    nina.wait_for_url("**/sign-in**")
    nina.get_by_label("Email").fill("nina@example.com")
    nina.get_by_label("Password").fill("nina's own password")
    nina.get_by_role("button", name="Sign in").click()
    nina.wait_for_url("**/library")

    # Nina, a marketer, makes a campaign and tags the asset from the picker.
    nina.get_by_role("link", name="Campaigns").click()
    nina.get_by_role("link", name="New campaign").click()
    nina.get_by_label("Id", exact=False).first.fill("autumn26")
    nina.get_by_label("Name", exact=True).fill("Autumn 2026")
    nina.get_by_label("Channel").select_option("instagram")
    nina.get_by_role("button", name="Create campaign").click()
    nina.wait_for_url("**/campaigns/AUTUMN26")
    expect(nina.locator("[data-flash]")).to_contain_text("Campaign AUTUMN26 created.")
    _shot(nina, "03-campaign-created")
    nina.goto(f"/assets/{asset_id}")
    nina.get_by_label("Add to campaign").select_option("AUTUMN26")
    nina.get_by_role("button", name="Add", exact=True).click()
    expect(nina.locator(".campaign-list")).to_contain_text("AUTUMN26")
    _shot(nina, "04-asset-tagged")
    outsider.close()

    # A key scoped to the campaign, the pack reloaded, the trail of it all.
    admin.get_by_role("link", name="API keys").click()
    key_form = admin.get_by_role("form", name="New API key")
    key_form.get_by_label("Name", exact=True).fill("Autumn feed")
    key_form.get_by_label("Only these campaigns").select_option(["AUTUMN26"])
    key_form.get_by_role("button", name="Create key").click()
    expect(admin.locator("[data-flash]")).to_contain_text("Copy it now")
    expect(admin.locator('tr[data-key="Autumn feed"]')).to_contain_text("AUTUMN26")
    _shot(admin, "05-admin-keys")
    admin.get_by_role("link", name="Webhooks").click()
    expect(admin.get_by_role("form", name="New webhook")).to_be_visible()
    admin.get_by_role("link", name="Governance pack").click()
    admin.get_by_role("button", name="Reload the governance pack").click()
    expect(admin.locator("[data-flash]")).to_contain_text("Reloaded: nothing changed")
    admin.get_by_role("link", name="Audit trail").click()
    expect(admin.locator('tr[data-action="campaign.created"]')).to_contain_text("Autumn 2026")
    expect(admin.locator('tr[data-action="governance.reloaded"]')).to_have_count(1)
    _shot(admin, "06-admin-audit")
    admin.context.close()
    assert errors == [], errors
