"""Background jobs that follow a new version."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session

from dam.assets.previews import missing_names, render_version, split_stages
from dam.assets.service import RENDITIONS_JOB
from dam.context import Context
from dam.jobs.outbox import enqueue
from dam.jobs.registry import GiveUp
from dam.models import AssetVersion

__all__ = ["RENDITIONS_JOB", "make_renditions"]


def make_renditions(ctx: Context, session: Session, payload: dict[str, Any]) -> None:
    """Idempotent: renditions are keyed by the original's digest, and made only when missing.

    Stage 1 draws the stills (thumb, preview) so a thumbnail appears as soon as possible, then
    queues stage 2 (PDF page thumbnails, the video clip). Drawing happens in a child process
    bounded in time and memory; a file it cannot draw gets placeholders, its reason is recorded
    on the version, and the job gives up instead of retrying.
    """
    version = session.get(AssetVersion, uuid.UUID(payload["version_id"]))
    if version is None:
        return
    wanted = payload.get("names")
    missing = missing_names(ctx.settings, version)
    later: list[str] = []
    if isinstance(wanted, list):
        names = [n for n in missing if n in wanted]
    else:
        names, later = split_stages(missing)
        if not names:
            names, later = later, []
    if not names:
        return
    result = render_version(ctx, session, version, names=names)
    if result.error is not None:
        session.commit()  # the placeholders and the reason outlive the failed job
        raise GiveUp(f"renditions of version {version.id}: {result.error}")
    if later:
        # The stills are stored with this job's commit; the rest follows as its own job.
        enqueue(
            session, RENDITIONS_JOB, {"version_id": str(version.id), "names": later}, now=ctx.now()
        )
