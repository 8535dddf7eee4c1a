"""The two views of an asset's metadata, and what an edit may change in each.

The working view is the current version's row: the metadata that version was submitted with,
which uploaders and reviewers see and edit. The published view is the asset row: the metadata
approved with the published version, which marketers, automation, feeds and links see. Only an
approval copies the one into the other, with two exceptions that apply to both views at once:
fields the pack exempts from review, and changes that only restrict (an earlier rights date).
While nothing is published yet, the asset row simply follows the working view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from dam.governance.pack import GovernancePack
from dam.governance.service import MetadataRow
from dam.models import Asset, AssetStatus, AssetVersion

FIELDS = ("title", "description", "tags", "terms", "rights_expire_at", "extra")


@dataclass(frozen=True)
class Metadata:
    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    terms: dict[str, list[str]] = field(default_factory=dict)
    rights_expire_at: datetime | None = None
    # The governed fields of the pack's metadata.yaml: creator, credit, copyright …
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, row: MetadataRow) -> Metadata:
        return cls(
            title=row.title,
            description=row.description,
            tags=tuple(row.tags),
            terms={k: list(v) for k, v in (row.terms or {}).items()},
            rights_expire_at=row.rights_expire_at,
            extra=dict(row.extra or {}),
        )

    def with_changes(self, changes: dict[str, Any]) -> Metadata:
        values = {name: changes[name] for name in FIELDS if name in changes}
        if "tags" in values:
            values["tags"] = tuple(values["tags"] or ())
        if "terms" in values:
            values["terms"] = {k: list(v) for k, v in (values["terms"] or {}).items()}
        for name in ("title", "description"):
            if name in values:
                values[name] = (values[name] or "").strip()
        if "extra" in values:
            # A field set to null is cleared; the others are kept.
            merged = {**self.extra, **(values["extra"] or {})}
            values["extra"] = {k: v for k, v in merged.items() if v not in (None, "", [])}
        return replace(self, **values)

    def write_to(self, row: Asset | AssetVersion) -> None:
        row.title = self.title
        row.description = self.description
        row.tags = list(self.tags)
        row.terms = {k: list(v) for k, v in self.terms.items()}
        row.rights_expire_at = self.rights_expire_at
        row.extra = dict(self.extra)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "terms": {k: list(v) for k, v in self.terms.items()},
            "rights_expire_at": self.rights_expire_at.isoformat()
            if self.rights_expire_at
            else None,
            "extra": dict(self.extra),
        }


def restricts(before: datetime | None, after: datetime | None) -> bool:
    """An earlier rights date (or one where there was none) only takes the asset out of
    circulation sooner: it never waits for a reviewer."""
    return after is not None and (before is None or after < before)


def reviewed_changes(pack: GovernancePack, before: Metadata, after: Metadata) -> list[str]:
    """The changed fields that must wait for a reviewer (terms are named `terms.<facet>`)."""
    pending: list[str] = []
    for name in ("title", "description", "tags"):
        if getattr(before, name) != getattr(after, name) and pack.needs_review(name):
            pending.append(name)
    for facet_id in sorted(set(before.terms) | set(after.terms)):
        old, new = before.terms.get(facet_id, []), after.terms.get(facet_id, [])
        if sorted(old) != sorted(new) and pack.needs_review("terms", facet_id):
            pending.append(f"terms.{facet_id}")
    for name in sorted(set(before.extra) | set(after.extra)):
        if before.extra.get(name) != after.extra.get(name):
            pending.append(f"extra.{name}")
    if before.rights_expire_at != after.rights_expire_at and not restricts(
        before.rights_expire_at, after.rights_expire_at
    ):
        pending.append("rights_expire_at")
    return pending


def live_after_edit(
    pack: GovernancePack, live: Metadata, before: Metadata, after: Metadata
) -> Metadata:
    """The published view once a working-view edit `before` -> `after` is made: exempt
    fields follow the edit, an earlier rights date applies, everything else waits."""
    values: dict[str, Any] = {}
    for name in ("title", "description", "tags"):
        if getattr(before, name) != getattr(after, name) and not pack.needs_review(name):
            values[name] = getattr(after, name)
    terms = {k: list(v) for k, v in live.terms.items()}
    for facet_id in set(before.terms) | set(after.terms):
        if pack.needs_review("terms", facet_id):
            continue
        if sorted(before.terms.get(facet_id, [])) != sorted(after.terms.get(facet_id, [])):
            if after.terms.get(facet_id):
                terms[facet_id] = list(after.terms[facet_id])
            else:
                terms.pop(facet_id, None)
    values["terms"] = terms
    if restricts(live.rights_expire_at, after.rights_expire_at):
        values["rights_expire_at"] = after.rights_expire_at
    return replace(live, **values)


def publish(asset: Asset, metadata: Metadata, *, now: datetime) -> Metadata:
    """Make `metadata` the published view; returns the view it replaced. A rights date that
    moved puts an expired asset back in circulation (or warns again later)."""
    previous = Metadata.of(asset)
    metadata.write_to(asset)
    if asset.rights_expire_at != previous.rights_expire_at:
        asset.rights_warned_at = None
        if asset.status == AssetStatus.expired and (
            asset.rights_expire_at is None or asset.rights_expire_at > now
        ):
            asset.status = AssetStatus.active
    return previous


def snapshot(
    metadata: Metadata, campaign_ids: Sequence[str], *, status: AssetStatus
) -> dict[str, Any]:
    """What the audit trail records before and after a change."""
    return {
        **metadata.to_json(),
        "campaign_ids": sorted(campaign_ids),
        "status": status.value,
    }
