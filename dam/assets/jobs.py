"""Background jobs that follow a new version or a publication."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session, select

from dam.assets import delivery
from dam.assets.previews import missing_names, render_version, split_stages
from dam.assets.service import RENDITIONS_JOB, campaign_ids_of
from dam.context import Context
from dam.jobs.outbox import enqueue
from dam.jobs.registry import GiveUp
from dam.media.writeback import DeliveryRefused
from dam.models import Asset, AssetStatus, AssetVersion, ReviewState

__all__ = [
    "DELIVERY_COPIES_JOB",
    "RENDITIONS_JOB",
    "make_delivery_copies",
    "make_renditions",
    "queue_delivery_copies",
]

DELIVERY_COPIES_JOB = "delivery.copies"
# Events after which what the published view delivers may have changed: a publication, a
# published-metadata edit (review-exempt fields, a restricted rights date), a campaign tag.
_PUBLISHED_CHANGES = frozenset({"asset.approved", "asset.updated", "asset.campaigns_changed"})
# Who gets a delivered copy without a campaign: the two audiences of GET /assets/{id}/content
# that do not get the original (their copies share a key when the pack strips alike).
_COPY_AUDIENCES = ("automation", "marketer")


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


def queue_delivery_copies(ctx: Context, session: Session, event: dict[str, Any]) -> None:
    """Event reaction: after a change to what an asset publishes, make its delivered copies
    in a job of their own (a slow copy never holds up indexing or webhooks)."""
    if event.get("type") in _PUBLISHED_CHANGES and event.get("asset_id"):
        enqueue(session, DELIVERY_COPIES_JOB, {"asset_id": str(event["asset_id"])}, now=ctx.now())


def make_delivery_copies(ctx: Context, session: Session, payload: dict[str, Any]) -> None:
    """Make the published version's delivered copies before anyone asks for them, so campaign
    feeds can state the digest of the bytes their links serve: one for automation and
    marketer downloads, and one per campaign the asset is in (a delivery link's copy carries
    its campaign id). Idempotent: a copy whose cache key is made already is not made again.
    A file the writer refuses (location it cannot remove) has no copy; its links answer 409.
    """
    asset = session.get(Asset, uuid.UUID(str(payload["asset_id"])))
    if asset is None or asset.status != AssetStatus.active or asset.published_version is None:
        return
    version = session.exec(
        select(AssetVersion).where(
            AssetVersion.asset_id == asset.id, AssetVersion.number == asset.published_version
        )
    ).first()
    if version is None or version.review_state != ReviewState.approved:
        return
    targets: list[tuple[str, str | None]] = [(audience, None) for audience in _COPY_AUDIENCES]
    link = delivery.DELIVERY_LINK_AUDIENCE
    targets += [(link, cid) for cid in campaign_ids_of(session, asset.id)]
    try:
        for audience, campaign_id in targets:
            delivery.served(
                session,
                ctx=ctx,
                asset=asset,
                version=version,
                audience=audience,
                campaign_id=campaign_id,
            )
    except DeliveryRefused as exc:
        raise GiveUp(f"no delivered copy of version {version.id}: {exc}") from exc
