"""Governance applied to assets: the one place uploads, versions, edits, validation and
re-checks are judged against the loaded pack."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from dam.audit.service import record
from dam.auth.principal import Principal
from dam.governance.checks import Subject
from dam.governance.engine import ComplianceReport, ComplianceStatus, evaluate
from dam.governance.pack import GovernancePack, PackInvalid
from dam.governance.terms import normalize_terms
from dam.media.embedded import Embedded
from dam.media.types import MediaInfo, MediaKind
from dam.models import Asset, AssetVersion


@dataclass
class Fields:
    """The metadata the rules judge, as it will be stored."""

    title: str
    description: str
    tags: Sequence[str]
    terms: Mapping[str, Sequence[str]]
    campaign_ids: Sequence[str] = ()
    rights_expire_at: datetime | None = None
    # Governed fields the pack's metadata.yaml adds (creator, credit, copyright, …).
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Assessment:
    terms: dict[str, list[str]]
    report: ComplianceReport
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def enforce(self) -> Assessment:
        """Blocking violations end the request with 422 and the full list; nothing is stored."""
        self.report.raise_if_failed()
        return self


def media_from_json(data: Mapping[str, Any]) -> MediaInfo:
    """Rebuild the inspected media stored with a version (re-checks never re-read the blob)."""
    values = dict(data)
    values["kind"] = MediaKind(values["kind"])
    if values.get("dpi") is not None:
        values["dpi"] = tuple(values["dpi"])
    values["dominant_colors"] = [
        (tuple(rgb), share) for rgb, share in values.get("dominant_colors", [])
    ]
    known = MediaInfo.__dataclass_fields__
    return MediaInfo(**{k: v for k, v in values.items() if k in known})


def assess(
    pack: GovernancePack,
    *,
    media: MediaInfo,
    size: int,
    filename: str,
    fields: Fields,
    now: datetime,
    embedded: Embedded | None = None,
) -> Assessment:
    """Normalise the terms (422 on unknown or missing ones) and evaluate every rule.

    `embedded` (the file's normalised embedded block) lets the privacy and provenance checks
    judge the file; without it they are skipped."""
    normalized = normalize_terms(pack, fields.terms)
    subject = Subject(
        media=media,
        size=size,
        filename=filename,
        title=fields.title,
        description=fields.description,
        tags=tuple(fields.tags),
        terms=normalized.terms,
        campaigns=tuple(fields.campaign_ids),
        rights_expire_at=fields.rights_expire_at,
        now=now,
        embedded=embedded,
        extra=dict(fields.extra),
    )
    report = evaluate(pack, subject, extra_warnings=normalized.warnings)
    return Assessment(terms=normalized.terms, report=report, warnings=normalized.warnings)


def assess_version(
    pack: GovernancePack, *, version: AssetVersion, fields: Fields, now: datetime
) -> Assessment:
    return assess(
        pack,
        media=media_from_json(version.media),
        size=version.size,
        filename=version.filename,
        fields=fields,
        now=now,
    )


def store_report(version: AssetVersion, report: ComplianceReport) -> None:
    version.compliance = report.to_json()
    version.compliance_status = str(report.to_json()["status"])


def fields_of(asset: Asset, campaign_ids: Sequence[str]) -> Fields:
    return Fields(
        title=asset.title,
        description=asset.description,
        tags=list(asset.tags),
        terms={k: list(v) for k, v in asset.terms.items()},
        campaign_ids=list(campaign_ids),
        rights_expire_at=asset.rights_expire_at,
    )


@dataclass
class RecheckResult:
    revision: str
    counts: Counter[str]
    newly_failing: list[tuple[uuid.UUID, str, list[str]]]
    checked: int


def recheck_all(
    session: Session,
    *,
    pack: GovernancePack,
    now: datetime,
    batch_size: int = 500,
) -> RecheckResult:
    """Evaluate every asset's current version against `pack` and store the new reports; assets
    whose status changed are queued for re-indexing (search filters on compliance).

    Terms are judged as stored; a term the new pack no longer knows shows up as a failure of
    that asset rather than stopping the re-check."""
    from dam.assets.service import campaign_ids_for, current_versions
    from dam.errors import Invalid
    from dam.jobs.outbox import enqueue

    counts: Counter[str] = Counter()
    newly_failing: list[tuple[uuid.UUID, str, list[str]]] = []
    checked = 0
    offset = 0
    while True:
        assets = list(
            session.exec(select(Asset).order_by(col(Asset.id)).offset(offset).limit(batch_size))
        )
        if not assets:
            break
        offset += len(assets)
        versions = current_versions(session, assets)
        campaign_ids = campaign_ids_for(session, [a.id for a in assets])
        for asset in assets:
            version = versions.get(asset.id)
            if version is None:
                continue
            before = version.compliance_status
            fields = fields_of(asset, campaign_ids.get(asset.id, ()))
            try:
                report = assess_version(pack, version=version, fields=fields, now=now).report
            except Invalid as exc:
                report = ComplianceReport.of(
                    [_terms_violation(problem) for problem in exc.extra.get("problems", [])],
                    pack.revision,
                )
            store_report(version, report)
            session.add(version)
            status = str(report.to_json()["status"])
            if status != before:
                enqueue(session, "search.index", {"asset_id": str(asset.id)}, now=now)
            counts[status] += 1
            checked += 1
            if report.status == ComplianceStatus.failed and before != "fail":
                newly_failing.append((asset.id, asset.title, [v.rule for v in report.blocking]))
        session.flush()
    return RecheckResult(
        revision=pack.revision, counts=counts, newly_failing=newly_failing, checked=checked
    )


def _terms_violation(problem: Mapping[str, Any]) -> Any:
    from dam.governance.engine import Violation
    from dam.governance.pack import Severity

    return Violation(
        rule="taxonomy.invalid_term",
        severity=Severity.block,
        message=str(problem.get("message", "invalid term")),
        expected=problem.get("suggestions"),
        actual={"facet": problem.get("facet"), "term": problem.get("term")},
    )


def reload_pack(
    session: Session, *, holder: Any, actor: Principal, now: datetime
) -> tuple[GovernancePack, GovernancePack]:
    """Swap in the pack on disk; a broken pack raises `Invalid` listing file:line problems
    and the previous pack stays in force."""
    from dam.errors import Invalid

    try:
        previous, current = holder.reload()
    except PackInvalid as exc:
        raise Invalid(
            f"the governance pack has {len(exc.errors)} problem(s); the previous pack "
            f"(revision {holder.pack.revision}) stays in force",
            code="invalid_pack",
            problems=[str(e) for e in exc.errors],
        ) from exc
    record(
        session,
        actor=actor,
        action="governance.reloaded",
        target=current.revision,
        changes={
            "revision": {"before": previous.revision, "after": current.revision},
            "digest": {"before": previous.digest, "after": current.digest},
        },
        now=now,
    )
    return previous, current
