"""Assets and their versions: upload, new version, restore, metadata edits, archive.

Write order for anything that adds bytes: the blob first, then one transaction with the rows,
the audit event and the outbox jobs. A failure after the blob write leaves only an orphan blob
(which `dam storage check --repair` removes), never a row without its blob.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from dam.assets.schemas import AssetMetadataIn, AssetPatch
from dam.assets.upload import ReceivedUpload
from dam.audit.service import diff, record
from dam.auth.principal import Principal
from dam.campaigns.ids import resolve_campaigns
from dam.context import Context
from dam.errors import Conflict, Invalid, NotFound, PreconditionFailed
from dam.events import emit
from dam.governance.schemas import ValidationOut
from dam.governance.service import (
    Assessment,
    Fields,
    assess,
    assess_version,
    fields_of,
    store_report,
)
from dam.jobs.outbox import enqueue
from dam.media import MediaInfo, MediaKind, inspect_file, safe_filename
from dam.models import Asset, AssetCampaign, AssetStatus, AssetVersion, ReviewState
from dam.storage import blob_key
from dam.workflow.expiry import renew_rights

EXTENSIONS = {
    "JPEG": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "TIFF": "tif",
    "GIF": "gif",
    "AVIF": "avif",
    "SVG": "svg",
    "PDF": "pdf",
    "MP4": "mp4",
    "MOV": "mov",
    "WEBM": "webm",
}


@dataclass
class Inspected:
    upload: ReceivedUpload
    media: MediaInfo
    filename: str


def etag(asset: Asset) -> str:
    return f'"{asset.id.hex[:12]}-{asset.revision}"'


def check_if_match(asset: Asset, if_match: str | None) -> None:
    """Optimistic concurrency: a stale ETag means someone changed the asset since it was read."""
    if if_match is None:
        return
    candidates = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" in candidates or etag(asset) in candidates:
        return
    raise PreconditionFailed(
        f"the asset changed since you read it (current ETag {etag(asset)}); reload and retry",
        code="stale_version",
        current_etag=etag(asset),
    )


def parse_metadata(raw: str | None) -> AssetMetadataIn:
    import json

    from pydantic import ValidationError

    if raw is None or not raw.strip():
        return AssetMetadataIn()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Invalid(
            f"metadata is not valid JSON: {exc.msg} at {exc.pos}", code="invalid_metadata"
        ) from exc
    if not isinstance(data, dict):
        raise Invalid("metadata must be a JSON object", code="invalid_metadata")
    try:
        return AssetMetadataIn.model_validate(data)
    except ValidationError as exc:
        raise Invalid(
            "metadata is not valid",
            code="invalid_metadata",
            problems=[
                {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
                for err in exc.errors()
            ],
        ) from exc


def inspect_upload(ctx: Context, upload: ReceivedUpload) -> Inspected:
    """Type sniffed from bytes, media read, display name sanitised. Raises 4xx errors."""
    if upload.size == 0:
        raise Invalid("the file is empty", code="empty_file")
    media = inspect_file(upload.path, max_pixels=ctx.settings.max_image_pixels)
    filename = safe_filename(upload.filename, fallback_ext=EXTENSIONS.get(media.format, "bin"))
    return Inspected(upload=upload, media=media, filename=filename)


def _upload_fields(
    metadata: AssetMetadataIn, inspected: Inspected, campaign_ids: list[str]
) -> Fields:
    return Fields(
        title=(metadata.title or "").strip() or _title_from_filename(inspected.filename),
        description=(metadata.description or "").strip(),
        tags=metadata.tags,
        terms=metadata.terms,
        campaign_ids=campaign_ids,
        rights_expire_at=metadata.rights_expire_at,
    )


def _assess_upload(ctx: Context, inspected: Inspected, fields: Fields) -> Assessment:
    return assess(
        ctx.governance.pack,
        media=inspected.media,
        size=inspected.upload.size,
        filename=inspected.filename,
        fields=fields,
        now=ctx.now(),
    )


def preview_compliance(session: Session, *, ctx: Context, upload: ReceivedUpload) -> ValidationOut:
    """The validate endpoint: everything an upload checks, nothing stored. Unknown terms and
    bad files still raise (422/415); rule violations are returned, not raised."""
    metadata = parse_metadata(upload.fields.get("metadata"))
    inspected = inspect_upload(ctx, upload)
    fields = _upload_fields(metadata, inspected, [c.strip().upper() for c in metadata.campaign_ids])
    assessment = _assess_upload(ctx, inspected, fields)
    duplicate = find_by_sha256(session, upload.sha256)
    return ValidationOut(
        compliance=assessment.report.to_json(),
        terms=assessment.terms,
        mime_type=inspected.media.mime_type,
        format=inspected.media.format,
        kind=str(inspected.media.kind),
        width=inspected.media.width,
        height=inspected.media.height,
        filename=inspected.filename,
        size=upload.size,
        duplicate_of=str(duplicate.asset_id) if duplicate else None,
    )


def possible_duplicates(session: Session, *, asset: Asset) -> list[dict[str, Any]]:
    """Other assets whose current image looks nearly the same (perceptual hash), nearest first.
    Byte-identical files never get here: they are refused as duplicates."""
    from dam.search.similar import find_similar

    version = get_version(session, asset, asset.current_version)
    if not version.phash:
        return []
    return [
        {"asset_id": str(asset_id), "version": number, "distance": distance}
        for asset_id, number, distance in find_similar(
            session, phash=version.phash, exclude_asset_id=asset.id, max_distance=6, limit=10
        )
    ]


def find_by_sha256(session: Session, sha256: str) -> AssetVersion | None:
    return session.exec(
        select(AssetVersion)
        .where(AssetVersion.sha256 == sha256)
        .order_by(col(AssetVersion.created_at))
    ).first()


def _refuse_duplicate(session: Session, sha256: str) -> None:
    existing = find_by_sha256(session, sha256)
    if existing is not None:
        raise Conflict(
            f"these bytes are already stored as version {existing.number} of asset "
            f"{existing.asset_id}",
            code="duplicate",
            existing_asset_id=str(existing.asset_id),
            existing_version=existing.number,
        )


def _store_blob(ctx: Context, inspected: Inspected) -> str:
    key = blob_key(inspected.upload.sha256)
    if not ctx.store.exists(key):
        ctx.store.put_file(key, inspected.upload.path, content_type=inspected.media.mime_type)
    return key


def _new_version(
    asset: Asset, inspected: Inspected, *, number: int, key: str, actor: Principal, ctx: Context
) -> AssetVersion:
    media = inspected.media
    return AssetVersion(
        asset_id=asset.id,
        number=number,
        blob_key=key,
        sha256=inspected.upload.sha256,
        size=inspected.upload.size,
        mime_type=media.mime_type,
        format=media.format,
        kind=str(media.kind),
        filename=inspected.filename,
        width=media.width,
        height=media.height,
        color_mode=media.color_mode,
        icc_profile=media.icc_profile,
        phash=media.phash,
        media=media.to_json(),
        created_by=actor.id,
        created_at=ctx.now(),
    )


def _withdraw_superseded(
    session: Session, asset: Asset, version: AssetVersion
) -> dict[str, list[int]]:
    """A version still waiting for review is withdrawn when a newer one arrives: reviewers
    judge the current version only, so it would otherwise sit in review forever."""
    waiting = list(
        session.exec(
            select(AssetVersion).where(
                AssetVersion.asset_id == asset.id,
                col(AssetVersion.number) < version.number,
                AssetVersion.review_state == ReviewState.in_review,
            )
        )
    )
    for old in waiting:
        old.review_state = ReviewState.draft
        old.review_reason = f"withdrawn from review: version {version.number} replaced it"
        session.add(old)
    return {"withdrawn_from_review": [v.number for v in waiting]} if waiting else {}


def _after_new_version(session: Session, ctx: Context, asset: Asset, version: AssetVersion) -> None:
    if version.kind != MediaKind.audio and not version.renditions:
        enqueue(session, "renditions", {"version_id": str(version.id)}, now=ctx.now())


def create_asset(
    session: Session,
    *,
    ctx: Context,
    upload: ReceivedUpload,
    metadata: AssetMetadataIn,
    actor: Principal,
) -> Asset:
    inspected = inspect_upload(ctx, upload)
    _refuse_duplicate(session, upload.sha256)
    now = ctx.now()
    campaign_ids = resolve_campaigns(
        session, metadata.campaign_ids, auto_create=ctx.settings.campaign_auto_create, now=now
    )
    fields = _upload_fields(metadata, inspected, campaign_ids)
    assessment = _assess_upload(ctx, inspected, fields).enforce()
    key = _store_blob(ctx, inspected)
    asset = Asset(
        title=fields.title,
        description=fields.description,
        tags=list(fields.tags),
        terms=assessment.terms,
        rights_expire_at=fields.rights_expire_at,
        current_version=1,
        created_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(asset)
    session.flush()
    version = _new_version(asset, inspected, number=1, key=key, actor=actor, ctx=ctx)
    store_report(version, assessment.report)
    session.add(version)
    for cid in campaign_ids:
        session.add(
            AssetCampaign(asset_id=asset.id, campaign_id=cid, added_by=actor.id, added_at=now)
        )
    session.flush()
    record(
        session,
        actor=actor,
        action="asset.created",
        asset_id=asset.id,
        version=1,
        changes={"after": snapshot(asset, campaign_ids), "sha256": version.sha256},
        now=now,
    )
    emit(session, "asset.created", asset=asset, version=1, now=now)
    _after_new_version(session, ctx, asset, version)
    return asset


def add_version(
    session: Session,
    *,
    ctx: Context,
    asset: Asset,
    upload: ReceivedUpload,
    metadata: AssetMetadataIn | None,
    actor: Principal,
    if_match: str | None,
) -> AssetVersion:
    check_if_match(asset, if_match)
    inspected = inspect_upload(ctx, upload)
    _refuse_duplicate(session, upload.sha256)
    now = ctx.now()
    before = snapshot(asset, campaign_ids_of(session, asset.id))
    if metadata is not None:
        _apply_upload_metadata(session, ctx, asset, metadata, actor)
        renew_rights(asset, before=before, now=now)
    assessment = _assess_upload(
        ctx, inspected, fields_of(asset, campaign_ids_of(session, asset.id))
    ).enforce()
    asset.terms = assessment.terms
    key = _store_blob(ctx, inspected)
    number = asset.current_version + 1
    version = _new_version(asset, inspected, number=number, key=key, actor=actor, ctx=ctx)
    store_report(version, assessment.report)
    bump_revision(session, asset, current_version=number, now=now)
    session.add(version)
    session.flush()
    after = snapshot(asset, campaign_ids_of(session, asset.id))
    record(
        session,
        actor=actor,
        action="asset.version_created",
        asset_id=asset.id,
        version=number,
        changes={
            **diff(before, after),
            "sha256": version.sha256,
            **_withdraw_superseded(session, asset, version),
        },
        now=now,
    )
    emit(session, "asset.version_created", asset=asset, version=number, now=now)
    _after_new_version(session, ctx, asset, version)
    return version


def restore_version(
    session: Session,
    *,
    ctx: Context,
    asset: Asset,
    number: int,
    actor: Principal,
    if_match: str | None,
) -> AssetVersion:
    """A new version n+1 made from version `number`'s blob; no bytes are uploaded or copied."""
    check_if_match(asset, if_match)
    source = get_version(session, asset, number)
    if not ctx.store.exists(source.blob_key):
        raise Conflict(
            f"version {number}'s file is missing from storage; run `dam storage check`",
            code="blob_missing",
        )
    now = ctx.now()
    assessment = assess_version(
        ctx.governance.pack,
        version=source,
        fields=fields_of(asset, campaign_ids_of(session, asset.id)),
        now=now,
    ).enforce()
    new_number = asset.current_version + 1
    version = AssetVersion(
        **source.model_dump(
            exclude={
                "id",
                "number",
                "review_state",
                "review_reason",
                "reviewed_by",
                "reviewed_at",
                "submitted_at",
                "created_at",
                "created_by",
                "restored_from",
                "compliance",
                "compliance_status",
            }
        ),
        number=new_number,
        restored_from=number,
        created_by=actor.id,
        created_at=now,
    )
    store_report(version, assessment.report)
    bump_revision(session, asset, current_version=new_number, now=now)
    session.add(version)
    session.flush()
    record(
        session,
        actor=actor,
        action="asset.version_restored",
        asset_id=asset.id,
        version=new_number,
        changes={
            "restored_from": number,
            "sha256": version.sha256,
            **_withdraw_superseded(session, asset, version),
        },
        now=now,
    )
    emit(
        session,
        "asset.version_created",
        asset=asset,
        version=new_number,
        now=now,
        data={"restored_from": number},
    )
    _after_new_version(session, ctx, asset, version)
    return version


