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

from dam.campaigns import rollup
from dam.campaigns.metrics import EMAIL, next_month
from dam.campaigns.schemas import (
    AssetPerformance,
    CurrencyTotals,
    EmailTotals,
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
    DeliveryEvent,
)

CENT = Decimal("0.01")
# Enough digits for any sum of stored money to be rounded to cents without an error.
WIDE = DecimalContext(prec=60)
COUNTS = ("impressions", "clicks", *EMAIL)
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
    "sends",
    "open_rate",
    "click_rate",
]
# Sort keys read from the item's email figures.
EMAIL_SORTS = ("sends", "open_rate", "click_rate")
FAMILIES = ("paid", "email")


@dataclass
class Sums:
    impressions: int = 0
    clicks: int = 0
    conversions: Decimal = Decimal("0.00")
    spend: Decimal = Decimal("0.00")
    revenue: Decimal = Decimal("0.00")
    sends: int = 0
    deliveries: int = 0
    opens: int = 0
    unique_opens: int = 0
    unsubscribes: int = 0
    bounces: int = 0

    def add(self, other: Sums) -> None:
        for name in (*COUNTS, *HUNDREDTHS):
            setattr(self, name, getattr(self, name) + getattr(other, name))


# Sums of one report line by (family, currency): "email" for rows on an email channel, "paid"
# for every other; currency '' for rows that gave none.
Parts = dict[tuple[str, str], Sums]


def _ratio(num: int | Decimal, den: int | Decimal) -> float | None:
    return float(Decimal(num) / Decimal(den)) if den else None


def _per_conversion(spend: Decimal, conversions: Decimal) -> Decimal | None:
    if not conversions:
        return None
    return WIDE.divide(spend, conversions).quantize(CENT, ROUND_HALF_UP, context=WIDE)


def totals(sums: Sums, paid: Sums | None = None) -> dict[str, Any]:
    """The sums of every row; the ratios of the paid family (`paid`, default all of `sums`):
    CTR = clicks/impressions, conversion rate = conversions/clicks, cost per conversion =
    spend/conversions, ROAS = revenue/spend; null where the denominator is zero."""
    paid = sums if paid is None else paid
    return {
        "impressions": sums.impressions,
        "clicks": sums.clicks,
        "conversions": float(sums.conversions),
        "spend": sums.spend.quantize(CENT, context=WIDE),
        "revenue": sums.revenue.quantize(CENT, context=WIDE),
        "ctr": _ratio(paid.clicks, paid.impressions),
        "conversion_rate": _ratio(paid.conversions, paid.clicks),
        "cost_per_conversion": _per_conversion(paid.spend, paid.conversions),
        "roas": _ratio(paid.revenue, paid.spend),
    }


def email_totals(sums: Sums) -> EmailTotals:
    """Delivery rate = deliveries/sends, open rate = unique opens/deliveries (total opens when
    the rows report no unique opens), click rate = clicks/deliveries, click-to-open rate =
    clicks/unique opens, unsubscribe rate = unsubscribes/deliveries, bounce rate =
    bounces/sends; null where the denominator is zero."""
    opened = sums.unique_opens or sums.opens
    return EmailTotals(
        sends=sums.sends,
        deliveries=sums.deliveries,
        opens=sums.opens,
        unique_opens=sums.unique_opens,
        clicks=sums.clicks,
        unsubscribes=sums.unsubscribes,
        bounces=sums.bounces,
        conversions=float(sums.conversions),
        revenue=sums.revenue.quantize(CENT, context=WIDE),
        delivery_rate=_ratio(sums.deliveries, sums.sends),
        open_rate=_ratio(opened, sums.deliveries),
        click_rate=_ratio(sums.clicks, sums.deliveries),
        click_to_open_rate=_ratio(sums.clicks, opened),
        unsubscribe_rate=_ratio(sums.unsubscribes, sums.deliveries),
        bounce_rate=_ratio(sums.bounces, sums.sends),
    )


def figures(parts: Parts) -> dict[str, Any]:
    """Totals (sums of every row, paid ratios), `families`, `email` and `by_currency` of one
    report line."""
    overall, paid, email = Sums(), Sums(), Sums()
    for (family, _), part in parts.items():
        overall.add(part)
        (email if family == "email" else paid).add(part)
    present = {family for family, _ in parts}
    return {
        **totals(overall, paid),
        "families": [f for f in FAMILIES if f in present],
        "email": email_totals(email) if "email" in present else None,
        "by_currency": _by_currency(parts),
    }


