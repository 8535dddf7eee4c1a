"""Assets and their versions: upload, new version, restore, metadata edits, archive.

Write order for anything that adds bytes: the blob first, then one transaction with the rows,
the audit event and the outbox jobs. A failure after the blob write leaves only an orphan blob
(which `dam storage check --repair` removes), never a row without its blob.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from dam.assets.campaign_ids import resolve_campaigns
from dam.assets.metadata import (
    Metadata,
    live_after_edit,
    publish,
    reviewed_changes,
    snapshot,
)
from dam.assets.schemas import AssetMetadataIn, AssetPatch, clean_tags
from dam.assets.upload import ReceivedUpload
from dam.audit.service import diff, record
from dam.bounds import JsonTooDeep, loads_json
from dam.context import Context
from dam.db import insert_new
from dam.errors import Conflict, Invalid, NotFound, PayloadTooLarge, PreconditionFailed
from dam.events import emit
from dam.governance.pack import GovernancePack
from dam.governance.prefill import embedded_for, prefill
from dam.governance.schemas import PrefillOut, ValidationOut
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
from dam.media.embedded import EmbeddedMetadata, read_embedded
from dam.models import Asset, AssetCampaign, AssetStatus, AssetVersion, BlobOwner, ReviewState
from dam.principal import Principal
from dam.storage import blob_key

# The outbox job that makes a new version's renditions (dam.assets.jobs.make_renditions).
RENDITIONS_JOB = "renditions"

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
    embedded: EmbeddedMetadata


@dataclass
class UploadFields:
    """The metadata an upload is judged and stored with, and what the file filled in."""

    fields: Fields
    prefilled: dict[str, str]  # field -> the embedded key it was read from


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
    if raw is None or not raw.strip():
        return AssetMetadataIn()
    try:
        data = loads_json(raw)
    except JsonTooDeep as exc:
        raise Invalid(f"metadata is {exc}", code="invalid_metadata") from exc
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
    limit = ctx.settings.max_upload_bytes_for(str(media.kind))
    if upload.size > limit:
        raise PayloadTooLarge(
            f"the file exceeds the upload limit of {limit} bytes for a {media.kind} file",
            code="file_too_large",
            limit_bytes=limit,
        )
    filename = safe_filename(upload.filename, fallback_ext=EXTENSIONS.get(media.format, "bin"))
    # Never fails the upload: what could not be read is listed in the block's problems.
    embedded = read_embedded(upload.path, fmt=media.format)
    return Inspected(upload=upload, media=media, filename=filename, embedded=embedded)


def check_extra_fields(pack: GovernancePack, extra: Mapping[str, Any]) -> None:
    """Only the governed fields of the pack's metadata.yaml may be sent as `extra`."""
    unknown = sorted(set(extra) - set(pack.metadata.extra_fields))
    if unknown:
        raise Invalid(
            f"unknown extra fields: {', '.join(unknown)}; the pack governs "
            f"{', '.join(pack.metadata.extra_fields) or 'none'}",
            code="invalid_metadata",
            fields=unknown,
        )


def _upload_fields(
    pack: GovernancePack, inspected: Inspected, explicit: Metadata, campaign_ids: list[str]
) -> UploadFields:
    """`explicit` completed from the file's embedded metadata where it leaves a field empty
    (the pack's metadata.yaml says which embedded field fills which); a title that is still
    empty comes from the file name."""
    check_extra_fields(pack, explicit.extra)
    given = {**explicit.extra, **{k: v for k, v in explicit.to_json().items() if k != "extra"}}
    given["rights_expire_at"] = explicit.rights_expire_at
    filled, prefilled = prefill(pack, inspected.embedded, given)
    extra = {name: filled[name] for name in pack.metadata.extra_fields if filled.get(name)}
    return UploadFields(
        fields=Fields(
            title=(filled.get("title") or "").strip() or _title_from_filename(inspected.filename),
            description=(filled.get("description") or "").strip(),
            tags=clean_tags(list(filled.get("tags") or []), strict=False),
            terms=filled.get("terms") or {},
            campaign_ids=campaign_ids,
            rights_expire_at=filled.get("rights_expire_at"),
            extra=extra,
        ),
        prefilled=prefilled,
    )


def _assess_upload(ctx: Context, inspected: Inspected, fields: Fields) -> Assessment:
    return assess(
        ctx.governance.pack,
        media=inspected.media,
        size=inspected.upload.size,
        filename=inspected.filename,
        fields=fields,
        now=ctx.now(),
        embedded=inspected.embedded.embedded,
    )


def _metadata_of(fields: Fields, assessment: Assessment) -> Metadata:
    return Metadata(
        title=fields.title,
        description=fields.description,
        tags=tuple(fields.tags),
        terms=assessment.terms,
        rights_expire_at=fields.rights_expire_at,
        extra=dict(fields.extra),
    )