def update_metadata(
    session: Session,
    *,
    ctx: Context,
    asset: Asset,
    patch: AssetPatch,
    actor: Principal,
    if_match: str | None,
) -> Asset:
    check_if_match(asset, if_match)
    fields = patch.model_dump(exclude_unset=True)
    if not fields:
        return asset
    before = snapshot(asset, campaign_ids_of(session, asset.id))
    for name, value in fields.items():
        if name in {"title", "description"}:
            value = (value or "").strip()
        if name == "tags" and value is None:
            value = []
        if name == "terms" and value is None:
            value = {}
        setattr(asset, name, value)
    renew_rights(asset, before=before, now=ctx.now())
    now = ctx.now()
    campaign_ids = campaign_ids_of(session, asset.id)
    current = get_version(session, asset, asset.current_version)
    assessment = assess_version(
        ctx.governance.pack, version=current, fields=fields_of(asset, campaign_ids), now=now
    ).enforce()
    asset.terms = assessment.terms
    after = snapshot(asset, campaign_ids)
    changes = diff(before, after)
    if not changes:
        return asset
    store_report(current, assessment.report)
    session.add(current)
    bump_revision(session, asset, now=now)
    record(
        session,
        actor=actor,
        action="asset.updated",
        asset_id=asset.id,
        version=asset.current_version,
        changes=changes,
        now=now,
    )
    emit(session, "asset.updated", asset=asset, version=asset.current_version, now=now)
    return asset


