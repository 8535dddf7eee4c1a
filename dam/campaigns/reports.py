"""Performance reports: per campaign, per asset lifetime, and creative insights by facet.

Money is never converted (there are no exchange rates offline): the campaign report splits
spend and revenue by the currency each row was reported in (`by_currency`).

Sums are computed in SQL with `dam.campaigns.sums` (exact and overflow-free on both
databases, money in cents); ratios are derived from the sums in Python with `Decimal`, so a
report never averages averages and the figures are exact.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from decimal import Context as DecimalContext
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.campaigns.metrics import next_month
from dam.campaigns.schemas import (
    AssetPerformance,
    CurrencyTotals,
    InsightRow,
    InsightsReport,
    PerformanceReport,
    PerformanceRow,
    Totals,
)
from dam.campaigns.service import channel_family
from dam.campaigns.sums import cents, exact_sum, money_of, sum_of
from dam.errors import Invalid
from dam.governance.pack import GovernancePack
from dam.models import (
    Asset,
    AssetCampaign,
    AssetTerm,
    Campaign,
    CampaignMetric,
    CampaignMetricMonth,
    DeliveryEvent,
)

CENT = Decimal("0.01")
# Enough digits for any sum of stored money to be rounded to cents without an error.
WIDE = DecimalContext(prec=60)
COUNTS = ("impressions", "clicks")
# Summed in hundredths: money, and conversions (which platforms report with fractions).
HUNDREDTHS = ("conversions", "spend", "revenue")
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
    conversions: Decimal = Decimal("0.00")
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
        "conversions": float(sums.conversions),
        "spend": sums.spend.quantize(CENT, context=WIDE),
        "revenue": sums.revenue.quantize(CENT, context=WIDE),
        "ctr": _ratio(sums.clicks, sums.impressions),
        "conversion_rate": _ratio(sums.conversions, sums.clicks),
        "cost_per_conversion": WIDE.divide(sums.spend, sums.conversions).quantize(
            CENT, ROUND_HALF_UP, context=WIDE
        )
        if sums.conversions
        else None,
        "roas": _ratio(sums.revenue, sums.spend),
    }


def _sum_columns(dialect: str, source: Any = None, *, in_cents: bool = False) -> list[Any]:
    """Exact sums of every figure; `in_cents`: the source's money is already in `*_cents`."""
    table = source if source is not None else CampaignMetric.__table__  # type: ignore[attr-defined]
    columns: list[Any] = []
    for name in COUNTS:
        columns += exact_sum(table.c[name], name, dialect)
    for name in HUNDREDTHS:
        money = table.c[f"{name}_cents"] if in_cents else cents(table.c[name])
        columns += exact_sum(money, name, dialect)
    return columns


def _sums(row: Any) -> Sums:
    return Sums(
        impressions=sum_of(row, "impressions"),
        clicks=sum_of(row, "clicks"),
        conversions=money_of(row, "conversions"),
        spend=money_of(row, "spend"),
        revenue=money_of(row, "revenue"),
    )


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


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


