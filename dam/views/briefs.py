"""The brief page's data: the brief with its deliverables' state, and what worked before for
the same channel, audience and terms — the creative-insights report's top terms by the brief's
KPI (with how many assets and campaigns each figure rests on) and the best-performing
published assets that share the brief's terms."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, select

from dam.briefs.schemas import BriefOut
from dam.briefs.service import brief_out
from dam.campaigns import reports
from dam.campaigns.schemas import InsightRow, Totals
from dam.governance.pack import GovernancePack
from dam.models import Asset, AssetStatus, AssetTerm, AssetVersion, Brief

# Facets whose terms describe the creative itself: what a designer can choose for the next one.
INSIGHT_FACETS = ("visual_style", "asset_type")
TOP_TERMS = 5
BEST_ASSETS = 6
_CANDIDATES = 500


class TermInsight(BaseModel):
    term: str
    label: str
    value: float | None  # the KPI
    impressions: int
    assets: int  # sample sizes behind the figure
    campaigns: int


class FacetInsight(BaseModel):
    facet: str
    label: str
    terms: list[TermInsight]


class PastAsset(BaseModel):
    id: uuid.UUID
    title: str
    value: float | None
    impressions: int
    campaigns: int
    thumbnail_url: str | None


class WorkedBefore(BaseModel):
    kpi: str
    channel: str | None
    facets: list[FacetInsight]
    best_assets: list[PastAsset]


class BriefPageOut(BaseModel):
    brief: BriefOut
    worked_before: WorkedBefore


def _value(totals: Totals, kpi: str) -> float | None:
    raw = getattr(totals, kpi)
    return None if raw is None else float(raw)


def _rank(kpi: str, value: float | None) -> tuple[int, float]:
    # Lower is better for cost per conversion; higher for every other KPI. No figure: last.
    if value is None:
        return (1, 0.0)
    return (0, value if kpi == "cost_per_conversion" else -value)


def brief_page(session: Session, *, brief: Brief, pack: GovernancePack) -> BriefPageOut:
    channels = brief.terms.get("channel") or []
    channel = channels[0] if channels else None
    facets = []
    for facet_id in INSIGHT_FACETS:
        if not pack.has_facet(facet_id):
            continue
        report = reports.creative_insights(session, pack=pack, facet=facet_id, channel=channel)
        rows: list[InsightRow] = [r for r in report.items if r.impressions > 0]
        rows.sort(key=lambda r: (*_rank(brief.kpi, _value(r, brief.kpi)), r.term))
        facets.append(
            FacetInsight(
                facet=facet_id,
                label=pack.facet(facet_id).label,
                terms=[
                    TermInsight(
                        term=r.term,
                        label=r.label,
                        value=_value(r, brief.kpi),
                        impressions=r.impressions,
                        assets=r.assets,
                        campaigns=r.campaigns,
                    )
                    for r in rows[:TOP_TERMS]
                ],
            )
        )
    return BriefPageOut(
        brief=brief_out(session, brief),
        worked_before=WorkedBefore(
            kpi=brief.kpi,
            channel=channel,
            facets=facets,
            best_assets=_best_assets(session, brief=brief, pack=pack),
        ),
    )


def _best_assets(session: Session, *, brief: Brief, pack: GovernancePack) -> list[PastAsset]:
    """Published, live assets carrying, in every facet the brief names, one of its terms (or
    a term below one), ranked by the KPI over their lifetime."""
    query = select(Asset.id).where(
        col(Asset.status) == AssetStatus.active, col(Asset.published_version).is_not(None)
    )
    for facet_id, term_ids in brief.terms.items():
        if not pack.has_facet(facet_id):
            continue
        wanted = set().union(
            *(pack.descendants(facet_id, t) for t in term_ids if t in pack.facet(facet_id).terms)
        )
        query = query.where(
            col(Asset.id).in_(
                select(AssetTerm.asset_id).where(
                    col(AssetTerm.facet) == facet_id, col(AssetTerm.term).in_(sorted(wanted))
                )
            )
        )
    ids = list(session.exec(query.order_by(col(Asset.updated_at).desc()).limit(_CANDIDATES)))
    performance = reports.asset_performance(session, ids)
    ranked = sorted(
        (a for a in ids if performance[a].impressions > 0),
        key=lambda a: (*_rank(brief.kpi, _value(performance[a], brief.kpi)), str(a)),
    )[:BEST_ASSETS]
    if not ranked:
        return []
    rows = {
        asset.id: (asset, version)
        for asset, version in session.exec(
            select(Asset, AssetVersion)
            .join(
                AssetVersion,
                sa.and_(
                    col(AssetVersion.asset_id) == col(Asset.id),
                    col(AssetVersion.number) == col(Asset.published_version),
                ),
            )
            .where(col(Asset.id).in_(ranked))
        )
    }
    out = []
    for asset_id in ranked:
        asset, version = rows[asset_id]
        figures = performance[asset_id]
        out.append(
            PastAsset(
                id=asset_id,
                title=asset.title,
                value=_value(figures, brief.kpi),
                impressions=figures.impressions,
                campaigns=figures.campaigns,
                thumbnail_url=(
                    f"/api/v1/assets/{asset_id}/renditions/thumb?version={version.number}"
                    if "thumb" in (version.renditions or {})
                    else None
                ),
            )
        )
    return out