def email_channels(pack: GovernancePack | None) -> list[str]:
    """The channels whose rows are the email family: `email` and the channels below it."""
    if pack is None or not pack.has_facet("channel"):
        return ["email"]
    try:
        return channel_family(pack, "email")
    except Invalid:
        return []


def _family(channel: Any, emails: Sequence[str]) -> Any:
    if not emails:
        return sa.literal("paid").label("family")
    return sa.case((channel.in_(list(emails)), "email"), else_="paid").label("family")


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
    sums = Sums()
    for name in COUNTS:
        setattr(sums, name, sum_of(row, name))
    for name in HUNDREDTHS:
        setattr(sums, name, money_of(row, name))
    return sums


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


def _by_currency(parts: Parts) -> list[CurrencyTotals]:
    """In code order, rows without a currency last; cost per conversion and ROAS of the paid
    family."""
    overall: dict[str, Sums] = {}
    paid: dict[str, Sums] = {}
    for (family, code), part in parts.items():
        overall.setdefault(code, Sums()).add(part)
        paid.setdefault(code, Sums())
        if family != "email":
            paid[code].add(part)
    out = []
    for code in sorted(overall, key=lambda c: (c == "", c)):
        figures = totals(overall[code], paid[code])
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

    emails = email_channels(pack)
    parts: dict[tuple[uuid.UUID, int | None], Parts] = {}
    for row in session.execute(
        sa.select(
            table.c.asset_id,
            table.c.version,
            table.c.currency,
            _family(table.c.channel, emails),
            *_sum_columns(_dialect(session)),
        )
        .where(
            table.c.campaign_id == campaign.id,
            *_metric_filters(date_from=date_from, date_to=date_to, channels=channels),
        )
        .group_by(table.c.asset_id, table.c.version, table.c.currency, "family")
    ):
        parts.setdefault((row.asset_id, row.version), {})[(row.family, row.currency)] = _sums(row)
    delivered_n: dict[tuple[uuid.UUID, int | None], int] = {}
    for delivered_id, delivered_version, n in delivery_rows:
        key = (delivered_id, int(delivered_version))
        parts.setdefault(key, {})
        delivered_n[key] = int(n)
    reported = {asset_id for asset_id, _ in parts}
    for asset_id, _title, published in linked:
        if asset_id not in reported:
            parts[(asset_id, published)] = {}
    titles = dict(
        session.exec(
            select(col(Asset.id), col(Asset.title)).where(
                col(Asset.id).in_(sorted({a for a, _ in parts}))
            )
        ).all()
    )

    overall: Parts = {}
    deliveries = 0
    items: list[PerformanceRow] = []
    for (asset_id, version), line in parts.items():
        deliveries += delivered_n.get((asset_id, version), 0)
        for family_currency, part in line.items():
            overall.setdefault(family_currency, Sums()).add(part)
        items.append(
            PerformanceRow(
                asset_id=asset_id,
                title=titles.get(asset_id, ""),
                version=version,
                deliveries=delivered_n.get((asset_id, version), 0),
                **figures(line),
            )
        )

    def order(item: PerformanceRow) -> tuple[Any, ...]:
        if sort in EMAIL_SORTS:
            value = getattr(item.email, sort) if item.email is not None else None
        else:
            value = getattr(item, sort)
        # Missing ratios sort last in either direction; ties by asset id, then version.
        return (value is None, value if value is not None else 0)

    items.sort(key=lambda i: (str(i.asset_id), i.version or 0))
    items.sort(key=lambda i: order(i)[1], reverse=descending)
    items.sort(key=lambda i: order(i)[0])
    whole = figures(overall)
    by_currency = whole.pop("by_currency")
    return PerformanceReport(
        campaign_id=campaign.id,
        date_from=date_from,
        date_to=date_to,
        channel=channel,
        totals=Totals(**whole),
        currencies=[c.currency for c in by_currency],
        by_currency=by_currency,
        deliveries=deliveries,
        items=items,
    )


