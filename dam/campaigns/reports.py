"""Performance reports: per campaign, per asset lifetime, and creative insights by facet.

Sums are computed in SQL; ratios are derived from the sums in Python with `Decimal`, so a
report never averages averages and the figures are exact.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session, col, select

from dam.campaigns.schemas import (
    AssetPerformance,
    InsightRow,
    InsightsReport,
    PerformanceReport,
    PerformanceRow,
    Totals,
)
from dam.campaigns.service import channel_family
from dam.errors import Invalid
from dam.governance.pack import GovernancePack
from dam.models import Asset, AssetCampaign, Campaign, CampaignMetric, DeliveryEvent

CENT = Decimal("0.01")
SortKey = Literal[
    "impressions",
    "clicks",
    "conversions",
    "spend",
    "revenue",
    "ctr",
    "conversion_rate",
    "cost_per_conversion",
    "roas",
    "deliveries",
]


@dataclass
class Sums:
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    spend: Decimal = Decimal("0.00")
    revenue: Decimal = Decimal("0.00")

    def add(self, other: Sums) -> None:
        self.impressions += other.impressions
        self.clicks += other.clicks
        self.conversions += other.conversions
        self.spend += other.spend
        self.revenue += other.revenue


def _ratio(num: int | Decimal, den: int | Decimal) -> float | None:
    return float(Decimal(num) / Decimal(den)) if den else None


def totals(sums: Sums) -> dict[str, Any]:
    """CTR = clicks/impressions, conversion rate = conversions/clicks, cost per conversion =
    spend/conversions, ROAS = revenue/spend; null where the denominator is zero."""
    return {
        "impressions": sums.impressions,
        "clicks": sums.clicks,
        "conversions": sums.conversions,
        "spend": sums.spend.quantize(CENT),
        "revenue": sums.revenue.quantize(CENT),
        "ctr": _ratio(sums.clicks, sums.impressions),
        "conversion_rate": _ratio(sums.conversions, sums.clicks),
        "cost_per_conversion": (sums.spend / sums.conversions).quantize(CENT, ROUND_HALF_UP)
        if sums.conversions
        else None,
        "roas": _ratio(sums.revenue, sums.spend),
    }


def _sum(column: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(column), 0)


def _sum_columns(source: Any = None) -> list[Any]:
    table = source if source is not None else CampaignMetric.__table__  # type: ignore[attr-defined]
    return [
        _sum(table.c.impressions).label("impressions"),
        _sum(table.c.clicks).label("clicks"),
        _sum(table.c.conversions).label("conversions"),
        _sum(table.c.spend).label("spend"),
        _sum(table.c.revenue).label("revenue"),
    ]


def _sums(row: Any) -> Sums:
    return Sums(
        impressions=int(row.impressions),
        clicks=int(row.clicks),
        conversions=int(row.conversions),
        spend=Decimal(row.spend),
        revenue=Decimal(row.revenue),
    )


def _metric_filters(
    *, date_from: date | None, date_to: date | None, channels: Sequence[str] | None
) -> list[Any]:
    table = CampaignMetric.__table__  # type: ignore[attr-defined]
    where: list[Any] = []
    if date_from is not None:
        where.append(table.c.date >= date_from)
    if date_to is not None:
        where.append(table.c.date <= date_to)
    if channels is not None:
        where.append(table.c.channel.in_(list(channels)))
    return where


def _check_range(date_from: date | None, date_to: date | None) -> None:
    if date_from and date_to and date_to < date_from:
        raise Invalid("`to` must not be before `from`", code="invalid_filter")


def campaign_performance(
    session: Session,
    *,
    campaign: Campaign,
    date_from: date | None = None,
    date_to: date | None = None,
    pack: GovernancePack,
    channel: str | None = None,
    sort: SortKey = "impressions",
    descending: bool = True,
) -> PerformanceReport:
    """Per asset and version. Every asset in the campaign appears, with zeros if nothing was
    reported, so creatives that never ran are visible too. `channel` includes sub-channels."""
    _check_range(date_from, date_to)
    channels = channel_family(pack, channel) if channel else None
    table = CampaignMetric.__table__  # type: ignore[attr-defined]
    metric_rows = session.execute(
        sa.select(table.c.asset_id, table.c.version, *_sum_columns())
        .where(
            table.c.campaign_id == campaign.id,
            *_metric_filters(date_from=date_from, date_to=date_to, channels=channels),
        )
        .group_by(table.c.asset_id, table.c.version)
    ).all()
    delivered = select(
        col(DeliveryEvent.asset_id), col(DeliveryEvent.version), sa.func.count().label("n")
    ).where(col(DeliveryEvent.campaign_id) == campaign.id)
    if date_from is not None:
        delivered = delivered.where(
            col(DeliveryEvent.at) >= datetime.combine(date_from, time(), tzinfo=UTC)
        )
    if date_to is not None:
        end = datetime.combine(date_to + timedelta(days=1), time(), tzinfo=UTC)
        delivered = delivered.where(col(DeliveryEvent.at) < end)
    if channels is not None:
        delivered = delivered.where(col(DeliveryEvent.channel).in_(list(channels)))
    delivery_rows = session.exec(
        delivered.group_by(col(DeliveryEvent.asset_id), col(DeliveryEvent.version))
    ).all()
    linked = session.exec(
        select(col(Asset.id), col(Asset.title), col(Asset.published_version))
        .join(AssetCampaign, col(AssetCampaign.asset_id) == col(Asset.id))
        .where(col(AssetCampaign.campaign_id) == campaign.id)
    ).all()

    keyed: dict[tuple[uuid.UUID, int | None], tuple[Sums, int]] = {}
    for row in metric_rows:
        keyed[(row.asset_id, row.version)] = (_sums(row), 0)
    for delivered_id, delivered_version, n in delivery_rows:
        key = (delivered_id, int(delivered_version))
        keyed[key] = (keyed.get(key, (Sums(), 0))[0], int(n))
    reported = {asset_id for asset_id, _ in keyed}
    for asset_id, _title, published in linked:
        if asset_id not in reported:
            keyed[(asset_id, published)] = (Sums(), 0)
    titles = dict(
        session.exec(
            select(col(Asset.id), col(Asset.title)).where(
                col(Asset.id).in_(sorted({a for a, _ in keyed}))
            )
        ).all()
    )

    overall = Sums()
    deliveries = 0
    items: list[PerformanceRow] = []
    for (asset_id, version), (sums, n) in keyed.items():
        overall.add(sums)
        deliveries += n
        items.append(
            PerformanceRow(
                asset_id=asset_id,
                title=titles.get(asset_id, ""),
                version=version,
                deliveries=n,
                **totals(sums),
            )
        )

    def order(item: PerformanceRow) -> tuple[Any, ...]:
        value = getattr(item, sort)
        # Missing ratios sort last in either direction; ties by asset id, then version.
        return (value is None, value if value is not None else 0)

    items.sort(key=lambda i: (str(i.asset_id), i.version or 0))
    items.sort(key=lambda i: order(i)[1], reverse=descending)
    items.sort(key=lambda i: order(i)[0])
    return PerformanceReport(
        campaign_id=campaign.id,
        date_from=date_from,
        date_to=date_to,
        channel=channel,
        totals=Totals(**totals(overall)),
        deliveries=deliveries,
        items=items,
    )


def asset_performance(
    session: Session, asset_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AssetPerformance]:
    """Lifetime figures per asset across all campaigns (for the asset JSON)."""
    result = {asset_id: AssetPerformance() for asset_id in asset_ids}
    if not asset_ids:
        return result
    table = CampaignMetric.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        sa.select(
            table.c.asset_id,
            sa.func.count(sa.distinct(table.c.campaign_id)).label("campaigns"),
            *_sum_columns(),
        )
        .where(table.c.asset_id.in_(list(asset_ids)))
        .group_by(table.c.asset_id)
    ).all()
    deliveries = dict(
        session.exec(
            select(col(DeliveryEvent.asset_id), sa.func.count())
            .where(col(DeliveryEvent.asset_id).in_(list(asset_ids)))
            .group_by(col(DeliveryEvent.asset_id))
        ).all()
    )
    for row in rows:
        result[row.asset_id] = AssetPerformance(campaigns=int(row.campaigns), **totals(_sums(row)))
    for asset_id, n in deliveries.items():
        result[asset_id].deliveries = int(n)
    return result


def _facet_terms(dialect: str, facet: str) -> Any:
    """The asset's term ids in `facet`, one row each, as a lateral table-valued function."""
    if dialect == "postgresql":
        values = sa.func.jsonb_array_elements_text(
            sa.type_coerce(col(Asset.terms), JSONB)[facet]
        ).table_valued("value")
        return values.lateral("term")
    return sa.func.json_each(col(Asset.terms), f"$.{facet}").table_valued("value").alias("term")


