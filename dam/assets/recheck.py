"""Re-judge every asset against a (new) governance pack: `dam governance recheck`."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.assets.service import campaign_ids_for, current_versions
from dam.errors import Invalid
from dam.governance.engine import ComplianceReport, ComplianceStatus, Violation
from dam.governance.pack import GovernancePack, Severity
from dam.governance.service import assess_version, fields_of, store_report
from dam.models import Asset


@dataclass
class RecheckResult:
    revision: str
    counts: Counter[str]
    newly_failing: list[tuple[uuid.UUID, str, list[str]]]
    checked: int
    # Assets whose compliance status changed: the caller re-indexes them (search filters on it).
    changed: list[uuid.UUID] = field(default_factory=list)


def recheck_all(
    session: Session,
    *,
    pack: GovernancePack,
    now: datetime,
    batch_size: int = 500,
    on_progress: Callable[[int, int], None] | None = None,
) -> RecheckResult:
    """Evaluate every asset's current version against `pack` and store the new reports.

    Terms are judged as stored; a term the new pack no longer knows shows up as a failure of
    that asset rather than stopping the re-check. ``on_progress(done, total)`` is called after
    each batch."""
    total = session.exec(select(sa.func.count()).select_from(Asset)).one() if on_progress else 0
    counts: Counter[str] = Counter()
    newly_failing: list[tuple[uuid.UUID, str, list[str]]] = []
    changed: list[uuid.UUID] = []
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
            fields = fields_of(version, campaign_ids.get(asset.id, ()))
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
                changed.append(asset.id)
            counts[status] += 1
            checked += 1
            if report.status == ComplianceStatus.failed and before != "fail":
                newly_failing.append((asset.id, asset.title, [v.rule for v in report.blocking]))
        session.flush()
        if on_progress is not None:
            on_progress(offset, max(total, offset))
    return RecheckResult(
        revision=pack.revision,
        counts=counts,
        newly_failing=newly_failing,
        checked=checked,
        changed=changed,
    )


def _terms_violation(problem: Mapping[str, Any]) -> Violation:
    return Violation(
        rule="taxonomy.invalid_term",
        severity=Severity.block,
        message=str(problem.get("message", "invalid term")),
        expected=problem.get("suggestions"),
        actual={"facet": problem.get("facet"), "term": problem.get("term")},
    )