def asset_performance(
    session: Session, asset_ids: Sequence[uuid.UUID], *, pack: GovernancePack | None = None
) -> dict[uuid.UUID, AssetPerformance]:
    """Lifetime figures per asset across all campaigns (for the asset JSON), money by
    currency; `pack` tells which channels are email (default: `email`)."""
    result = {asset_id: AssetPerformance() for asset_id in asset_ids}
    if not asset_ids:
        return result
    table = CampaignMetric.__table__  # type: ignore[attr-defined]
    ids = list(asset_ids)
    parts: dict[uuid.UUID, Parts] = {}
    for row in session.execute(
        sa.select(
            table.c.asset_id,
            table.c.currency,
            _family(table.c.channel, email_channels(pack)),
            *_sum_columns(_dialect(session)),
        )
        .where(table.c.asset_id.in_(ids))
        .group_by(table.c.asset_id, table.c.currency, "family")
    ):
        parts.setdefault(row.asset_id, {})[(row.family, row.currency)] = _sums(row)
    campaigns = dict(
        session.execute(
            sa.select(table.c.asset_id, sa.func.count(sa.distinct(table.c.campaign_id)))
            .where(table.c.asset_id.in_(ids))
            .group_by(table.c.asset_id)
        ).all()
    )
    deliveries = dict(
        session.exec(
            select(col(DeliveryEvent.asset_id), sa.func.count())
            .where(col(DeliveryEvent.asset_id).in_(ids))
            .group_by(col(DeliveryEvent.asset_id))
        ).all()
    )
    for asset_id, line in parts.items():
        line_figures = figures(line)
        result[asset_id] = AssetPerformance(
            campaigns=int(campaigns.get(asset_id, 0)),
            currencies=[c.currency for c in line_figures["by_currency"]],
            **line_figures,
        )
    for asset_id, n in deliveries.items():
        result[asset_id].deliveries = int(n)
    return result


def _full_months(
    date_from: date | None, date_to: date | None
) -> tuple[date | None, date | None, bool, list[tuple[date | None, date | None]]]:
    """(first whole month, first month after the whole months, whether there is no whole
    month, the [lo, hi) day ranges of the months the range only cuts through)."""
    end = date_to + timedelta(days=1) if date_to is not None else None
    first_full = date_from if date_from is None or date_from.day == 1 else next_month(date_from)
    after_full = end.replace(day=1) if end is not None else None
    if first_full is not None and after_full is not None and first_full >= after_full:
        return first_full, after_full, True, [(date_from, end)]
    days: list[tuple[date | None, date | None]] = []
    if date_from is not None and first_full is not None and date_from < first_full:
        days.append((date_from, first_full))
    if end is not None and after_full is not None and after_full < end:
        days.append((after_full, end))
    return first_full, after_full, False, days


