"""Issue 20: near-duplicates are shown during upload. Picking a file whose image looks nearly the
same as an asset already stored (the same picture saved again at another JPEG quality) shows
that asset, with its thumbnail and a link, before anything is uploaded; an unrelated picture
shows none. Real Chromium; screens go to test-artifacts/screenshots/ (issue20-*.png)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from dam.models import Role
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


def _picture(kind: int) -> bytes:
    """A plain drawing (shapes on a ground): perceptual hashes describe structure, which
    random noise lacks."""
    image = Image.new("RGB", (800, 600), (30, 60, 120))
    draw = ImageDraw.Draw(image)
    if kind == 1:
        draw.ellipse((100, 100, 400, 450), fill=(240, 200, 40))
        draw.rectangle((450, 50, 750, 300), fill=(200, 40, 40))
    else:
        draw.rectangle((50, 300, 700, 560), fill=(20, 200, 90))
        draw.ellipse((500, 50, 780, 250), fill=(250, 250, 250))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _resaved(data: bytes) -> bytes:
    """The same picture exported again: smaller and at a lower JPEG quality."""
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).resize((640, 480)).save(out, "JPEG", quality=50)
    return out.getvalue()


def test_the_upload_form_shows_lookalikes_of_a_chosen_file_before_upload(
    browser: Any,  # noqa: F811 (the fixture imported above)
    live: Live,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    data = _picture(1)
    with live.api() as api:
        made = api.post(
            "/api/v1/assets",
            files={"file": ("pier.jpg", data, "image/jpeg")},
            data={"metadata": json.dumps({**GRAPHIC, "title": "Pier in fog"})},
        )
        assert made.status_code == 201, made.text
        asset_id = made.json()["id"]
    _settle(live)  # the thumbnail exists

    near = tmp_path / "pier-export.jpg"
    near.write_bytes(_resaved(data))
    assert near.read_bytes() != data  # not the exact file: a look-alike
    other = tmp_path / "other.jpg"
    other.write_bytes(_picture(2))

    page = _sign_in(browser, live, Users(live.ctx).create(Role.designer))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/upload")
    page.locator("#files").set_input_files([str(near), str(other)])
    rows = page.locator(".file-row")
    expect(rows).to_have_count(2)
    lookalikes = rows.nth(0).locator(".file-lookalikes")
    expect(lookalikes).to_be_visible()
    link = lookalikes.locator(f'a[data-lookalike="{asset_id}"]')
    expect(link).to_have_attribute("href", f"/assets/{asset_id}")
    expect(link).to_contain_text("Pier in fog")
    thumb = link.locator("img")
    expect(thumb).to_have_attribute("src", f"/api/v1/assets/{asset_id}/renditions/thumb?version=1")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle()
    )
    # The unrelated picture was read too (its embedded panel state is settled) and has none.
    expect(rows.nth(1).locator(".file-reading")).to_be_hidden()
    expect(rows.nth(1).locator(".file-lookalikes")).to_be_hidden()
    # Nothing was uploaded.
    with live.api() as api:
        assert len(api.get("/api/v1/assets").json()["items"]) == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "issue20-lookalikes-upload.png"), full_page=True)
    link.click()
    page.wait_for_url(f"**/assets/{asset_id}")
    assert errors == []
    page.context.close()
