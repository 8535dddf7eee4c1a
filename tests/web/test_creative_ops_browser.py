"""Issue 19's story in real headless Chromium: a marketer files a brief, a designer uploads
against it, brand then legal approve from the review queue, the brief shows delivered and the
dashboard shows the cycle time. Screens go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from dam.models import Role
from tests.factories import image_bytes
from tests.web import test_browser as story
from tests.web.support import Users

pytestmark = story.pytestmark

# The fixtures of the main browser story: the app under uvicorn, and Chromium.
live = story.live
browser = story.browser


def test_brief_to_delivery_through_two_review_stages(
    browser: Any, live: story.Live, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    users = Users(live.ctx)
    marketer = users.create(Role.marketer, name="Mia Marketing")
    designer = users.create(Role.designer, name="Dana Designer")
    brand = users.create(Role.brand_manager, name="Bo Brand")
    legal = users.create(Role.admin, name="Lee Legal")

    # The marketer files the brief.
    page = story._sign_in(browser, live, marketer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Briefs").click()
    page.get_by_label("Title").fill("Fjord launch")
    page.get_by_label("Objective").fill("Sign-ups for the fjord trail range")
    page.get_by_label("Channels, audience and other terms").fill("channel: instagram")
    page.get_by_label("Deliverables (one a line)").fill("1 \u00d7 Instagram 4:5")
    page.get_by_label("Due date").fill((date.today() + timedelta(days=7)).isoformat())
    page.get_by_role("button", name="File brief").click()
    expect(page.get_by_role("status")).to_contain_text("Filed the brief")
    expect(page.locator("#brief-state")).to_have_text("Open")
    brief_url = page.url
    story._shot(page, "40-brief-filed")
    story._sign_out(page)

    # The designer uploads licensed stock against it, and submits.
    page = story._sign_in(browser, live, designer)
    page.goto(brief_url)
    picture = tmp_path / "fjord-45.jpg"
    picture.write_bytes(image_bytes(size=(1080, 1350), seed=41))
    page.get_by_label("File").set_input_files(str(picture))
    page.get_by_label("Title").fill("Fjord runner 4:5")
    page.get_by_label("Description").fill("A trail runner above the fjord at first light")
    page.get_by_label("Terms (the brief's are added)").fill(
        "asset_type: photo; usage_rights: stock; brand: halden"
    )
    page.get_by_label("Usage rights end (licensed work)").fill(
        (date.today() + timedelta(days=365)).isoformat()
    )
    page.get_by_role("button", name="Upload").click()
    row = page.locator('tr.deliverable[data-deliverable="instagram-4-5"]')
    expect(row).to_contain_text("In review")
    story._shot(page, "41-brief-uploaded")
    story._sign_out(page)
    story._settle(live)

    # Brand approves first; the version then waits for legal.
    page = story._sign_in(browser, live, brand)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review").click()
    item = page.locator(".review-item", has_text="Fjord runner 4:5")
    expect(item.locator(".review-stages")).to_contain_text("Brand review")
    expect(item).to_contain_text("due ")
    story._shot(page, "42-review-brand")
    # A comment pinned to the picture, mentioning the designer.
    item.get_by_role("link", name="Fjord runner 4:5").click()
    # The middle of the picture (the preview box may be wider than the picture it fits).
    img = page.locator(".preview-box img")
    img.wait_for()
    size = img.bounding_box()
    img.click(position={"x": size["width"] / 2, "y": size["height"] / 2})
    expect(page.locator("[data-pin-hint]")).to_contain_text("Pinned at 50%, 50%")
    page.get_by_label("Comment", exact=True).fill(f"@{designer} lift the horizon a little")
    page.get_by_role("button", name="Comment", exact=True).click()
    expect(page.locator(".comment-list")).to_contain_text("lift the horizon")
    expect(page.locator(".comment-list")).to_contain_text("Bo Brand (at 50%, 50%)")
    expect(page.locator(".preview-box .pin")).to_have_count(1)
    story._shot(page, "42b-comment-pinned")
    page.go_back()
    item = page.locator(".review-item", has_text="Fjord runner 4:5")
    item.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("moves on to the next stage")
    expect(item.locator(".review-stages")).to_contain_text("Legal review")
    story._sign_out(page)

    page = story._sign_in(browser, live, legal)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox").click()
    expect(page.locator(".inbox-waiting")).to_contain_text("Legal review")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review").click()
    page.locator(".review-item", has_text="Fjord runner 4:5").get_by_role(
        "button", name="Approve"
    ).click()
    expect(page.get_by_role("status")).to_contain_text("it is now published")
    story._sign_out(page)

    # The designer was told about the comment.
    story._settle(live)
    page = story._sign_in(browser, live, designer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox").click()
    expect(page.locator(".notifications")).to_contain_text("Bo Brand mentioned you")
    story._sign_out(page)

    # The brief shows delivered, the dashboard the cycle time.
    page = story._sign_in(browser, live, marketer)
    page.goto(brief_url)
    expect(page.locator("#brief-state")).to_have_text("Delivered")
    expect(page.locator(".muted").first).to_contain_text("on time")
    story._shot(page, "43-brief-delivered")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Turnaround").click()
    expect(page.locator("#cycle-p50")).to_have_text(re.compile(r"^\d+\.\d h$"))
    expect(page.locator(".turnaround-stages")).to_contain_text("Legal")
    story._shot(page, "44-turnaround")
    page.context.close()