def _by_currency(parts: dict[str, Sums]) -> list[CurrencyTotals]:
    """In code order, rows without a currency last."""
    out = []
    for code in sorted(parts, key=lambda c: (c == "", c)):
        figures = totals(parts[code])
        out.append(
            CurrencyTotals(
                currency=code or None,
                **{k: figures[k] for k in ("conversions", "spend", "revenue")},
                cost_per_conversion=figures["cost_per_conversion"],
                roas=figures["roas"],
            )
        )
    return out


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
    money: dict[tuple[uuid.UUID, int | None], dict[str, Sums]] = {}
    for row in session.execute(
        sa.select(
            table.c.asset_id,
            table.c.version,
            table.c.currency,
            *_sum_columns(_dialect(session)),
        )
        .where(
            table.c.campaign_id == campaign.id,
            *_metric_filters(date_from=date_from, date_to=date_to, channels=channels),
        )
        .group_by(table.c.asset_id, table.c.version, table.c.currency)
    ):
        money.setdefault((row.asset_id, row.version), {})[row.currency] = _sums(row)
    for key, parts in money.items():
        sums = Sums()
        for part in parts.values():
            sums.add(part)
        keyed[key] = (sums, 0)
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
    overall_money: dict[str, Sums] = {}
    deliveries = 0
    items: list[PerformanceRow] = []
    for (asset_id, version), (sums, n) in keyed.items():
        overall.add(sums)
        deliveries += n
        per_currency = money.get((asset_id, version), {})
        for code, part in per_currency.items():
            overall_money.setdefault(code, Sums()).add(part)
        items.append(
            PerformanceRow(
                asset_id=asset_id,
                title=titles.get(asset_id, ""),
                version=version,
                deliveries=n,
                by_currency=_by_currency(per_currency),
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
        currencies=[c.currency for c in _by_currency(overall_money)],
        by_currency=_by_currency(overall_money),
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
            *_sum_columns(_dialect(session)),
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


def _insight_rows(
    *,
    date_from: date | None,
    date_to: date | None,
    channels: Sequence[str] | None,
) -> Any:
    """(asset, campaign, figures in cents) behind the report: whole months from the rollup,
    the days of a month the range only cuts through from the daily table, so the sums stay
    exact whatever the range."""
    raw = CampaignMetric.__table__  # type: ignore[attr-defined]
    rollup = CampaignMetricMonth.__table__  # type: ignore[attr-defined]
    end = date_to + timedelta(days=1) if date_to is not None else None
    first_full = date_from if date_from is None or date_from.day == 1 else next_month(date_from)
    after_full = end.replace(day=1) if end is not None else None
    no_full_month = first_full is not None and after_full is not None and first_full >= after_full
    day_ranges: list[tuple[date | None, date | None]] = []
    parts: list[Any] = []
    if no_full_month:
        day_ranges.append((date_from, end))
    else:
        if date_from is not None and first_full is not None and date_from < first_full:
            day_ranges.append((date_from, first_full))
        if end is not None and after_full is not None and after_full < end:
            day_ranges.append((after_full, end))
        months = sa.select(
            rollup.c.asset_id,
            rollup.c.campaign_id,
            rollup.c.impressions,
            rollup.c.clicks,
            rollup.c.conversion_hundredths.label("conversions_cents"),
            rollup.c.spend_cents,
            rollup.c.revenue_cents,
        )
        if first_full is not None:
            months = months.where(rollup.c.month >= first_full)
        if after_full is not None:
            months = months.where(rollup.c.month < after_full)
        if channels is not None:
            months = months.where(rollup.c.channel.in_(list(channels)))
        parts.append(months)
    for lo, hi in day_ranges:
        days = sa.select(
            raw.c.asset_id,
            raw.c.campaign_id,
            raw.c.impressions,
            raw.c.clicks,
            cents(raw.c.conversions).label("conversions_cents"),
            cents(raw.c.spend).label("spend_cents"),
            cents(raw.c.revenue).label("revenue_cents"),
        )
        if lo is not None:
            days = days.where(raw.c.date >= lo)
        if hi is not None:
            days = days.where(raw.c.date < hi)
        if channels is not None:
            days = days.where(raw.c.channel.in_(list(channels)))
        parts.append(days)
    if len(parts) == 1:
        return parts[0].subquery("figures")
    return sa.union_all(*parts).subquery("figures")


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
    figures = _insight_rows(date_from=date_from, date_to=date_to, channels=channels)
    terms = AssetTerm.__table__  # type: ignore[attr-defined]
    query = (
        sa.select(
            terms.c.term,
            sa.func.count(sa.distinct(figures.c.asset_id)).label("assets"),
            sa.func.count(sa.distinct(figures.c.campaign_id)).label("campaigns"),
            *_sum_columns(_dialect(session), figures, in_cents=True),
        )
        .select_from(figures.join(terms, terms.c.asset_id == figures.c.asset_id))
        .where(terms.c.facet == facet_id)
        .group_by(terms.c.term)
    )
    if _dialect(session) == "postgresql":
        # The distinct counts sort ~one row per (asset, campaign, term); at the default 4 MB
        # that sort spills to disk. Scoped to this transaction.
        session.execute(sa.text("SET LOCAL work_mem = '64MB'"))
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
