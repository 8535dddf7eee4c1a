"""The campaign page's platform-export upload and placement form, and placements on the asset
page (issue 16's UI), rendered through the TestClient; the browser flow is in test_browser.py.
The Google Ads fixture is the layout described in tests/campaigns/test_sources.py."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from dam.context import Context
from dam.models import Role
from tests.campaigns.support import new_campaign, new_version, publish, published_asset
from tests.campaigns.test_sources import GOOGLE
from tests.conftest import Clock, count_rows
from tests.web.support import Users, sign_in

PLACEMENTS = "/api/v1/campaigns/ADS26/placements"


def _ads(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> tuple[str, str]:
    new_campaign(client, marketer, "ADS26", name="Spring ads", channel="instagram")
    hero = published_asset(client, ctx, designer, seed=31, campaign_ids=["ADS26"])
    banner = published_asset(client, ctx, designer, seed=32, campaign_ids=["ADS26"])
    return hero, banner


def _register(
    client: TestClient, headers: dict[str, str], ad: str, asset: str, **more: object
) -> int:
    body = {"platform": "google_ads", "external_id": ad, "asset_id": asset, **more}
    return client.post(PLACEMENTS, headers=headers, json=body).status_code


def _text(page: str) -> str:
    """The page's text with tags dropped and whitespace collapsed, for phrases across cells."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_campaign_page_offers_the_export_upload_and_placement_form_to_reporters_only(
    client: TestClient,
    ctx: Context,
    users: Users,
    designer: dict[str, str],
    marketer: dict[str, str],
) -> None:
    hero, _ = _ads(client, ctx, designer, marketer)
    assert _register(client, marketer, "6001", hero, external_name="Hero A") == 201
    sign_in(client, users.create(Role.marketer))
    page = client.get("/campaigns/ADS26").text
    assert "Upload a platform export" in page
    for name in ("google_ads", "meta", "braze"):
        assert f'<option value="{name}"' in page
    assert "Google Ads ad report" in page
    assert '<option value="de">de: 1.234,56</option>' in page
    assert '<option value="en">en: 1,234.56</option>' in page
    assert 'id="placement-form"' in page
    assert '<script src="/static/campaign.js" defer></script>' in page
    # The placement table: platform, id and name, the asset it points to, its version.
    row = re.search(r'<tr data-placement="6001".*?</tr>', page, re.S)
    assert row is not None
    cells = _text(row.group(0))
    assert cells.startswith("Google Ads \u2013 6001 Hero A")  # no account: a dash
    assert f'href="/assets/{hero}"' in row.group(0)
    assert "Add or re-point a placement" in page

    client.cookies.clear()
    sign_in(client, users.create(Role.designer))
    page = client.get("/campaigns/ADS26").text
    assert 'data-placement="6001"' in page  # designers read placements …
    assert "Upload a platform export" not in page  # … but may not ingest or register
    assert 'id="placement-form"' not in page
    assert "campaign.js" not in page


def test_asset_page_lists_placements_and_those_re_pointed_away(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    users: Users,
    designer: dict[str, str],
    marketer: dict[str, str],
) -> None:
    hero, banner = _ads(client, ctx, designer, marketer)
    new_version(client, designer, hero, seed=33)
    publish(ctx, hero, 2)
    assert _register(client, marketer, "6001", hero, version=1, account="123-456") == 201
    clock.advance(days=1)
    assert _register(client, marketer, "6001", hero, version=2, account="123-456") == 201
    assert _register(client, marketer, "6003", banner) == 201
    clock.advance(days=1)
    assert _register(client, marketer, "6003", hero) == 201  # re-pointed to another asset

    sign_in(client, users.create(Role.marketer))
    page = client.get(f"/assets/{hero}").text
    section = page[page.index('id="place-h"') : page.index('id="hist-h"')]
    rows = re.findall(r'<tr data-placement="(\d+)"( class="earlier")?>(.*?)</tr>', section, re.S)
    assert [(ad, bool(earlier)) for ad, earlier, _ in rows] == [("6001", False), ("6003", False)]
    first = _text(rows[0][2])
    assert first.startswith("Google Ads 123-456 6001 ADS26 2 ")
    assert "v1 until 26 Nov 2026, 09:00 UTC" in first  # what it pointed to before

    banner_page = client.get(f"/assets/{banner}").text
    section = banner_page[banner_page.index('id="place-h"') : banner_page.index('id="hist-h"')]
    (row,) = re.findall(r'<tr data-placement="6003" class="earlier">(.*?)</tr>', section, re.S)
    assert f'now <a href="/assets/{hero}">' in row
    assert "v1 until 27 Nov 2026, 09:00 UTC" in _text(row)

    untagged = published_asset(client, ctx, designer, seed=34, campaign_ids=["ADS26"])
    assert "No placements: no ad, creative or email" in client.get(f"/assets/{untagged}").text


def test_the_pages_api_calls_need_the_session_csrf_header(
    client: TestClient,
    ctx: Context,
    users: Users,
    designer: dict[str, str],
    marketer: dict[str, str],
) -> None:
    """What campaign.js sends: the export as a multipart `file` and the placement as JSON,
    with the session cookie and the page's token in X-CSRF-Token."""
    hero, banner = _ads(client, ctx, designer, marketer)
    csrf = sign_in(client, users.create(Role.marketer))
    files = {"file": ("Ad report.csv", GOOGLE.encode(), "text/csv")}
    url = "/api/v1/campaigns/ADS26/metrics?source=google_ads&locale=en"
    assert client.post(url + "&dry_run=true", files=files).status_code == 403
    placement = {"platform": "google_ads", "external_id": "6001", "asset_id": hero}
    assert client.post(PLACEMENTS, json=placement).status_code == 403

    token = {"X-CSRF-Token": csrf}
    assert client.post(PLACEMENTS, json=placement, headers=token).status_code == 201
    preview = client.post(url + "&dry_run=true", files=files, headers=token)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["rows"] == 2
    assert {(u["external_id"], u["line"]) for u in body["unmatched"]} == {
        ("6002", 5),
        ("6003", 6),
    }
    refused = client.post(url, files=files, headers=token)
    assert refused.status_code == 422
    assert "nothing was stored" in refused.json()["detail"]
    assert count_rows(ctx.engine, "campaign_metrics") == 0
    for ad, asset in (("6002", hero), ("6003", banner)):
        assert (
            client.post(
                PLACEMENTS, json={**placement, "external_id": ad, "asset_id": asset}, headers=token
            ).status_code
            == 201
        )
    stored = client.post(url, files=files, headers=token)
    assert stored.status_code == 200, stored.text
    assert stored.json()["rows"] == 4
    assert count_rows(ctx.engine, "campaign_metrics") == 4
    page = client.get("/campaigns/ADS26").text
    assert "<dt>Impressions</dt><dd>14,310</dd>" in page
