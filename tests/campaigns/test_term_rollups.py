"""Creative insights read term-level rollups kept by the metrics upsert and by triggers on
`asset_terms`. On randomised data (re-sent and partial rows, several currencies and channels,
term edits, rows moved between assets) every report must equal the straightforward
computation from the daily rows and the assets' terms, and the rollups must equal a recount
from scratch, on both databases."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from dam.campaigns import metrics, reports, rollup
from dam.campaigns.service import channel_family
from dam.context import Context
from dam.models import Asset, AssetCampaign, AssetTerm, Campaign, CampaignMetric

pytestmark = pytest.mark.usefixtures("db_backend")

STYLES = ["lifestyle", "product-shot", "flat-lay", "on-model"]
CHANNELS = ["instagram", "tiktok", "email", "display"]
CURRENCIES = ["", "USD", "EUR"]
NOW = datetime(2026, 11, 25, tzinfo=UTC)
FIRST = date(2026, 8, 20)


def _terms(rnd: random.Random) -> dict[str, list[str]]:
    return {"brand": ["halden"], "visual_style": rnd.sample(STYLES, rnd.choice((0, 1, 1, 2)))}


def _row(rnd: random.Random, campaign: str, asset: uuid.UUID, day: date) -> dict[str, Any]:
    return {
        "campaign_id": campaign,
        "asset_id": asset,
        "date": day,
        "channel": rnd.choice(CHANNELS),
        "placement": rnd.choice(("", "", "ab" * 16)),
        "version": 1,
        "impressions": rnd.randint(0, 5000),
        "clicks": rnd.randint(0, 300),
        "conversions": Decimal(rnd.randint(0, 900)).scaleb(-2),
        "spend": Decimal(rnd.randint(0, 90_000)).scaleb(-2),
        "revenue": Decimal(rnd.randint(0, 400_000)).scaleb(-2),
        "sends": rnd.randint(0, 100),
        "deliveries": rnd.randint(0, 100),
        "opens": rnd.randint(0, 50),
        "unique_opens": rnd.randint(0, 40),
        "unsubscribes": rnd.randint(0, 3),
        "bounces": rnd.randint(0, 3),
        "currency": rnd.choice(CURRENCIES),
        "attributed": False,
        "updated_at": NOW,
    }


def _expected(
    session: Session,
    *,
    facet: str,
    date_from: date | None,
    date_to: date | None,
    channels: list[str] | None,
    emails: list[str],
) -> dict[str, tuple[int, int, dict[tuple[str, str], tuple[Any, ...]]]]:
    """term -> (assets, campaigns, {(family, currency): sums}) from the daily rows."""
    terms: dict[uuid.UUID, list[str]] = defaultdict(list)
    for t in session.exec(select(AssetTerm).where(AssetTerm.facet == facet)):
        terms[t.asset_id].append(t.term)
    sums: dict[str, dict[tuple[str, str], list[Any]]] = defaultdict(dict)
    assets: dict[str, set[uuid.UUID]] = defaultdict(set)
    campaigns: dict[str, set[str]] = defaultdict(set)
    for r in session.exec(select(CampaignMetric)):
        if date_from is not None and r.date < date_from:
            continue
        if date_to is not None and r.date > date_to:
            continue
        if channels is not None and r.channel not in channels:
            continue
        family = "email" if r.channel in emails else "paid"
        for term in terms.get(r.asset_id, []):
            acc = sums[term].setdefault(
                (family, r.currency), [0, 0, Decimal(0), Decimal(0), Decimal(0), 0, 0, 0, 0]
            )
            for i, v in enumerate(
                (
                    r.impressions,
                    r.clicks,
                    Decimal(r.conversions),
                    Decimal(r.spend),
                    Decimal(r.revenue),
                    r.sends,
                    r.deliveries,
                    r.unique_opens,
                    r.bounces,
                )
            ):
                acc[i] += v
            assets[term].add(r.asset_id)
            campaigns[term].add(r.campaign_id)
    return {
        term: (
            len(assets[term]),
            len(campaigns[term]),
            {key: tuple(v) for key, v in parts.items()},
        )
        for term, parts in sums.items()
    }


def _reported(report: Any) -> dict[str, tuple[int, int, float, Decimal]]:
    return {
        i.term: (i.assets, i.campaigns, i.impressions, i.clicks, i.spend, i.revenue)
        for i in report.items
    }


def _from_expected(
    expected: dict[str, tuple[int, int, dict[tuple[str, str], tuple[Any, ...]]]],
) -> dict[str, tuple[Any, ...]]:
    out = {}
    for term, (assets, campaigns, parts) in expected.items():
        impressions = sum(p[0] for p in parts.values())
        clicks = sum(p[1] for p in parts.values())
        spend = sum((p[3] for p in parts.values()), Decimal(0))
        revenue = sum((p[4] for p in parts.values()), Decimal(0))
        out[term] = (assets, campaigns, impressions, clicks, spend, revenue)
    return out


def _by_currency(report: Any) -> dict[str, list[tuple[str | None, Decimal, Decimal]]]:
    return {i.term: [(c.currency, c.spend, c.revenue) for c in i.by_currency] for i in report.items}


def _expected_by_currency(
    expected: dict[str, tuple[int, int, dict[tuple[str, str], tuple[Any, ...]]]],
) -> dict[str, list[tuple[str | None, Decimal, Decimal]]]:
    out = {}
    for term, (_, _, parts) in expected.items():
        per: dict[str, list[Decimal]] = {}
        for (_, code), p in parts.items():
            acc = per.setdefault(code, [Decimal(0), Decimal(0)])
            acc[0] += p[3]
            acc[1] += p[4]
        out[term] = [
            (code or None, v[0], v[1])
            for code, v in sorted(per.items(), key=lambda i: (i[0] == "", i[0]))
        ]
    return out


def _snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for name, table in (
        ("months", rollup.term_months),
        ("asset_cells", rollup.asset_cells),
        ("term_cells", rollup.term_cells),
    ):
        out[name] = sorted(tuple(str(v) for v in row) for row in session.execute(sa.select(table)))
    return out


def _check(ctx: Context, rnd: random.Random, ranges: int = 12) -> None:
    pack = ctx.governance.pack
    emails = reports.email_channels(pack)
    with Session(ctx.engine) as session:
        kept = _snapshot(session)
        metrics.rebuild_rollup(session)
        assert _snapshot(session) == kept, "the kept rollups differ from a recount"
        session.rollback()
        cases: list[tuple[date | None, date | None, str | None]] = [(None, None, None)]
        cases += [(None, None, "social"), (None, None, "email")]
        for _ in range(ranges):
            lo = FIRST + timedelta(days=rnd.randint(-15, 100))
            hi = lo + timedelta(days=rnd.randint(0, 80))
            cases.append(
                (
                    rnd.choice((lo, None)) if rnd.random() < 0.3 else lo,
                    rnd.choice((hi, None)) if rnd.random() < 0.3 else hi,
                    rnd.choice((None, None, "social", "email", "instagram")),
                )
            )
        for date_from, date_to, channel in cases:
            for facet in ("visual_style", "brand"):
                report = reports.creative_insights(
                    session,
                    pack=pack,
                    facet=facet,
                    date_from=date_from,
                    date_to=date_to,
                    channel=channel,
                )
                expected = _expected(
                    session,
                    facet=facet,
                    date_from=date_from,
                    date_to=date_to,
                    channels=channel_family(pack, channel) if channel else None,
                    emails=emails,
                )
                case = (facet, date_from, date_to, channel)
                assert _reported(report) == _from_expected(expected), case
                assert _by_currency(report) == _expected_by_currency(expected), case


def test_insights_equal_the_straightforward_computation_on_random_data(ctx: Context) -> None:
    rnd = random.Random(22)
    campaigns = [f"RND{i}" for i in range(4)]
    assets: list[uuid.UUID] = []
    with Session(ctx.engine) as session:
        for cid in campaigns:
            session.add(Campaign(id=cid, name=cid, channel="instagram"))
        for n in range(24):
            asset = Asset(title=f"a{n}", terms=_terms(rnd), current_version=1, published_version=1)
            session.add(asset)
            assets.append(asset.id)
        session.flush()
        for aid in assets:
            for cid in rnd.sample(campaigns, rnd.choice((1, 2))):
                session.add(AssetCampaign(asset_id=aid, campaign_id=cid))
        session.commit()
    links = [(cid, aid) for aid in assets for cid in campaigns if rnd.random() < 0.5]

    def batch(n: int) -> None:
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        for _ in range(n):
            cid, aid = rnd.choice(links)
            day = FIRST + timedelta(days=rnd.randint(0, 95))
            row = _row(rnd, cid, aid, day)
            rows[(cid, aid, day, row["channel"], row["placement"])] = row
        by_campaign: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows.values():
            by_campaign[row["campaign_id"]].append(row)
        with Session(ctx.engine) as session:
            for rows_of in by_campaign.values():
                metrics.upsert_rows(session, rows_of)
            session.commit()

    def edit_terms(n: int) -> None:
        with Session(ctx.engine) as session:
            for aid in rnd.sample(assets, n):
                asset = session.get(Asset, aid)
                assert asset is not None
                asset.terms = _terms(rnd)
                session.add(asset)
            session.commit()

    batch(150)
    _check(ctx, rnd)
    # Re-sent days (replaced), new days, and days re-sent with other figures.
    stored = []
    with Session(ctx.engine) as session:
        stored = [r.model_dump() for r in session.exec(select(CampaignMetric)).all()]
    resent = [
        {**r, "impressions": r["impressions"] + rnd.randint(-1, 5) if r["impressions"] else 0}
        for r in rnd.sample(stored, 40)
    ]
    with Session(ctx.engine) as session:
        for cid in campaigns:
            mine = [r for r in resent if r["campaign_id"] == cid]
            if mine:
                metrics.upsert_rows(session, mine)
        session.commit()
    batch(80)
    edit_terms(8)
    _check(ctx, rnd)
    # A term edit and rows written in the same transaction; an asset losing all its terms.
    with Session(ctx.engine) as session:
        asset = session.get(Asset, assets[0])
        assert asset is not None
        asset.terms = {}
        session.add(asset)
        session.flush()
        cid, aid = rnd.choice(links)
        metrics.upsert_rows(session, [_row(rnd, cid, aid, FIRST + timedelta(days=40))])
        session.commit()
    edit_terms(6)
    _check(ctx, rnd)


def test_a_term_edit_rolls_back_with_its_transaction(ctx: Context) -> None:
    rnd = random.Random(5)
    with Session(ctx.engine) as session:
        session.add(Campaign(id="RB1", name="RB1", channel="instagram"))
        asset = Asset(title="x", terms={"visual_style": ["lifestyle"]}, current_version=1)
        session.add(asset)
        session.flush()
        session.add(AssetCampaign(asset_id=asset.id, campaign_id="RB1"))
        aid = asset.id
        session.commit()
    with Session(ctx.engine) as session:
        metrics.upsert_rows(session, [_row(rnd, "RB1", aid, date(2026, 9, 3))])
        session.commit()
        before = _snapshot(session)
    with Session(ctx.engine) as session:
        asset = session.get(Asset, aid)
        assert asset is not None
        asset.terms = {"visual_style": ["flat-lay"]}
        session.add(asset)
        session.flush()
        report = reports.creative_insights(session, pack=ctx.governance.pack, facet="visual_style")
        assert [i.term for i in report.items] == ["flat-lay"]
        session.rollback()
    with Session(ctx.engine) as session:
        assert _snapshot(session) == before
        report = reports.creative_insights(session, pack=ctx.governance.pack, facet="visual_style")
        assert [(i.term, i.assets, i.campaigns) for i in report.items] == [("lifestyle", 1, 1)]


def test_an_ingest_waits_for_an_open_term_edit(ctx: Context, db_backend: str) -> None:
    """PostgreSQL: the trigger of a term edit takes the rollups' lock, so an ingest in another
    transaction waits for it (here: gives up at its lock_timeout) instead of recounting the
    campaign from terms about to change; after the edit commits, it goes through exactly."""
    if db_backend != "postgres":
        pytest.skip("SQLite has one writer at a time; the lock is PostgreSQL's")
    rnd = random.Random(9)
    with Session(ctx.engine) as session:
        session.add(Campaign(id="LK1", name="LK1", channel="instagram"))
        asset = Asset(title="x", terms={"visual_style": ["lifestyle"]}, current_version=1)
        session.add(asset)
        session.flush()
        session.add(AssetCampaign(asset_id=asset.id, campaign_id="LK1"))
        aid = asset.id
        session.commit()
    with Session(ctx.engine) as session:
        metrics.upsert_rows(session, [_row(rnd, "LK1", aid, date(2026, 9, 3))])
        session.commit()
    editing = Session(ctx.engine)
    try:
        asset = editing.get(Asset, aid)
        assert asset is not None
        asset.terms = {"visual_style": ["flat-lay"]}
        editing.add(asset)
        editing.flush()
        with Session(ctx.engine) as ingest:
            ingest.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                metrics.upsert_rows(ingest, [_row(rnd, "LK1", aid, date(2026, 9, 4))])
            ingest.rollback()
        editing.commit()
    finally:
        editing.close()
    with Session(ctx.engine) as ingest:
        metrics.upsert_rows(ingest, [_row(rnd, "LK1", aid, date(2026, 9, 4))])
        ingest.commit()
    _check(ctx, rnd, ranges=2)