def preview_compliance(
    session: Session, *, ctx: Context, upload: ReceivedUpload, principal: Principal
) -> ValidationOut:
    """The validate endpoint: everything an upload checks, nothing stored. Unknown terms and
    bad files still raise (422/415); rule violations are returned, not raised. The metadata
    the upload would get, pre-filled from the file, is returned with where each value came
    from, so a designer sees it before submitting."""
    metadata = parse_metadata(upload.fields.get("metadata"))
    inspected = inspect_upload(ctx, upload)
    campaign_ids = [c.strip().upper() for c in metadata.campaign_ids]
    pack = ctx.governance.pack
    upload_fields = _upload_fields(pack, inspected, _explicit(metadata), campaign_ids)
    assessment = _assess_upload(ctx, inspected, upload_fields.fields)
    duplicate = find_by_sha256(session, upload.sha256)
    width, height = inspected.media.display_size or (None, None)
    return ValidationOut(
        compliance=assessment.report.to_json(),
        terms=assessment.terms,
        mime_type=inspected.media.mime_type,
        format=inspected.media.format,
        kind=str(inspected.media.kind),
        width=width,
        height=height,
        filename=inspected.filename,
        size=upload.size,
        duplicate_of=str(duplicate.asset_id) if duplicate else None,
        metadata=_metadata_of(upload_fields.fields, assessment).to_json(),
        prefilled=upload_fields.prefilled,
        embedded=embedded_for(principal.role.value, pack, inspected.embedded),
    )


def preview_prefill(*, ctx: Context, upload: ReceivedUpload, principal: Principal) -> PrefillOut:
    """The prefill endpoint: what the file's embedded metadata would fill in, for the upload
    form to show as soon as a file is picked, before the designer has chosen any term (which
    validate needs). Explicit values in `metadata` win, as on upload; bad files still raise."""
    metadata = parse_metadata(upload.fields.get("metadata"))
    inspected = inspect_upload(ctx, upload)
    pack = ctx.governance.pack
    filled = _upload_fields(pack, inspected, _explicit(metadata), [])
    fields = filled.fields
    width, height = inspected.media.display_size or (None, None)
    return PrefillOut(
        filename=inspected.filename,
        mime_type=inspected.media.mime_type,
        kind=str(inspected.media.kind),
        width=width,
        height=height,
        metadata=Metadata(
            title=fields.title,
            description=fields.description,
            tags=tuple(fields.tags),
            terms={k: list(v) for k, v in fields.terms.items()},
            rights_expire_at=fields.rights_expire_at,
            extra=dict(fields.extra),
        ).to_json(),
        prefilled=filled.prefilled,
        embedded=embedded_for(principal.role.value, pack, inspected.embedded),
        phash=inspected.media.phash,
    )


def _explicit(metadata: AssetMetadataIn) -> Metadata:
    """What the request itself says (before the file fills the gaps)."""
    return Metadata().with_changes(metadata.model_dump(exclude_unset=True))


def find_by_sha256(session: Session, sha256: str) -> AssetVersion | None:
    return session.exec(
        select(AssetVersion)
        .where(AssetVersion.sha256 == sha256)
        .order_by(col(AssetVersion.created_at))
    ).first()


def _refuse_duplicate(session: Session, sha256: str) -> None:
    existing = find_by_sha256(session, sha256)
    if existing is not None:
        raise _duplicate(existing.asset_id, existing.number)


def _duplicate(asset_id: uuid.UUID, number: int) -> Conflict:
    return Conflict(
        f"these bytes are already stored as version {number} of asset {asset_id}",
        code="duplicate",
        existing_asset_id=str(asset_id),
        existing_version=number,
    )


def _take_bytes(session: Session, version: AssetVersion) -> None:
    """Claim the version's bytes for its asset; 409 when another upload got them first (the
    look-up in `_refuse_duplicate` cannot see an upload that has not committed yet)."""
    owner = {"sha256": version.sha256, "asset_id": version.asset_id, "version": version.number}
    if not insert_new(session, BlobOwner, owner, unique=("sha256",)):
        taken = session.get(BlobOwner, version.sha256)
        assert taken is not None  # the insert conflicted with this committed row
        raise _duplicate(taken.asset_id, taken.version)


def _store_blob(ctx: Context, inspected: Inspected) -> str:
    key = blob_key(inspected.upload.sha256)
    if not ctx.store.exists(key):
        # A temp file of the upload's own is renamed into place by the filesystem store.
        ctx.store.put_file(
            key,
            inspected.upload.path,
            content_type=inspected.media.mime_type,
            move=inspected.upload.owned,
        )
    return key


