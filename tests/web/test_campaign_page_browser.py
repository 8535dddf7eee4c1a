"""Issue 20's campaign page, in real Chromium: a one-day campaign's chart shows its point (a
line of one day is a single point, which a polyline alone does not draw), spend shows its
currency (one amount per currency, never converted), and the performance table shows each
asset's thumbnail. Screens go to test-artifacts/screenshots/ (issue20-*.png)."""

from __future__ import annotations

import json
from typing import Any

from dam.models import Role
from dam.web.service import Series, line_chart
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


def test_a_one_day_series_gets_a_point_in_the_middle_of_the_chart() -> None:
    from datetime import date
    from uuid import uuid4

    chart = line_chart([Series(uuid4(), "Hero", [(date(2026, 11, 20), 500)])], width=720)
    assert not chart.empty
    assert [(x, title) for x, _, _, title in chart.dots] == [
        (56 + (720 - 56 - 12) / 2, "Hero, 20 Nov: 500")
    ]
    assert chart.x_labels == [(56 + (720 - 56 - 12) / 2, "20 Nov")]


def test_one_day_campaign_chart_spend_currency_and_thumbnails(
    browser: Any,  # noqa: F811 (the fixture imported above)
    live: Live,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    with live.api() as api:
        made = api.post("/api/v1/campaigns", json={"id": "ONEDAY26", "name": "Flash sale"})
        assert made.status_code == 201, made.text
        asset = api.post(
            "/api/v1/assets",
            files={"file": ("flash.jpg", image_bytes(size=(900, 600), seed=83), "image/jpeg")},
            data={
                "metadata": json.dumps(
                    {**GRAPHIC, "title": "Flash sale banner", "campaign_ids": ["ONEDAY26"]}
                )
            },
        )
        assert asset.status_code == 201, asset.text
        asset_id = asset.json()["id"]
        assert api.post(f"/api/v1/assets/{asset_id}/submit").status_code == 200
        assert api.post(f"/api/v1/assets/{asset_id}/approve").status_code == 200
        rows = [
            {
                "asset_id": asset_id,
                "date": "2026-11-20",
                "channel": channel,
                "impressions": impressions,
                "clicks": 12,
                "spend": spend,
                "currency": currency,
            }
            for channel, impressions, spend, currency in (
                ("instagram", 900, "12.50", "EUR"),
                ("facebook", 300, "3.00", "USD"),
            )
        ]
        posted = api.post("/api/v1/campaigns/ONEDAY26/metrics", json=rows)
        assert posted.status_code == 200, posted.text
    _settle(live)  # the thumbnail exists

    page = _sign_in(browser, live, Users(live.ctx).create(Role.marketer))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/campaigns/ONEDAY26")
    point = page.locator("svg.chart circle.point")
    expect(point).to_have_count(1)
    expect(point.locator("title")).to_have_text("Flash sale banner, 20 Nov: 1,200")
    box = point.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0  # drawn, not collapsed
    expect(page.locator(".kpis dd[data-spend]")).to_have_text("12.50 EUR · 3.00 USD")
    row = page.locator("table.numbers tbody tr", has_text="Flash sale banner")
    expect(row.locator("td[data-spend]")).to_have_text("12.50 EUR · 3.00 USD")
    img = row.locator(".table-thumb img")
    expect(img).to_have_attribute("src", f"/api/v1/assets/{asset_id}/renditions/thumb?version=1")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "issue20-campaign-one-day.png"), full_page=True)
    assert errors == []
    page.context.close()