def archive_asset(session: Session, *, ctx: Context, asset: Asset, actor: Principal) -> Asset:
    if asset.status == AssetStatus.archived:
        return asset
    now = ctx.now()
    before = asset.status
    asset.status = AssetStatus.archived
    bump_revision(session, asset, now=now)
    record(
        session,
        actor=actor,
        action="asset.archived",
        asset_id=asset.id,
        version=asset.current_version,
        changes={"status": {"before": before.value, "after": asset.status.value}},
        now=now,
    )
    emit(session, "asset.archived", asset=asset, version=asset.current_version, now=now)
    return asset


def _apply_upload_metadata(
    session: Session, ctx: Context, asset: Asset, metadata: AssetMetadataIn, actor: Principal
) -> None:
    """Metadata sent with a new version replaces the fields it sets."""
    sent = metadata.model_dump(exclude_unset=True)
    for name in ("title", "description", "tags", "terms", "rights_expire_at"):
        if name in sent:
            value = sent[name]
            setattr(asset, name, value.strip() if isinstance(value, str) else value)
    if "campaign_ids" in sent:
        now = ctx.now()
        ids = resolve_campaigns(
            session, metadata.campaign_ids, auto_create=ctx.settings.campaign_auto_create, now=now
        )
        current = set(campaign_ids_of(session, asset.id))
        for cid in ids:
            if cid not in current:
                session.add(
                    AssetCampaign(
                        asset_id=asset.id, campaign_id=cid, added_by=actor.id, added_at=now
                    )
                )


