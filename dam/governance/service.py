"""Governance applied to assets: the one place uploads, versions, edits, validation and
re-checks are judged against the loaded pack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from dam.audit.service import record
from dam.errors import Invalid
from dam.governance.checks import Subject
from dam.governance.engine import ComplianceReport, evaluate
from dam.governance.pack import GovernancePack, PackInvalid
from dam.governance.terms import normalize_terms
from dam.media.embedded import Embedded
from dam.media.types import MediaInfo, MediaKind
from dam.models import AssetVersion
from dam.principal import Principal


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
    embedded = (version.embedded or {}).get("embedded")
    return assess(
        pack,
        media=media_from_json(version.media),
        size=version.size,
        filename=version.filename,
        fields=fields,
        now=now,
        embedded=Embedded.from_json(embedded) if embedded is not None else None,
    )


def store_report(version: AssetVersion, report: ComplianceReport) -> None:
    version.compliance = report.to_json()
    version.compliance_status = str(report.to_json()["status"])


class MetadataRow(Protocol):
    """An asset (its published view), a version (the metadata it is reviewed with), or the
    metadata of either."""

    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def tags(self) -> Sequence[str]: ...
    @property
    def terms(self) -> Mapping[str, Sequence[str]]: ...
    @property
    def rights_expire_at(self) -> datetime | None: ...
    @property
    def extra(self) -> Mapping[str, Any]: ...


def fields_of(row: MetadataRow, campaign_ids: Sequence[str]) -> Fields:
    return Fields(
        title=row.title,
        description=row.description,
        tags=list(row.tags),
        terms={k: list(v) for k, v in row.terms.items()},
        campaign_ids=list(campaign_ids),
        rights_expire_at=row.rights_expire_at,
        extra=dict(row.extra or {}),
    )


def reload_pack(
    session: Session, *, holder: Any, actor: Principal, now: datetime
) -> tuple[GovernancePack, GovernancePack]:
    """Swap in the pack on disk; a broken pack raises `Invalid` listing file:line problems
    and the previous pack stays in force."""
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