def _new_version(
    asset: Asset,
    inspected: Inspected,
    *,
    number: int,
    key: str,
    actor: Principal,
    ctx: Context,
    prefilled: dict[str, str],
) -> AssetVersion:
    media = inspected.media
    # Width and height as people see the file (EXIF orientation 5-8 swap the sides): what
    # rules, facets and feeds report; the stored raw size stays in `media`.
    width, height = media.display_size or (None, None)
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
        width=width,
        height=height,
        color_mode=media.color_mode,
        icc_profile=media.icc_profile,
        phash=media.phash,
        media=media.to_json(),
        embedded={**inspected.embedded.to_json(), "prefilled": prefilled},
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
        enqueue(session, RENDITIONS_JOB, {"version_id": str(version.id)}, now=ctx.now())


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
    upload_fields = _upload_fields(
        ctx.governance.pack, inspected, _explicit(metadata), campaign_ids
    )
    assessment = _assess_upload(ctx, inspected, upload_fields.fields).enforce()
    key = _store_blob(ctx, inspected)
    working = _metadata_of(upload_fields.fields, assessment)
    asset = Asset(current_version=1, created_by=actor.id, created_at=now, updated_at=now)
    working.write_to(asset)  # nothing is published yet: the asset row follows the draft
    session.add(asset)
    session.flush()
    version = _new_version(
        asset, inspected, number=1, key=key, actor=actor, ctx=ctx, prefilled=upload_fields.prefilled
    )
    working.write_to(version)
    store_report(version, assessment.report)
    _take_bytes(session, version)
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
        changes={
            "after": snapshot(working, campaign_ids, status=asset.status),
            "sha256": version.sha256,
        },
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
    """Version n+1 with the uploaded file and the current version's metadata, changed by the
    fields `metadata` sets. It is a draft: the published view does not change (but for what
    the pack exempts from review and changes that only restrict)."""
    check_if_match(asset, if_match)
    inspected = inspect_upload(ctx, upload)
    _refuse_duplicate(session, upload.sha256)
    now = ctx.now()
    current = get_version(session, asset, asset.current_version)
    before = Metadata.of(current)
    campaigns_before = campaign_ids_of(session, asset.id)
    working = before
    if metadata is not None:
        sent = metadata.model_dump(exclude_unset=True)
        working = before.with_changes(sent)
        if "campaign_ids" in sent:
            _link_campaigns(session, ctx, asset, metadata.campaign_ids, actor)
    campaign_ids = campaign_ids_of(session, asset.id)
    # The new file fills what the working metadata leaves empty, like a first upload's.
    upload_fields = _upload_fields(ctx.governance.pack, inspected, working, campaign_ids)
    assessment = _assess_upload(ctx, inspected, upload_fields.fields).enforce()
    working = _metadata_of(upload_fields.fields, assessment)
    key = _store_blob(ctx, inspected)
    number = asset.current_version + 1
    version = _new_version(
        asset,
        inspected,
        number=number,
        key=key,
        actor=actor,
        ctx=ctx,
        prefilled=upload_fields.prefilled,
    )
    working.write_to(version)
    store_report(version, assessment.report)
    _take_bytes(session, version)
    bump_revision(session, asset, current_version=number, now=now)
    session.add(version)
    session.flush()
    record(
        session,
        actor=actor,
        action="asset.version_created",
        asset_id=asset.id,
        version=number,
        changes={
            **diff(
                snapshot(before, campaigns_before, status=asset.status),
                snapshot(working, campaign_ids, status=asset.status),
            ),
            "sha256": version.sha256,
            **_withdraw_superseded(session, asset, version),
        },
        now=now,
    )
    _follow_working_view(session, ctx, asset, before=before, after=working, actor=actor)
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
    """A new version n+1 made from version `number`'s blob with the current version's
    metadata; no bytes are uploaded or copied."""
    check_if_match(asset, if_match)
    source = get_version(session, asset, number)
    if not ctx.store.exists(source.blob_key):
        raise Conflict(
            f"version {number}'s file is missing from storage; run `dam storage check`",
            code="blob_missing",
        )
    now = ctx.now()
    current = get_version(session, asset, asset.current_version)
    working = Metadata.of(current)
    assessment = assess_version(
        ctx.governance.pack,
        version=source,
        fields=fields_of(working, campaign_ids_of(session, asset.id)),
        now=now,
    ).enforce()
    working = replace(working, terms=assessment.terms)
    new_number = asset.current_version + 1
    version = _copy_version(source, number=new_number, actor=actor, now=now)
    version.restored_from = number
    working.write_to(version)
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


def _copy_version(
    source: AssetVersion, *, number: int, actor: Principal, now: datetime
) -> AssetVersion:
    """A new draft version with `source`'s file and everything read from it."""
    return AssetVersion(
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
                "edited_from",
                "compliance",
                "compliance_status",
            }
        ),
        number=number,
        created_by=actor.id,
        created_at=now,
    )


