"""`dam renditions rebuild`: draw renditions again for existing versions.

After an upgrade that previews a new kind (or draws one better), or after renders failed on a
loaded machine, this re-runs the rendition job's work for each version, in the same sandbox, one
version per transaction so an interruption loses nothing done so far.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from dam.assets.previews import missing_names, planned_names, render_version
from dam.context import Context
from dam.models import AssetVersion

KINDS = ("image", "vector", "document", "video")


@dataclass
class RebuildReport:
    versions: int = 0  # versions looked at
    rendered: int = 0  # versions that got at least one rendition drawn
    renditions: int = 0
    failed: list[tuple[uuid.UUID, str]] = field(default_factory=list)


def versions_to_rebuild(ctx: Context, *, kinds: Sequence[str] | None) -> list[uuid.UUID]:
    with Session(ctx.engine) as session:
        query = select(AssetVersion.id).order_by(col(AssetVersion.created_at))
        if kinds:
            query = query.where(col(AssetVersion.kind).in_(list(kinds)))
        return list(session.exec(query))


def rebuild_renditions(
    ctx: Context,
    *,
    kinds: Sequence[str] | None = None,
    missing_only: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> RebuildReport:
    """Redraw every planned rendition (``missing_only``: only those absent or standing in for a
    failed render) of the versions of ``kinds`` (all kinds by default).

    ``on_progress(done, total)`` is called after each version.
    """
    unknown = sorted(set(kinds or ()) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown kind {unknown[0]!r}; kinds with renditions: {', '.join(KINDS)}")
    ids = versions_to_rebuild(ctx, kinds=kinds)
    report = RebuildReport(versions=len(ids))
    for done, version_id in enumerate(ids, start=1):
        with Session(ctx.engine, expire_on_commit=False) as session:
            version = session.get(AssetVersion, version_id)
            if version is not None:
                names = (
                    missing_names(ctx.settings, version)
                    if missing_only
                    else planned_names(ctx.settings, version)
                )
                if names:
                    result = render_version(
                        ctx, session, version, names=names, force=not missing_only
                    )
                    session.commit()
                    if result.made:
                        report.rendered += 1
                        report.renditions += len(result.made)
                    if result.error is not None:
                        report.failed.append((version_id, result.error))
        if on_progress is not None:
            on_progress(done, len(ids))
    return report
