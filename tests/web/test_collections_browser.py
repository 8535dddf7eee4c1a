"""Collections and share links in real headless Chromium: a designer collects assets from the
library and an asset page, orders them, picks a cover, shares the collection with marketers
and makes a password-protected share link; someone without an account opens it, sees only
the published assets (watermarked previews), downloads one file and the zip; a marketer sees
the shared collection without the draft; the designer revokes the link and the outsider's
page says so. Screens go to test-artifacts/screenshots/ (collections-*.png)."""

from __future__ import annotations

import io
import json
import re
import zipfile
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

SHARE_PASSWORD = "nordlys-2026"


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"collections-{name}.png"), full_page=True)


def _assets(live: Live) -> dict[str, str]:  # noqa: F811 (the fixture's value)
    """Two published assets and a draft, made through the API with the admin key."""
    ids: dict[str, str] = {}
    with live.api() as api:
        for seed, title, publish in (
            (11, "Harbour at dusk", True),
            (12, "Ridge runner", True),
            (13, "Unreviewed banner", False),
        ):
            made = api.post(
                "/api/v1/assets",
                files={
                    "file": (f"{seed}.jpg", image_bytes(size=(900, 600), seed=seed), "image/jpeg")
                },
                data={"metadata": json.dumps({**GRAPHIC, "title": title})},
            )
            assert made.status_code == 201, made.text
            ids[title] = made.json()["id"]
            if publish:
                assert api.post(f"/api/v1/assets/{ids[title]}/submit").status_code == 200
                assert api.post(f"/api/v1/assets/{ids[title]}/approve").status_code == 200
    _settle(live)
    return ids