def _day_rows(day_ranges: Sequence[tuple[date | None, date | None]], channels: Any) -> Any:
    """The daily rows of the months a range only cuts through, figures in cents."""
    raw = CampaignMetric.__table__  # type: ignore[attr-defined]
    parts = []
    for lo, hi in day_ranges:
        days = sa.select(
            raw.c.asset_id,
            raw.c.campaign_id,
            raw.c.channel,
            raw.c.currency,
            raw.c.impressions,
            raw.c.clicks,
            *(raw.c[name] for name in EMAIL),
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
    dialect = _dialect(session)
    emails = email_channels(pack)
    first_full, after_full, no_full_month, day_ranges = _full_months(date_from, date_to)
    parts: dict[str, Parts] = {}
    campaigns_of: dict[str, set[str]] = {}
    assets_of: dict[str, int] = {}
    full_channels = frozenset(channels) if channels is not None else None

    def add(term: str, key: tuple[str, str], sums: Sums) -> None:
        line = parts.setdefault(term, {})
        if key in line:
            line[key].add(sums)
        else:
            line[key] = sums

    if not no_full_month:
        # Whole months from the term rollup: sums by term, family and currency (money is never
        # added across currencies), the campaigns behind each term, and the assets counted
        # over the patterns of cells that meet the range and the channels.
        where = [rollup.term_months.c.facet == facet_id]
        if first_full is not None:
            where.append(rollup.term_months.c.month >= first_full)
        if after_full is not None:
            where.append(rollup.term_months.c.month < after_full)
        if channels is not None:
            where.append(rollup.term_months.c.channel.in_(list(channels)))
        months = sa.select(
            rollup.term_months.c.term,
            rollup.term_months.c.campaign_id,
            rollup.term_months.c.channel,
            rollup.term_months.c.currency,
            rollup.term_months.c.impressions,
            rollup.term_months.c.clicks,
            *(rollup.term_months.c[name] for name in EMAIL),
            rollup.term_months.c.conversion_hundredths.label("conversions_cents"),
            rollup.term_months.c.spend_cents,
            rollup.term_months.c.revenue_cents,
        ).where(*where)
        source = months.subquery("months")
        for row in session.execute(
            sa.select(
                source.c.term,
                source.c.currency,
                _family(source.c.channel, emails),
                *_sum_columns(dialect, source, in_cents=True),
            ).group_by(source.c.term, source.c.currency, "family")
        ):
            add(str(row.term), (row.family, row.currency), _sums(row))
        for term, campaign_id in session.execute(
            sa.select(rollup.term_months.c.term, rollup.term_months.c.campaign_id)
            .where(*where)
            .distinct()
        ):
            campaigns_of.setdefault(str(term), set()).add(campaign_id)
        for term, cells, n in session.execute(
            sa.select(
                rollup.term_cells.c.term, rollup.term_cells.c.cells, rollup.term_cells.c.assets
            ).where(rollup.term_cells.c.facet == facet_id)
        ):
            if rollup.meets(cells, first_full, after_full, full_channels):
                assets_of[str(term)] = assets_of.get(str(term), 0) + int(n)
    if day_ranges:
        # The days of the months the range only cuts through, from the daily table; their
        # assets count where they have no figures in the whole months already counted.
        rows = _day_rows(day_ranges, channels)
        terms = AssetTerm.__table__  # type: ignore[attr-defined]
        joined = rows.join(terms, terms.c.asset_id == rows.c.asset_id)
        for row in session.execute(
            sa.select(
                terms.c.term,
                rows.c.currency,
                _family(rows.c.channel, emails),
                *_sum_columns(dialect, rows, in_cents=True),
            )
            .select_from(joined)
            .where(terms.c.facet == facet_id)
            .group_by(terms.c.term, rows.c.currency, "family")
        ):
            add(str(row.term), (row.family, row.currency), _sums(row))
        for term, campaign_id in session.execute(
            sa.select(terms.c.term, rows.c.campaign_id)
            .select_from(joined)
            .where(terms.c.facet == facet_id)
            .distinct()
        ):
            campaigns_of.setdefault(str(term), set()).add(campaign_id)
        with_days = sa.select(rows.c.asset_id).distinct().subquery("with_days")
        for term, cells in session.execute(
            sa.select(terms.c.term, rollup.asset_cells.c.cells)
            .select_from(
                with_days.join(terms, terms.c.asset_id == with_days.c.asset_id).outerjoin(
                    rollup.asset_cells, rollup.asset_cells.c.asset_id == with_days.c.asset_id
                )
            )
            .where(terms.c.facet == facet_id)
        ):
            counted = (
                not no_full_month
                and cells is not None
                and rollup.meets(cells, first_full, after_full, full_channels)
            )
            if not counted:
                assets_of[str(term)] = assets_of.get(str(term), 0) + 1
    evidence = {term: (assets_of.get(term, 0), len(campaigns_of.get(term, ()))) for term in parts}
    facet_def = pack.facet(facet_id)
    items = []
    for term_id, line in parts.items():
        label = facet_def.terms[term_id].label if term_id in facet_def.terms else term_id
        line_figures = figures(line)
        assets, campaigns = evidence.get(term_id, (0, 0))
        items.append(
            InsightRow(
                term=term_id,
                label=label,
                assets=assets,
                campaigns=campaigns,
                currencies=[c.currency for c in line_figures["by_currency"]],
                **line_figures,
            )
        )
    items.sort(key=lambda i: (-(i.roas or -1.0), -i.impressions, i.term))
    return InsightsReport(
        facet=facet_id, date_from=date_from, date_to=date_to, channel=channel, items=items
    )
