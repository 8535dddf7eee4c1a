"""Bulk work in real headless Chromium: a batch upload with shared defaults and per-file
overrides in the grid, sent as resumable (tus) uploads by the vendored tus-js-client; and bulk
actions on a selection in the library with a result per asset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from dam.models import ResumableUpload, Role, UploadState
from tests.factories import image_bytes
from tests.web.support import GRAPHIC, Users
from tests.web.test_browser import CHROMIUM, Live, _settle, _shot, _sign_in, browser, live

__all__ = ["browser", "live"]  # the fixtures, imported for this module's tests

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not at /usr/bin/chromium"),
]

SHARED = "Trail runner on a ridge at sunrise, for the spring social campaign."
OWN = "Waterproof jacket on a wet forest trail, studio-lit product shot."


def test_batch_upload_takes_per_file_overrides_and_goes_resumable(
    browser: Any, live: Live, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    email = Users(live.ctx).create(Role.designer)
    page = _sign_in(browser, live, email)
    page.goto("/upload")
    runner = tmp_path / "runner.jpg"
    runner.write_bytes(image_bytes(size=(1600, 1200), seed=301))
    jacket = tmp_path / "jacket.jpg"
    jacket.write_bytes(image_bytes(size=(1600, 1200), seed=302))
    page.locator("#files").set_input_files([str(runner), str(jacket)])
    grid = page.locator("#file-grid")
    expect(grid.locator("tbody tr")).to_have_count(2)
    page.locator("#description").fill(SHARED)
    page.locator("#tags").fill("spring")
    page.locator('fieldset[data-facet="asset_type"]').get_by_label("Photo", exact=True).check()
    page.locator('fieldset[data-facet="usage_rights"]').get_by_label("Owned", exact=True).check()
    page.locator('fieldset[data-facet="brand"]').get_by_label("Halden", exact=True).check()
    # The jacket gets its own title, description, an extra tag and its own channel.
    jacket_row = grid.locator("tbody tr").nth(1)
    jacket_row.get_by_label("Title of jacket.jpg").fill("Forest jacket")
    expect(page.locator(".file-row").nth(1).locator(".file-title")).to_have_value("Forest jacket")
    jacket_row.get_by_label("Description of jacket.jpg").fill(OWN)
    jacket_row.get_by_label("More tags of jacket.jpg").fill("jacket, rain")
    jacket_row.get_by_label("Channel of jacket.jpg").select_option("email")
    page.get_by_label("Submit for review after uploading").uncheck()
    _shot(page, "20-upload-grid")
    page.get_by_role("button", name="Upload", exact=True).click()
    rows = page.locator(".file-row")
    expect(rows.nth(0).locator(".file-status")).to_have_text("Uploaded")
    expect(rows.nth(1).locator(".file-status")).to_have_text("Uploaded")
    expect(rows.nth(1).locator(".file-result")).to_contain_text("Forest jacket")

    with live.api() as api:
        items = api.get("/api/v1/assets").json()["items"]
    by_title = {item["title"]: item for item in items}
    assert by_title["runner"]["description"] == SHARED
    assert by_title["runner"]["tags"] == ["spring"]
    assert "channel" not in by_title["runner"]["terms"]
    assert by_title["Forest jacket"]["description"] == OWN
    assert by_title["Forest jacket"]["tags"] == ["spring", "jacket", "rain"]
    assert by_title["Forest jacket"]["terms"]["channel"] == ["email"]
    with Session(live.ctx.engine) as session:
        uploads = list(session.exec(select(ResumableUpload)))
    assert sorted(str(u.asset_id) for u in uploads) == sorted(i["id"] for i in items)
    assert {u.state for u in uploads} == {UploadState.completed}


def test_library_bulk_actions_report_each_asset(browser: Any, live: Live) -> None:
    from playwright.sync_api import expect

    email = Users(live.ctx).create(Role.designer)
    with live.api() as api:
        ids = []
        for seed, title in ((311, "Ridge one"), (312, "Ridge two"), (313, "Ridge three")):
            data = image_bytes(size=(64, 48), seed=seed)
            response = api.post(
                "/api/v1/assets",
                files={"file": (f"{seed}.jpg", data, "image/jpeg")},
                data={"metadata": json.dumps({**GRAPHIC, "title": title})},
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    _settle(live)
    page = _sign_in(browser, live, email)
    expect(page.locator(".asset-card")).to_have_count(3)
    page.get_by_label("Select Ridge one").check()
    page.get_by_label("Select Ridge two").check()
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    page.get_by_label("Action", exact=True).select_option("add_tags")
    page.get_by_label("Tags").fill("autumn, trail")
    page.get_by_role("button", name="Apply to selected").click()
    expect(page.locator("#bulk-summary")).to_have_text("2 of 2 done.")
    expect(page.locator("#bulk-results li")).to_have_count(2)

    # Reviewing is not a designer's: the menu does not offer it.
    expect(page.get_by_label("Action", exact=True).locator("option[value=approve]")).to_have_count(
        0
    )
    # One asset was submitted already: it is refused with the reason, the others go.
    with live.api() as api:
        assert api.post(f"/api/v1/assets/{ids[2]}/submit").status_code == 200
    page.get_by_label("Select all on this page").check()
    page.get_by_label("Action", exact=True).select_option("submit")
    page.get_by_role("button", name="Apply to selected").click()
    expect(page.locator("#bulk-summary")).to_have_text("2 of 3 done, 1 refused (listed below).")
    results = page.locator("#bulk-results li")
    expect(results).to_have_count(3)
    expect(results.filter(has_text="Ridge three")).to_contain_text(
        "refused: version 1 is in_review"
    )
    _shot(page, "21-library-bulk")

    with live.api() as api:
        got = {a["title"]: a["tags"] for a in api.get("/api/v1/assets").json()["items"]}
        assert sorted(a["id"] for a in api.get("/api/v1/assets").json()["items"]) == sorted(ids)
    assert "autumn" in got["Ridge one"] and "trail" in got["Ridge two"]
    assert "autumn" not in got["Ridge three"]


def test_a_dropped_chunk_is_retried_and_the_upload_resumes(
    browser: Any, live: Live, tmp_path: Path
) -> None:
    """The browser's second PATCH is cut off: tus-js-client asks HEAD for the offset and goes
    on from there, in the same upload (one upload row, one asset)."""
    import os

    from playwright.sync_api import Route, expect

    email = Users(live.ctx).create(Role.designer)
    page = _sign_in(browser, live, email)
    page.goto("/upload")
    big = tmp_path / "ridge-wide.jpg"
    # A JPEG with 9 MiB of noise after it: two 8 MiB chunks.
    big.write_bytes(image_bytes(size=(1600, 1200), seed=321) + os.urandom(9 * 1024 * 1024))
    seen: list[str] = []

    def cut_second_patch(route: Route) -> None:
        request = route.request
        seen.append(f"{request.method} {request.headers.get('upload-offset', '')}")
        if (
            request.method == "PATCH"
            and request.headers.get("upload-offset") != "0"
            and ("cut" not in seen)
        ):
            seen.append("cut")
            route.abort("connectionreset")
            return
        route.continue_()

    page.route("**/api/v1/uploads/*", cut_second_patch)
    page.locator("#files").set_input_files([str(big)])
    page.locator("#description").fill(SHARED)
    page.locator('fieldset[data-facet="asset_type"]').get_by_label("Photo", exact=True).check()
    page.locator('fieldset[data-facet="usage_rights"]').get_by_label("Owned", exact=True).check()
    page.locator('fieldset[data-facet="brand"]').get_by_label("Halden", exact=True).check()
    page.get_by_label("Submit for review after uploading").uncheck()
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator(".file-row .file-status")).to_have_text("Uploaded", timeout=60_000)
    assert "cut" in seen
    assert any(s.startswith("HEAD") for s in seen[seen.index("cut") :]), seen
    with Session(live.ctx.engine) as session:
        (upload,) = session.exec(select(ResumableUpload))
    assert upload.state == UploadState.completed
    assert upload.length == big.stat().st_size