def test_collect_share_open_outside_and_revoke(
    browser: Any,  # noqa: F811 (the fixture imported above)
    live: Live,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    users = Users(live.ctx)
    designer = users.create(Role.designer, name="Dana Designer")
    marketer = users.create(Role.marketer, name="Mia Marketing")
    ids = _assets(live)

    # From the library: select two cards, put them in a new collection.
    page = _sign_in(browser, live, designer)
    page.get_by_label("Select Harbour at dusk").check()
    page.get_by_label("Select Ridge runner").check()
    page.get_by_label("New collection name").fill("Autumn press pack")
    page.get_by_role("button", name="Add to collection").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Added 2 assets to the new collection “Autumn press pack”"
    )
    _shot(page, "01-library-selection")

    # From an asset page: the draft goes in too.
    page.goto(f"/assets/{ids['Unreviewed banner']}")
    panel = page.locator("[data-collections-panel]")
    panel.get_by_label("Add to collection").select_option(label="Autumn press pack")
    panel.get_by_role("button", name="Add to collection").click()
    expect(page.get_by_role("status")).to_contain_text("Added 1 asset to “Autumn press pack”")
    expect(panel).to_contain_text("approve a version to share this asset outside")

    page.get_by_role("link", name="Collections").click()
    page.get_by_role("link", name="Autumn press pack").click()
    items = page.locator("[data-item]")
    expect(items).to_have_count(3)
    # The library listed the newest first; put the harbour first, the runner on the cover.
    expect(items.first).to_contain_text("Ridge runner")
    page.get_by_role("button", name="Move Harbour at dusk earlier").click()
    expect(items.first).to_contain_text("Harbour at dusk")
    page.get_by_role("button", name="Make Ridge runner the cover").click()
    expect(page.locator(f"[data-item='{ids['Ridge runner']}'] .cover-mark")).to_have_text("Cover")
    page.get_by_label("Marketers").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Collection saved.")
    _shot(page, "02-collection")

    # A share link for people outside, with a password, downloads and a watermark.
    page.get_by_text("Share outside…").click()
    page.get_by_label("Label (the recipients see it)").fill("For Nordlys Agency")
    page.get_by_label("Password (optional, 8 characters or more)").fill(SHARE_PASSWORD)
    page.get_by_label("Allow downloads").check()
    page.get_by_label("Watermark the previews").check()
    page.get_by_role("button", name="Make share link").click()
    flash = page.get_by_role("status")
    expect(flash).to_contain_text("Share link made")
    url = re.search(r"(http://\S+/s/\S+)", flash.inner_text())
    assert url, flash.inner_text()
    share_url = url.group(1)
    expect(page.locator(".share-links")).to_contain_text("For Nordlys Agency")
    _shot(page, "03-share-link-made")

    # Someone without an account.
    outside = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    guest = outside.new_page()
    guest.goto(share_url)
    expect(guest.get_by_role("heading", name="Password needed")).to_be_visible()
    _shot(guest, "04-outside-password")
    guest.get_by_label("Password").fill("wrong password")
    guest.get_by_role("button", name="Open").click()
    expect(guest.get_by_role("alert")).to_have_text("That password is not right.")
    guest.get_by_label("Password").fill(SHARE_PASSWORD)
    guest.get_by_role("button", name="Open").click()
    expect(guest.get_by_role("heading", name="Autumn press pack")).to_be_visible()
    cards = guest.locator(".asset-card")
    expect(cards).to_have_count(2)  # the draft is not published: outsiders never see it
    expect(cards.first).to_contain_text("Harbour at dusk")
    expect(guest.locator("body")).not_to_contain_text("Unreviewed banner")
    expect(guest.locator("body")).not_to_contain_text("Sign in")
    # Every (watermarked) thumbnail is drawn.
    guest.wait_for_function(
        "() => [...document.images].length === 2"
        " && [...document.images].every(i => i.complete && i.naturalWidth > 0)"
    )
    _shot(guest, "05-outside-collection")

    with guest.expect_download() as zipped:
        guest.get_by_role("link", name=re.compile(r"Download all \(2 files, zip\)")).click()
    archive = zipfile.ZipFile(io.BytesIO(Path(zipped.value.path()).read_bytes()))
    assert archive.namelist() == ["manifest.csv", "11.jpg", "12.jpg"]
    assert zipped.value.suggested_filename == "Autumn press pack.zip"

    cards.first.get_by_role("link").click()
    preview = guest.get_by_role("img", name="Preview of Harbour at dusk")
    expect(preview).to_be_visible()
    assert guest.evaluate("(img) => img.naturalWidth", preview.element_handle()) > 0
    with guest.expect_download() as one:
        guest.get_by_role("link", name="Download", exact=True).click()
    assert one.value.suggested_filename == "11.jpg"
    _shot(guest, "06-outside-asset")
    # On a 390 px phone the shared page fits the screen: nothing scrolls sideways.
    guest.set_viewport_size({"width": 390, "height": 844})
    guest.go_back()
    expect(guest.get_by_role("heading", name="Autumn press pack")).to_be_visible()
    assert guest.evaluate("() => document.documentElement.scrollWidth") <= 390
    _shot(guest, "06b-outside-phone")
    guest.set_viewport_size({"width": 1280, "height": 900})

    # A marketer sees the shared collection, without the draft.
    seller = _sign_in(browser, live, marketer)
    seller.goto("/collections")
    seller.get_by_role("link", name="Autumn press pack").click()
    expect(seller.locator("[data-item]")).to_have_count(2)
    expect(seller.locator("main")).not_to_contain_text("Unreviewed banner")
    _shot(seller, "07-marketer-collection")
    seller.context.close()

    # The activity, then revocation: the outsider's next request gets the withdrawn page.
    page.reload()
    links = page.locator(".share-links")
    # Views: the collection once unlocked, one asset, the collection again on the phone (the
    # password page shows nothing, so it is no view).
    expect(links.locator("tbody tr td").nth(2)).to_have_text("3")
    expect(links.locator("tbody tr td").nth(3)).to_have_text("2")  # the zip and one file
    links.get_by_role("link", name="Activity").click()
    expect(page.locator("main")).to_contain_text("wrong password")
    expect(page.locator("main")).to_contain_text("download")
    _shot(page, "08-share-activity")
    page.go_back()
    page.get_by_role("button", name="Revoke For Nordlys Agency").click()
    expect(page.get_by_role("status")).to_contain_text("Share link revoked")
    guest.goto(share_url)
    expect(guest.get_by_role("heading", name="This link was withdrawn")).to_be_visible()
    expect(guest.locator("body")).not_to_contain_text("Harbour at dusk")
    _shot(guest, "09-outside-revoked")
    outside.close()

    # Save a search from the library; it is listed beside the collections.
    page.goto("/library?q=harbour")
    page.get_by_text("Save this search").click()
    page.get_by_label("Name", exact=True).fill("Harbours")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Search saved as “Harbours”.")
    page.goto("/collections")
    expect(page.locator("#saved")).to_contain_text("Harbours")
    _shot(page, "10-saved-searches")
    page.context.close()