def bump_revision(
    session: Session, asset: Asset, *, now: Any, current_version: int | None = None
) -> None:
    """Advance the revision with a compare-and-set so two concurrent writers cannot both win."""
    values: dict[str, Any] = {"revision": asset.revision + 1, "updated_at": now}
    if current_version is not None:
        values["current_version"] = current_version
    result = session.execute(
        sa.update(Asset)
        .where(col(Asset.id) == asset.id, col(Asset.revision) == asset.revision)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            "the asset was changed concurrently; reload and retry", code="concurrent_update"
        )
    # The row already holds these values: record them as committed so flush does not repeat them.
    for name, value in values.items():
        set_committed_value(asset, name, value)


def snapshot(asset: Asset, campaign_ids: Sequence[str]) -> dict[str, Any]:
    return {
        "title": asset.title,
        "description": asset.description,
        "tags": list(asset.tags),
        "terms": {k: list(v) for k, v in asset.terms.items()},
        "campaign_ids": sorted(campaign_ids),
        "rights_expire_at": asset.rights_expire_at.isoformat() if asset.rights_expire_at else None,
        "status": asset.status.value,
    }


def campaign_ids_of(session: Session, asset_id: uuid.UUID) -> list[str]:
    return sorted(
        session.exec(select(AssetCampaign.campaign_id).where(AssetCampaign.asset_id == asset_id))
    )