def update_metadata(
    session: Session,
    *,
    ctx: Context,
    asset: Asset,
    patch: AssetPatch,
    actor: Principal,
    if_match: str | None,
) -> Asset:
    """Edit the working view. A draft, rejected or in-review version is edited in place (one
    in review stays there: the reviewer judges what it carries when they decide, and the audit
    trail shows the edit); an approved one is never changed by what needs review: the edit
    becomes version n+1 with the same file, a draft for the same submit -> approve path. What
    the pack exempts from review and an earlier rights date reach the published view at once."""
    check_if_match(asset, if_match)
    sent = patch.model_dump(exclude_unset=True)
    if not sent:
        return asset
    pack = ctx.governance.pack
    now = ctx.now()
    current = get_version(session, asset, asset.current_version)
    before = Metadata.of(current)
    campaign_ids = campaign_ids_of(session, asset.id)
    working = before.with_changes(sent)
    assessment = assess_version(
        pack, version=current, fields=fields_of(working, campaign_ids), now=now
    ).enforce()
    working = replace(working, terms=assessment.terms)
    changes = diff(
        snapshot(before, campaign_ids, status=asset.status),
        snapshot(working, campaign_ids, status=asset.status),
    )
    if not changes:
        return asset
    pending = reviewed_changes(pack, before, working)
    extra: dict[str, Any] = {}
    if current.review_state == ReviewState.approved and pending:
        target = _copy_version(current, number=asset.current_version + 1, actor=actor, now=now)
        target.edited_from = current.number
        bump_revision(session, asset, current_version=target.number, now=now)
    else:
        target = current
        bump_revision(session, asset, now=now)
    working.write_to(target)
    store_report(target, assessment.report)
    session.add(target)
    session.flush()
    if pending:
        extra["pending_review"] = pending
    record(
        session,
        actor=actor,
        action="asset.updated",
        asset_id=asset.id,
        version=target.number,
        changes={**changes, **extra},
        now=now,
    )
    _follow_working_view(session, ctx, asset, before=before, after=working, actor=actor)
    emit(
        session,
        "asset.updated",
        asset=asset,
        version=target.number,
        now=now,
        data={"pending_review": pending} if pending else None,
    )
    return asset


def _follow_working_view(
    session: Session,
    ctx: Context,
    asset: Asset,
    *,
    before: Metadata,
    after: Metadata,
    actor: Principal,
) -> None:
    """Carry a working-view edit into the published view as far as it may go without review
    (all of it while nothing is published), with a published audit event when it changed."""
    live = Metadata.of(asset)
    if asset.published_version is None:
        target = after
    else:
        target = live_after_edit(ctx.governance.pack, live, before, after)
    if target == live:
        return
    now = ctx.now()
    status_before = asset.status
    publish(asset, target, now=now)
    session.add(asset)
    if asset.published_version is None:
        return  # nobody sees the published view of an unpublished asset: no published event
    record(
        session,
        actor=actor,
        action="asset.updated",
        asset_id=asset.id,
        version=asset.published_version,
        changes=diff(
            snapshot(live, (), status=status_before), snapshot(target, (), status=asset.status)
        ),
        now=now,
        published=True,
    )


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
        published=True,
    )
    emit(session, "asset.archived", asset=asset, version=asset.current_version, now=now)
    return asset


def unarchive_asset(session: Session, *, ctx: Context, asset: Asset, actor: Principal) -> Asset:
    """Back from the archive: active again, or `expired` when its rights ended meanwhile (the
    expiry sweep would say the same). Marketers and feeds see it again once it is active."""
    if asset.status != AssetStatus.archived:
        return asset
    now = ctx.now()
    ended = asset.rights_expire_at is not None and asset.rights_expire_at <= now
    asset.status = AssetStatus.expired if ended else AssetStatus.active
    bump_revision(session, asset, now=now)
    record(
        session,
        actor=actor,
        action="asset.unarchived",
        asset_id=asset.id,
        version=asset.current_version,
        changes={"status": {"before": AssetStatus.archived.value, "after": asset.status.value}},
        now=now,
        published=True,
    )
    emit(session, "asset.unarchived", asset=asset, version=asset.current_version, now=now)
    return asset


def _link_campaigns(
    session: Session, ctx: Context, asset: Asset, raw_ids: list[str], actor: Principal
) -> None:
    """Campaign ids sent with a new version are added to the asset's (campaign tags are not
    reviewed metadata: marketers tag approved assets)."""
    now = ctx.now()
    ids = resolve_campaigns(
        session, raw_ids, auto_create=ctx.settings.campaign_auto_create, now=now
    )
    current = set(campaign_ids_of(session, asset.id))
    for cid in ids:
        if cid not in current:
            session.add(
                AssetCampaign(asset_id=asset.id, campaign_id=cid, added_by=actor.id, added_at=now)
            )
    session.flush()


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