def creative_insights(
    session: Session,
    *,
    pack: GovernancePack,
    facet: str,
    date_from: date | None = None,
    date_to: date | None = None,
    channel: str | None = None,
) -> InsightsReport:
    """Performance across campaigns grouped by the assets' terms in one facet. An asset with
    two terms counts toward both; `assets` and `campaigns` say how much evidence is behind
    each figure."""
    _check_range(date_from, date_to)
    channels = channel_family(pack, channel) if channel else None
    facet_id = pack.resolve_facet(facet)
    if facet_id is None:
        suggestions = pack.suggest_facet(facet)
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        raise Invalid(f"unknown facet {facet!r}{hint}", code="unknown_facet")
    table = CampaignMetric.__table__  # type: ignore[attr-defined]
    # Aggregate the (large) metrics table to one row per asset and campaign first, so the
    # JSON expansion of terms runs over thousands of rows, not millions.
    per = (
        sa.select(table.c.asset_id, table.c.campaign_id, *_sum_columns())
        .where(*_metric_filters(date_from=date_from, date_to=date_to, channels=channels))
        .group_by(table.c.asset_id, table.c.campaign_id)
        .subquery("per")
    )
    terms = _facet_terms(session.get_bind().dialect.name, facet_id)
    term_col = terms.c.value
    query = (
        sa.select(
            term_col.label("term"),
            sa.func.count(sa.distinct(per.c.asset_id)).label("assets"),
            sa.func.count(sa.distinct(per.c.campaign_id)).label("campaigns"),
            *_sum_columns(per),
        )
        .select_from(
            per.join(Asset.__table__, Asset.__table__.c.id == per.c.asset_id).join(terms, sa.true())  # type: ignore[attr-defined]
        )
        .group_by(term_col)
    )
    facet_def = pack.facet(facet_id)
    items = []
    for row in session.execute(query).all():
        term_id = str(row.term)
        label = facet_def.terms[term_id].label if term_id in facet_def.terms else term_id
        items.append(
            InsightRow(
                term=term_id,
                label=label,
                assets=int(row.assets),
                campaigns=int(row.campaigns),
                **totals(_sums(row)),
            )
        )
    items.sort(key=lambda i: (-(i.roas or -1.0), -i.impressions, i.term))
    return InsightsReport(
        facet=facet_id, date_from=date_from, date_to=date_to, channel=channel, items=items
    )