def campaign_ids_for(
    session: Session, asset_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    result: dict[uuid.UUID, list[str]] = {aid: [] for aid in asset_ids}
    if not asset_ids:
        return result
    rows = session.exec(
        select(AssetCampaign.asset_id, AssetCampaign.campaign_id)
        .where(col(AssetCampaign.asset_id).in_(asset_ids))
        .order_by(col(AssetCampaign.campaign_id))
    )
    for asset_id, campaign_id in rows:
        result[asset_id].append(campaign_id)
    return result


def get_asset(session: Session, asset_id: uuid.UUID) -> Asset:
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise NotFound(f"no asset {asset_id}", code="asset_not_found")
    return asset


def get_version(session: Session, asset: Asset, number: int) -> AssetVersion:
    version = session.exec(
        select(AssetVersion).where(AssetVersion.asset_id == asset.id, AssetVersion.number == number)
    ).first()
    if version is None:
        raise NotFound(f"asset {asset.id} has no version {number}", code="version_not_found")
    return version


def list_versions(session: Session, asset: Asset) -> list[AssetVersion]:
    return list(
        session.exec(
            select(AssetVersion)
            .where(AssetVersion.asset_id == asset.id)
            .order_by(col(AssetVersion.number).desc())
        )
    )


def current_versions(
    session: Session, assets: Sequence[Asset], *, published: bool = False
) -> dict[uuid.UUID, AssetVersion]:
    """Each asset's current version (or, with `published`, its published one) in one query."""
    pairs = [(a.id, a.published_version if published else a.current_version) for a in assets]
    pairs = [(asset_id, number) for asset_id, number in pairs if number]
    if not pairs:
        return {}
    rows = session.exec(
        select(AssetVersion).where(
            sa.tuple_(col(AssetVersion.asset_id), col(AssetVersion.number)).in_(pairs)
        )
    )
    return {v.asset_id: v for v in rows}


def _title_from_filename(filename: str) -> str:
    stem = filename.rsplit(".", 1)[0]
    return " ".join(stem.replace("_", " ").replace("-", " ").split())[:500]
