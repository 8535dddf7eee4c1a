"""Creative insights read a monthly rollup and an asset-terms table: both must stay exact
after re-sent days, for ranges that cut through months, and when an asset's terms change."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.context import Context
from dam.models import AssetTerm, CampaignMetric, CampaignMetricMonth
from tests.campaigns.support import metadata, new_campaign, published_asset

pytestmark = pytest.mark.usefixtures("db_backend")

INSIGHTS = "/api/v1/reports/creative-insights"


def _post(client: TestClient, headers: dict[str, str], campaign: str, rows: list[Any]) -> None:
    response = client.post(f"/api/v1/campaigns/{campaign}/metrics", headers=headers, json=rows)
    assert response.status_code == 200, response.text


def _insights(client: TestClient, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = client.get(INSIGHTS, headers=headers, params={"facet": "visual_style", **params})
    assert response.status_code == 200, response.text
    return {
        i["term"]: (i["assets"], i["campaigns"], i["impressions"], i["clicks"], i["spend"])
        for i in response.json()["items"]
    }


def _rollup(ctx: Context) -> list[tuple[str, str, str, str, int, int, int, int]]:
    with Session(ctx.engine) as session:
        rows = session.exec(select(CampaignMetricMonth)).all()
    return sorted(
        (
            r.campaign_id,
            str(r.asset_id),
            r.month.isoformat(),
            r.channel,
            r.impressions,
            r.clicks,
            r.spend_cents,
            r.revenue_cents,
        )
        for r in rows
    )


def _recounted(ctx: Context) -> list[tuple[str, str, str, str, int, int, int, int]]:
    """The rollup as it must be: recounted in Python from the daily rows."""
    sums: dict[tuple[str, str, str, str], list[int]] = {}
    with Session(ctx.engine) as session:
        for r in session.exec(select(CampaignMetric)).all():
            key = (r.campaign_id, str(r.asset_id), r.date.replace(day=1).isoformat(), r.channel)
            acc = sums.setdefault(key, [0, 0, 0, 0])
            acc[0] += r.impressions
            acc[1] += r.clicks
            acc[2] += int(Decimal(r.spend) * 100)
            acc[3] += int(Decimal(r.revenue) * 100)
    return sorted((*key, *values) for key, values in sums.items())


@pytest.fixture
def styled(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> dict[str, str]:
    new_campaign(client, marketer, "INS26", channel="instagram")
    new_campaign(client, marketer, "MAIL26", channel="email")
    return {
        "lifestyle": published_asset(
            client,
            ctx,
            designer,
            seed=11,
            campaign_ids=["INS26", "MAIL26"],
            visual_style=["lifestyle"],
        ),
        "product": published_asset(
            client, ctx, designer, seed=12, campaign_ids=["INS26"], visual_style=["product-shot"]
        ),
    }


def test_rollup_stays_exact_after_resent_days(
    client: TestClient,
    ctx: Context,
    automation: dict[str, str],
    marketer: dict[str, str],
    styled: dict[str, str],
) -> None:
    life, product = styled["lifestyle"], styled["product"]
    _post(
        client,
        automation,
        "INS26",
        [
            {
                "asset_id": life,
                "date": "2026-09-30",
                "impressions": 100,
                "clicks": 1,
                "spend": "1.10",
            },
            {
                "asset_id": life,
                "date": "2026-10-01",
                "impressions": 200,
                "clicks": 2,
                "spend": "2.20",
            },
            {"asset_id": product, "date": "2026-10-02", "impressions": 50, "spend": "0.05"},
        ],
    )
    # Restate one day (smaller figures), add a day in the same month, and send a retry twice.
    restated = [
        {"asset_id": life, "date": "2026-10-01", "impressions": 20, "clicks": 1, "spend": "0.333"},
        {"asset_id": life, "date": "2026-10-31", "impressions": 7, "spend": "0.01"},
    ]
    _post(client, automation, "INS26", restated)
    _post(client, automation, "INS26", restated)
    _post(client, automation, "MAIL26", [{"asset_id": life, "date": "2026-10-05", "clicks": 3}])

    assert _rollup(ctx) == _recounted(ctx)
    life_month = [r for r in _rollup(ctx) if r[0] == "INS26" and r[1] == life]
    assert [(r[2], r[4], r[5], r[6]) for r in life_month] == [
        ("2026-09-01", 100, 1, 110),
        ("2026-10-01", 27, 1, 34),
    ]
    assert _insights(client, marketer) == {
        "lifestyle": (1, 2, 127, 5, "1.44"),
        "product-shot": (1, 1, 50, 0, "0.05"),
    }
    assert _insights(client, marketer, channel="social") == {
        "lifestyle": (1, 1, 127, 2, "1.44"),
        "product-shot": (1, 1, 50, 0, "0.05"),
    }


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (None, None),
        ("2026-10-01", "2026-12-31"),  # whole months only
        ("2026-10-15", "2026-10-20"),  # inside one month
        ("2026-09-30", "2026-11-01"),  # a day on each side of a whole month
        ("2026-10-02", "2027-01-30"),  # across the year end, both edges partial
        ("2026-11-01", None),
        (None, "2026-10-31"),
        ("2026-10-31", "2026-10-31"),
    ],
)
def test_date_ranges_cutting_through_months_are_exact(
    client: TestClient,
    ctx: Context,
    automation: dict[str, str],
    marketer: dict[str, str],
    styled: dict[str, str],
    start: str | None,
    end: str | None,
) -> None:
    rnd = random.Random(7)
    days = [date(2026, 9, 28) + timedelta(days=n) for n in range(0, 130, 3)]
    sent: list[tuple[str, str, date, int, Decimal]] = []
    for campaign, assets in (("INS26", ["lifestyle", "product"]), ("MAIL26", ["lifestyle"])):
        rows = []
        for name in assets:
            for day in days:
                if rnd.random() < 0.3:
                    continue
                impressions, spend = rnd.randint(0, 1000), Decimal(rnd.randint(0, 9999)) / 100
                rows.append(
                    {
                        "asset_id": styled[name],
                        "date": day.isoformat(),
                        "impressions": impressions,
                        "spend": str(spend),
                    }
                )
                sent.append((campaign, name, day, impressions, spend))
        _post(client, automation, campaign, rows)

    lo = date.fromisoformat(start) if start else date.min
    hi = date.fromisoformat(end) if end else date.max
    expected: dict[str, tuple[int, int, int, int, str]] = {}
    style = {"lifestyle": "lifestyle", "product": "product-shot"}
    for name, term in style.items():
        picked = [s for s in sent if s[1] == name and lo <= s[2] <= hi]
        if picked:
            expected[term] = (
                1,
                len({s[0] for s in picked}),
                sum(s[3] for s in picked),
                0,
                str(sum((s[4] for s in picked), Decimal("0.00"))),
            )
    params = {k: v for k, v in (("from", start), ("to", end)) if v}
    assert _insights(client, marketer, **params) == expected


def test_term_changes_move_an_assets_figures(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    automation: dict[str, str],
    marketer: dict[str, str],
    styled: dict[str, str],
) -> None:
    life, product = styled["lifestyle"], styled["product"]
    _post(
        client,
        automation,
        "INS26",
        [
            {"asset_id": life, "date": "2026-10-01", "impressions": 100},
            {"asset_id": product, "date": "2026-10-01", "impressions": 10},
        ],
    )
    assert _insights(client, marketer) == {
        "lifestyle": (1, 1, 100, 0, "0.00"),
        "product-shot": (1, 1, 10, 0, "0.00"),
    }

    etag = client.get(f"/api/v1/assets/{life}", headers=designer).headers["etag"]
    patched = client.patch(
        f"/api/v1/assets/{life}",
        headers={**designer, "If-Match": etag},
        json={"terms": metadata(visual_style=["product-shot", "flat-lay"])["terms"]},
    )
    assert patched.status_code == 200, patched.text
    assert _insights(client, marketer) == {
        "product-shot": (2, 1, 110, 0, "0.00"),
        "flat-lay": (1, 1, 100, 0, "0.00"),
    }
    with Session(ctx.engine) as session:
        stored = session.exec(
            select(AssetTerm.term).where(
                AssetTerm.facet == "visual_style", AssetTerm.asset_id == uuid.UUID(life)
            )
        ).all()
    assert sorted(stored) == ["flat-lay", "product-shot"]
