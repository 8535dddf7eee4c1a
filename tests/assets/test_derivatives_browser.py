"""The asset page's channel derivatives in real headless Chromium: a designer clicks the preview
to set the focal point (saved through the API, marked on the picture), the derivative previews
are drawn around it, and a marketer downloads a preset and an ad-hoc size."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlmodel import Session, select

from dam.models import FocalPoint, Role
from tests.campaigns.support import metadata, publish
from tests.web.support import Users
from tests.web.test_browser import CHROMIUM, Live, _settle, _shot, _sign_in, browser, live

__all__ = ["browser", "live"]  # the fixtures, shared with the main browser story

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not at /usr/bin/chromium"),
]


def _wide_picture() -> bytes:
    # 3:1, grey with a red square at the far left: a 1:1 crop shows it only when the focal
    # point is there.
    img = Image.new("RGB", (2400, 800), (128, 128, 128))
    img.paste((220, 20, 20), (40, 360, 120, 440))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92)
    return out.getvalue()


def test_designer_sets_the_focal_point_and_marketer_downloads_derivatives(
    browser: Any, live: Live, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    users = Users(live.ctx)
    designer = users.create(Role.designer, name="Dana Designer")
    marketer = users.create(Role.marketer, name="Mia Marketing")
    with live.api() as api:
        made = api.post(
            "/api/v1/assets",
            files={"file": ("ridge.jpg", _wide_picture(), "image/jpeg")},
            data={"metadata": json.dumps(metadata(channel=["instagram"]))},
        )
        assert made.status_code == 201, made.text
        asset_id = made.json()["id"]
    publish(live.ctx, asset_id)
    _settle(live)

    page = _sign_in(browser, live, designer)
    page.goto(f"/assets/{asset_id}")
    section = page.locator("[data-derivatives]")
    expect(section.locator("[data-derivative]")).to_have_count(3)
    expect(section).to_contain_text("Instagram feed square 1:1")
    status = page.locator("[data-focal-status]")
    expect(status).to_contain_text("No focal point")
    preview = page.locator("[data-preview] img")
    expect(preview).to_be_visible()
    box = preview.bounding_box()
    assert box is not None
    # Click on the red square: 80/2400 across, half-way down.
    page.mouse.click(box["x"] + box["width"] * 80 / 2400, box["y"] + box["height"] / 2)
    expect(status).to_contain_text("Focal point at 3% across, 50% down")
    expect(page.locator(".focal-marker")).to_be_visible()
    with Session(live.ctx.engine) as session:
        points = session.exec(select(FocalPoint)).all()
    assert len(points) == 1 and abs(points[0].x - 80 / 2400) < 0.01
    # The derivative previews are drawn again around the new point.
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-derivative=\"ig-square\"] img');"
        " return i.src.includes('focal=') && i.complete && i.naturalWidth > 0; }"
    )
    _shot(page, "derivatives-focal-point")
    page.context.close()

    page = _sign_in(browser, live, marketer)
    page.goto(f"/assets/{asset_id}")
    expect(page.locator("[data-focal-status]")).not_to_contain_text("click the preview")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download Instagram feed square 1:1").click()
    saved = tmp_path / "square.jpg"
    info.value.save_as(saved)
    with Image.open(saved) as img:
        assert img.size == (1080, 1080)
        red = img.convert("RGB").getpixel((int(80 / 800 * 1080), 540))
    assert red[0] > 150 and red[2] < 100, red
    form = page.get_by_role("form", name="Download as")
    form.get_by_label("Width").fill("640")
    form.get_by_label("Format").select_option("png")
    with page.expect_download() as info:
        form.get_by_role("button", name="Download this size").click()
    saved = tmp_path / "adhoc.png"
    info.value.save_as(saved)
    with Image.open(saved) as img:
        assert (img.format, img.size) == ("PNG", (640, 213))
