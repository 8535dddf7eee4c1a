"""A 390 px phone in Chromium: the top menu folds behind *Menu*, the library's filters behind
*Filters*, the search box keeps the width, nothing scrolls sideways, and the main pages log no
console error. Screens go to test-artifacts/screenshots/ (phone-*.png)."""

from __future__ import annotations

from typing import Any

from dam.models import Role
from tests.web.support import Users
from tests.web.test_browser import (  # noqa: F401 (fixtures)
    PASSWORD,
    SHOTS,
    Live,
    browser,
    live,
    pytestmark,
)


def test_phone_menu_filters_and_no_console_errors(
    browser: Any,  # noqa: F811 (the fixture imported above)
    live: Live,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    email = Users(live.ctx).create(Role.admin, email="ada@example.com")
    context = browser.new_context(base_url=live.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/library")

    nav = page.get_by_role("navigation", name="Main")
    menu = page.get_by_role("button", name="Menu")
    expect(nav).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")
    filters = page.get_by_role("button", name="Filters")
    expect(page.locator(".facets")).to_be_hidden()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "phone-library.png"), full_page=True)
    filters.click()
    expect(page.locator(".facets")).to_be_visible()
    menu.click()
    expect(nav).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "true")
    page.screenshot(path=str(SHOTS / "phone-menu-open.png"), full_page=True)
    box = page.get_by_role("combobox", name="Search the library").bounding_box()
    assert box is not None and box["width"] >= 200

    for path in (
        "/library",
        "/collections",
        "/campaigns",
        "/governance",
        "/admin/users",
        "/admin/keys",
        "/admin/webhooks",
        "/admin/audit",
        "/upload",
        "/review",
    ):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 1, f"{path} scrolls sideways ({width} px)"
    context.close()
    assert errors == [], errors
