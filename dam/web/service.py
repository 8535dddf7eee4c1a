"""What each page shows, assembled from the domain services (which own every rule).

Nothing here decides visibility, compliance or review transitions: it reads what the domain
services decide and shapes it for templates. `allowed` sets only hide buttons the role could
never use; the services refuse them anyway.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, col, select

from dam.assets import service as asset_service
from dam.assets.access import visible_version
from dam.assets.metadata import Metadata
from dam.assets.schemas import AssetPatch
from dam.audit import queries as audit_queries
from dam.audit.schemas import AuditEventOut
from dam.campaigns import placements, reports, sources
from dam.campaigns.metrics import FIGURES
from dam.campaigns.schemas import AssetPerformance, PerformanceReport, PlacementOut
from dam.campaigns.sums import cents, exact_sum, sum_of
from dam.context import Context
from dam.errors import Invalid
from dam.governance.pack import Facet, GovernancePack, Rule, Term
from dam.models import (
    Asset,
    AssetStatus,
    AssetVersion,
    Campaign,
    CampaignMetric,
    Placement,
    PlacementPeriod,
    ReviewState,
    Role,
)
from dam.principal import REVIEWERS, UPLOADERS, Principal
from dam.workflow import service as workflow_service
from dam.workflow.schemas import StageOut

STATE_LABELS = {
    ReviewState.draft: "Draft",
    ReviewState.in_review: "In review",
    ReviewState.approved: "Approved",
    ReviewState.rejected: "Rejected",
}
COMPLIANCE_LABELS = {"pass": "On brand", "warn": "Warnings", "fail": "Blocked"}
CAMPAIGN_TAGGERS = frozenset({Role.admin, Role.brand_manager, Role.designer, Role.marketer})
# Who may ingest metrics and register placements: the roles of `dam.api.deps.Reporter`.
METRIC_REPORTERS = frozenset({Role.admin, Role.brand_manager, Role.marketer, Role.automation})


def may_upload(principal: Principal) -> bool:
    return principal.may(UPLOADERS)


def may_review(principal: Principal) -> bool:
    return principal.may(REVIEWERS)


# --- taxonomy ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TermLabel:
    facet: str
    facet_label: str
    labels: list[str]


def term_labels(pack: GovernancePack, terms: dict[str, list[str]]) -> list[TermLabel]:
    """Facets in pack order with their terms' labels; a term the pack no longer knows keeps
    its id so nothing silently disappears from the page."""
    out: list[TermLabel] = []
    for facet in pack.facets:
        ids = terms.get(facet.id)
        if not ids:
            continue
        labels = [facet.terms[t].label if t in facet.terms else t for t in ids]
        out.append(TermLabel(facet=facet.id, facet_label=facet.label, labels=labels))
    return out


def _scope_words(pack: GovernancePack, rule: Rule) -> str:
    if not rule.when:
        return "Applies to every asset"
    parts = []
    for facet_id, term_ids in rule.when.items():
        facet = pack.facet(facet_id)
        names = [facet.terms[t].label if t in facet.terms else t for t in term_ids]
        parts.append(f"{facet.label} is {' or '.join(names)}")
    return "Applies when " + " and ".join(parts)


@dataclass(frozen=True)
class RuleView:
    id: str
    description: str
    blocking: bool
    scope: str
    enabled: bool


def rules_in_words(pack: GovernancePack) -> list[RuleView]:
    return [
        RuleView(
            id=r.id,
            description=r.description,
            blocking=r.severity.value == "block",
            scope=_scope_words(pack, r),
            enabled=r.enabled,
        )
        for r in pack.rules
    ]


def taxonomy_options(facet: Facet) -> list[tuple[str, str, int, str]]:
    """(term id, label, depth, synonyms) in tree order, deprecated terms left out: the upload
    form offers only terms a new asset may use."""
    rows: list[tuple[str, str, int, str]] = []

    def walk(terms: Iterable[Term], depth: int) -> None:
        for term in terms:
            if not term.deprecated:
                rows.append((term.id, term.label, depth, " ".join(term.synonyms)))
            walk(term.children, depth + 1)

    walk(facet.roots, 0)
    return rows


# --- asset page ----------------------------------------------------------------------------


def edit_facets(pack: GovernancePack, terms: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """The edit form's taxonomy fields: the upload form's choices with `terms` (the working
    view's) ticked."""
    return [
        {
            "id": f.id,
            "label": f.label,
            "required": f.required,
            "multi": f.multi,
            "options": taxonomy_options(f),
            "selected": set(terms.get(f.id, [])),
        }
        for f in pack.facets
    ]


def metadata_patch(
    pack: GovernancePack,
    current_terms: Mapping[str, Sequence[str]],
    *,
    title: str,
    description: str,
    tags: str,
    rights_end: str,
    terms: Sequence[str],
    current_rights: datetime | None = None,
) -> AssetPatch:
    """The edit form as a PATCH of every field it shows. `terms` are `facet:term` values (an
    empty term is a facet left blank); terms of facets the pack no longer has are kept. A day
    for the rights end means the rights run to the end of that day (UTC), as on upload; the
    day the form showed (`last_day` of `current_rights`) keeps the stored instant, so saving
    an edit of another field never moves the rights (a file's licence end is stored as the
    next midnight, the form's as 23:59:59)."""
    chosen: dict[str, list[str]] = {}
    for value in terms:
        facet_id, sep, term = value.partition(":")
        if not sep or not pack.has_facet(facet_id):
            raise Invalid(f"{value!r} is not a facet:term choice of the form")
        if term:
            chosen.setdefault(facet_id, []).append(term)
    kept = {k: list(v) for k, v in current_terms.items() if not pack.has_facet(k)}
    rights: datetime | None = None
    if rights_end.strip():
        try:
            day = date.fromisoformat(rights_end.strip())
        except ValueError as exc:
            raise Invalid("the rights end must be a date like 2027-01-31") from exc
        if current_rights is not None and day.isoformat() == last_day(current_rights):
            rights = current_rights
        else:
            rights = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
    try:
        return AssetPatch(
            title=title,
            description=description,
            tags=[t for t in tags.split(",") if t.strip()],
            terms={**kept, **chosen},
            rights_expire_at=rights,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise Invalid(problems) from exc


@dataclass
class Change:
    """One field of a draft that differs from what is published, for people to compare."""

    label: str
    live: str
    draft: str


@dataclass
class AssetView:
    asset: Asset
    # The metadata shown: the working view (current version) for uploaders and reviewers, the
    # published view for marketers; `changes` compares a pending draft with what is live.
    meta: Metadata
    changes: list[Change]
    version: AssetVersion | None
    versions: list[AssetVersion]
    terms: list[TermLabel]
    campaigns: list[Campaign]
    performance: AssetPerformance
    history: list[AuditEventOut]
    history_total: int
    can_edit: bool
    can_submit: bool
    can_review: bool
    can_tag: bool
    violations: list[dict[str, Any]] = field(default_factory=list)


def asset_view(session: Session, *, ctx: Context, principal: Principal, asset: Asset) -> AssetView:
    """The asset as this principal may see it: restricted roles get the published version only
    (the same rule the API's `visible_version` applies)."""
    versions = asset_service.list_versions(session, asset)
    number = visible_version(principal, asset, None) if asset.current_version else None
    if principal.sees_only_published:
        versions = [v for v in versions if v.number == number]
    version = next((v for v in versions if v.number == number), None)
    campaign_ids = asset_service.campaign_ids_of(session, asset.id)
    campaigns = (
        list(session.exec(select(Campaign).where(col(Campaign.id).in_(campaign_ids))))
        if campaign_ids
        else []
    )
    history = audit_queries.asset_history(
        session,
        asset_id=asset.id,
        published_only=principal.sees_only_published,
        page=1,
        page_size=20,
    )
    state = version.review_state if version else None
    live = Metadata.of(asset)
    meta = live if principal.sees_only_published or version is None else Metadata.of(version)
    changes = metadata_changes(ctx.governance.pack, live, meta) if asset.published_version else []
    return AssetView(
        asset=asset,
        meta=meta,
        changes=changes,
        version=version,
        versions=versions,
        terms=term_labels(ctx.governance.pack, meta.terms),
        campaigns=sorted(campaigns, key=lambda c: c.id),
        performance=reports.asset_performance(session, [asset.id], pack=ctx.governance.pack)[
            asset.id
        ],
        history=history.items,
        history_total=history.total,
        can_edit=may_upload(principal) and asset.status != AssetStatus.archived,
        can_submit=may_upload(principal)
        and state in workflow_service.SUBMITTABLE
        and (version is None or version.compliance_status != "fail"),
        can_review=may_review(principal) and state in workflow_service.REVIEWABLE,
        can_tag=principal.may(CAMPAIGN_TAGGERS) and asset.published_version is not None,
        violations=list((version.compliance or {}).get("violations", [])) if version else [],
    )


def metadata_changes(pack: GovernancePack, live: Metadata, draft: Metadata) -> list[Change]:
    """The fields where `draft` differs from `live`, with labels and readable values."""

    def terms_text(terms: Mapping[str, Sequence[str]], facet_id: str) -> str:
        facet = pack.facet(facet_id) if pack.has_facet(facet_id) else None
        ids = terms.get(facet_id, [])
        return ", ".join(facet.terms[t].label if facet and t in facet.terms else t for t in ids)

    out: list[Change] = []
    if live.title != draft.title:
        out.append(Change("Title", live.title, draft.title))
    if live.description != draft.description:
        out.append(Change("Description", live.description, draft.description))
    if list(live.tags) != list(draft.tags):
        out.append(Change("Tags", ", ".join(live.tags), ", ".join(draft.tags)))
    for facet_id in [f.id for f in pack.facets] + sorted(
        set(live.terms) | set(draft.terms) - {f.id for f in pack.facets}
    ):
        before, after = terms_text(live.terms, facet_id), terms_text(draft.terms, facet_id)
        if before != after:
            label = pack.facet(facet_id).label if pack.has_facet(facet_id) else facet_id
            out.append(Change(label, before, after))
    if live.rights_expire_at != draft.rights_expire_at:
        out.append(
            Change(
                "Rights end",
                live.rights_expire_at.date().isoformat() if live.rights_expire_at else "none",
                draft.rights_expire_at.date().isoformat() if draft.rights_expire_at else "none",
            )
        )
    return out


def tag_choices(session: Session, *, exclude: Sequence[str]) -> list[Campaign]:
    query = select(Campaign).order_by(col(Campaign.id)).limit(500)
    if exclude:
        query = query.where(col(Campaign.id).not_in(list(exclude)))
    return list(session.exec(query))


# --- review queue --------------------------------------------------------------------------


@dataclass
class ReviewItem:
    asset: Asset
    version: AssetVersion
    previous: AssetVersion | None
    # The metadata under review compared with the published view (empty for a new asset).
    changes: list[Change]
    waited_seconds: int
    uploader: str | None
    terms: list[TermLabel]
    self_uploaded: bool
    # The stages waiting now (labels), the soonest due time and whether it has passed.
    stages: list[StageOut] = field(default_factory=list)
    due_at: datetime | None = None
    overdue: bool = False


def review_items(
    session: Session, *, ctx: Context, principal: Principal, page: int, page_size: int
) -> tuple[int, list[ReviewItem]]:
    """The workflow's queue (soonest due first), each with the published version beside it."""
    queue = workflow_service.review_queue(session, now=ctx.now(), page=page, page_size=page_size)
    items: list[ReviewItem] = []
    for entry in queue.items:
        asset = asset_service.get_asset(session, entry.asset_id)
        version = asset_service.get_version(session, asset, entry.version)
        previous = (
            asset_service.get_version(session, asset, asset.published_version)
            if asset.published_version and asset.published_version != entry.version
            else None
        )
        changes = (
            metadata_changes(ctx.governance.pack, Metadata.of(asset), Metadata.of(version))
            if asset.published_version
            else []
        )
        if previous is not None and previous.sha256 == version.sha256:
            previous = None  # a metadata change only: the file is the one published
        items.append(
            ReviewItem(
                asset=asset,
                version=version,
                previous=previous,
                changes=changes,
                waited_seconds=entry.waited_seconds,
                uploader=entry.uploader.name,
                terms=term_labels(ctx.governance.pack, version.terms),
                self_uploaded=version.created_by == principal.id and principal.role != Role.admin,
                stages=entry.stages,
                due_at=entry.due_at,
                overdue=entry.overdue,
            )
        )
    return queue.total, items


# --- governance ----------------------------------------------------------------------------


@dataclass
class ComplianceOverview:
    assets: int
    by_status: dict[str, int]
    by_rule: list[tuple[str, str, int, int]]  # rule id, description, blocking count, warn count


_CURRENT_LIVE = (
    "FROM asset_versions v JOIN assets a ON a.id = v.asset_id AND a.current_version = v.number"
)
# Each finding of a version's report: (set-returning source, rule, severity), per dialect.
_FINDINGS = {
    "postgresql": (
        "jsonb_array_elements(CASE WHEN jsonb_typeof(v.compliance->'violations') = 'array' "
        "THEN v.compliance->'violations' ELSE '[]'::jsonb END) AS f",
        "f->>'rule'",
        "f->>'severity'",
    ),
    "sqlite": (
        "json_each(CASE WHEN json_type(v.compliance, '$.violations') = 'array' "
        "THEN json_extract(v.compliance, '$.violations') ELSE '[]' END) AS f",
        "json_extract(f.value, '$.rule')",
        "json_extract(f.value, '$.severity')",
    ),
}


def compliance_overview(session: Session, *, pack: GovernancePack) -> ComplianceOverview:
    """Pass / warn / fail over the current version of every asset that is not archived, and
    which rules are behind the problems: counted in SQL, one count per asset and rule however
    many findings the rule made (a rule that blocked once counts as blocking)."""
    by_status: Counter[str] = Counter()
    for status, n in session.execute(
        sa.text(
            f"SELECT v.compliance_status, count(*) {_CURRENT_LIVE} "
            "WHERE a.status <> 'archived' GROUP BY 1"
        )
    ):
        by_status[status or "unchecked"] += int(n)
    source, rule, severity = _FINDINGS[session.get_bind().dialect.name]
    blocks: Counter[str] = Counter()
    warns: Counter[str] = Counter()
    rows = session.execute(
        sa.text(
            # Constant fragments only.
            f"SELECT rule, max(CASE WHEN severity = 'block' THEN 1 ELSE 0 END) FROM ("  # noqa: S608
            f"  SELECT v.id AS vid, {rule} AS rule, {severity} AS severity"
            f"  {_CURRENT_LIVE} CROSS JOIN {source} WHERE a.status <> 'archived'"
            ") AS x GROUP BY vid, rule"
        )
    )
    for rule_id, blocked in rows:
        (blocks if blocked else warns)[str(rule_id)] += 1
    descriptions = {r.id: r.description for r in pack.rules}
    rules = sorted(set(blocks) | set(warns), key=lambda r: (-blocks[r] - warns[r], r))
    return ComplianceOverview(
        assets=sum(by_status.values()),
        by_status={k: by_status.get(k, 0) for k in ("pass", "warn", "fail")},
        by_rule=[(r, descriptions.get(r, r), blocks[r], warns[r]) for r in rules],
    )


# --- campaigns -----------------------------------------------------------------------------


@dataclass
class Series:
    asset_id: uuid.UUID
    title: str
    points: list[tuple[date, int]]


def daily_series(
    session: Session, *, campaign: Campaign, metric: str, report: PerformanceReport
) -> list[Series]:
    """Per asset and day, one metric summed over channels, for the campaign's chart."""
    table = CampaignMetric.__table__  # type: ignore[attr-defined]
    column = table.c[metric]
    fractional = metric == "conversions"  # held in hundredths
    summed = exact_sum(
        cents(column) if fractional else column, "value", session.get_bind().dialect.name
    )
    rows = session.execute(
        sa.select(table.c.asset_id, table.c.date, *summed)
        .where(table.c.campaign_id == campaign.id)
        .group_by(table.c.asset_id, table.c.date)
        .order_by(table.c.date)
    ).all()
    titles = {item.asset_id: item.title for item in report.items}
    by_asset: dict[uuid.UUID, list[tuple[date, int]]] = {}
    for row in rows:
        value = sum_of(row, "value")
        by_asset.setdefault(row.asset_id, []).append(
            (row.date, value // 100 if fractional else value)
        )
    return [Series(asset_id=a, title=titles.get(a, str(a)), points=p) for a, p in by_asset.items()]


@dataclass(frozen=True)
class Chart:
    """A line chart laid out for inline SVG: coordinates computed here, drawn by the template."""

    width: int
    height: int
    lines: list[tuple[str, str, str]]  # title, svg points, colour
    x_labels: list[tuple[float, str]]
    y_labels: list[tuple[float, str]]
    empty: bool
    # A mark on every day's figure (x, y, colour, "title, day: value"): a one-day campaign's
    # line is a single point, which a polyline alone does not draw.
    dots: list[tuple[float, float, str, str]] = field(default_factory=list)


PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"]


def line_chart(series: list[Series], *, width: int = 720, height: int = 240) -> Chart:
    days = sorted({d for s in series for d, _ in s.points})
    top = max((v for s in series for _, v in s.points), default=0)
    if not days or top == 0:
        return Chart(width, height, [], [], [], empty=True)
    left, right, up, down = 56, 12, 12, 28
    plot_w, plot_h = width - left - right, height - up - down
    if len(days) == 1:
        x_of = {days[0]: left + plot_w / 2}  # one day: its point in the middle
    else:
        step = plot_w / (len(days) - 1)
        x_of = {d: left + i * step for i, d in enumerate(days)}

    def y_of(v: float) -> float:
        return up + plot_h - (v / top) * plot_h

    lines = []
    dots: list[tuple[float, float, str, str]] = []
    for i, s in enumerate(series[: len(PALETTE)]):
        pts = " ".join(f"{x_of[d]:.1f},{y_of(v):.1f}" for d, v in s.points)
        lines.append((s.title, pts, PALETTE[i]))
        dots.extend(
            (
                round(x_of[d], 1),
                round(y_of(v), 1),
                PALETTE[i],
                f"{s.title}, {d.strftime('%d %b')}: {v:,}",
            )
            for d, v in s.points
        )
    every = max(1, len(days) // 6)
    x_labels = [(x_of[d], d.strftime("%d %b")) for d in days[::every]]
    y_labels = [(y_of(top * f), f"{int(top * f):,}") for f in (0, 0.5, 1)]
    return Chart(width, height, lines, x_labels, y_labels, empty=False, dots=dots)


def performance_thumbs(
    session: Session, rows: Sequence[Any], *, principal: Principal
) -> dict[tuple[uuid.UUID, int | None], tuple[str | None, str]]:
    """(thumbnail url or None, kind) for each performance row (asset id, version): the row's
    version's thumbnail, or for restricted viewers the published version's (the only one they
    may fetch); rows of assets the viewer may not see get none."""
    ids = {r.asset_id for r in rows}
    if not ids:
        return {}
    assets = {a.id: a for a in session.exec(select(Asset).where(col(Asset.id).in_(ids)))}
    versions = {
        (v.asset_id, v.number): v
        for v in session.exec(select(AssetVersion).where(col(AssetVersion.asset_id).in_(ids)))
    }
    out: dict[tuple[uuid.UUID, int | None], tuple[str | None, str]] = {}
    for r in rows:
        asset = assets.get(r.asset_id)
        if asset is None:
            continue
        if principal.sees_only_published:
            number = asset.published_version
        else:
            number = r.version or asset.current_version
        version = versions.get((asset.id, number or 0))
        if version is None:
            continue
        has_thumb = "thumb" in (version.renditions or {})
        url = f"/api/v1/assets/{asset.id}/renditions/thumb?version={number}" if has_thumb else None
        out[(r.asset_id, r.version)] = (url, version.kind)
    return out


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    width_pct: float
    note: str


def bars(rows: Sequence[tuple[str, float | None, str]]) -> list[Bar]:
    """Horizontal bars scaled to the largest value; rows without a value get an empty bar."""
    top = max((v for _, v, _ in rows if v is not None), default=0) or 1
    return [
        Bar(label=label, value=v or 0, width_pct=round(100 * (v or 0) / top, 1), note=note)
        for label, v, note in rows
    ]


# --- placements and platform exports ------------------------------------------------------


@dataclass(frozen=True)
class PlacementRow:
    placement: PlacementOut
    # Titles of the assets it points or pointed to, by id (the template links them).
    titles: dict[uuid.UUID, str]
    # On the asset page: whether it points at this asset now (else it did before a re-point).
    current: bool = True


def _titles(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.exec(select(Asset.id, Asset.title).where(col(Asset.id).in_(wanted))).all()
    return {asset_id: title for asset_id, title in rows}


def campaign_placements(session: Session, *, campaign: Campaign) -> list[PlacementRow]:
    found = placements.list_placements(session, campaign=campaign)
    titles = _titles(session, (h.asset_id for p in found for h in p.history))
    return [PlacementRow(placement=p, titles=titles) for p in found]


def asset_placements(session: Session, *, asset: Asset) -> list[PlacementRow]:
    """Every placement that points at the asset, or did before it was re-pointed, in any
    campaign: current ones first."""
    ids = session.exec(
        select(PlacementPeriod.placement_id)
        .where(col(PlacementPeriod.asset_id) == asset.id)
        .distinct()
    ).all()
    if not ids:
        return []
    rows = session.exec(
        select(Placement)
        .where(col(Placement.id).in_(list(ids)))
        .order_by(col(Placement.campaign_id), col(Placement.platform), col(Placement.external_id))
    ).all()
    out = [placements.placement_out(session, p) for p in rows]
    titles = _titles(session, (h.asset_id for p in out for h in p.history))
    return sorted(
        (PlacementRow(placement=p, titles=titles, current=p.asset_id == asset.id) for p in out),
        key=lambda r: not r.current,
    )


@dataclass(frozen=True)
class ExportSource:
    name: str
    title: str
    platform: str
    # The figures its mapping fills, in report order (what the preview shows totals of).
    figures: list[str]
    # No placement id column (one campaign per file): the upload names the placement.
    needs_external_id: bool
    locale: str | None
    daily_hint: str


def export_sources(pack: GovernancePack) -> list[ExportSource]:
    """The built-in sources (the most used first) and then the pack's own (`sources/*.yaml`),
    by title."""
    first = ("google_ads", "meta", "braze", "cm360", "iterable")
    out = []
    for source in sorted(
        pack.metric_sources.values(),
        key=lambda s: (first.index(s.name) if s.name in first else len(first), s.title.lower()),
    ):
        fields = set(source.columns.values()) | set(source.patterns.values())
        out.append(
            ExportSource(
                name=source.name,
                title=source.title,
                platform=source.platform,
                figures=[name for name in FIGURES if name in fields],
                needs_external_id="external_id" not in fields,
                locale=source.locale,
                daily_hint=source.daily_hint,
            )
        )
    return out


def export_locales() -> list[tuple[str, str]]:
    """(code, how it writes one thousand two hundred thirty-four and 56 hundredths)."""
    return [
        (code, f"1{group.replace(' ', chr(0xA0))}234{decimal}56")
        for code, (group, decimal) in sorted(sources.LOCALES.items())
    ]


PLATFORM_LABELS = {"google_ads": "Google Ads", "meta": "Meta", "braze": "Braze"}


# --- formatting used by templates ----------------------------------------------------------


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def human_wait(seconds: int) -> str:
    if seconds < 3600:
        return f"{max(1, seconds // 60)} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


NO_VALUE = "\u2013"  # an en dash: "no figure", distinct from zero


def percent(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value * 100:.1f}%"


def amount(value: float) -> str:
    """A figure that may have hundredths (conversions): `12`, `3.83`, `1,234.5`."""
    text = f"{Decimal(str(value)).quantize(Decimal('0.01')):,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def money(value: Decimal | float | None) -> str:
    return NO_VALUE if value is None else f"{Decimal(value):,.2f}"


def in_currencies(by_currency: Sequence[Any], name: str = "spend") -> str:
    """A money figure with its currency, one amount per currency the rows were reported in
    (never converted): `1,234.50 EUR`, `80.00 EUR · 25.00 USD`; rows that gave no currency
    show the bare amount."""
    parts = [
        f"{money(value)} {c.currency}" if c.currency else money(value)
        for c in by_currency
        if (value := getattr(c, name)) is not None
    ]
    return " · ".join(parts) if parts else NO_VALUE


def last_day(value: datetime | None) -> str:
    """The last day (UTC) a rights end covers: rights ending at midnight end the day before."""
    return "" if value is None else (value - timedelta(microseconds=1)).date().isoformat()


def when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%d %b %Y, %H:%M UTC")
