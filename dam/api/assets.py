from __future__ import annotations

import hashlib
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlmodel import Session, col, select

from dam.api import idempotency
from dam.api.content import blob_response, derivative_response, security_headers
from dam.api.deps import AssetDep, ContextDep, PrincipalDep, SessionDep, Uploader
from dam.api.middleware import BodyKind, body_kind
from dam.api.openapi import UPLOAD_BODY, binary, errors
from dam.assets import delivery, derivatives, service
from dam.assets.access import visible_version
from dam.assets.previews import missing_rendition
from dam.assets.previews import state as previews_state
from dam.assets.schemas import (
    AssetPatch,
    DerivativeLinkOut,
    DerivativeListOut,
    FocalPointIn,
    FocalPointOut,
    VersionDetailOut,
    VersionOut,
)
from dam.assets.upload import ReceivedUpload, receive_upload
from dam.bounds import VersionNumber
from dam.bulk.schemas import BulkIn, BulkOut
from dam.bulk.service import run_bulk
from dam.context import Context
from dam.errors import Invalid, NotFound
from dam.governance.derivatives import Preset
from dam.media.previews import is_rendition_name, rendition_mime
from dam.models import Asset, AssetStatus, AssetVersion
from dam.principal import Principal
from dam.views.assets import (
    asset_for,
    assets_for,
    possible_duplicates,
    sees_location,
    version_detail,
    version_out,
)
from dam.views.schemas import AssetOut, AssetPage

router = APIRouter(prefix="/api/v1", tags=["assets"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
IfMatch = Annotated[str | None, Header(alias="If-Match")]


async def read_upload(request: Request, ctx: Context) -> ReceivedUpload:
    return await receive_upload(
        content_type=request.headers.get("content-type"),
        content_length=request.headers.get("content-length"),
        stream=request.stream(),
        tmp_dir=ctx.settings.data_dir / "tmp",
        max_bytes=ctx.settings.max_upload_bytes,
        max_field_bytes=ctx.settings.metadata_max_bytes,
    )


def _with_etag(asset: Asset, body: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(
        jsonable_encoder(body), status_code=status_code, headers={"ETag": service.etag(asset)}
    )


def _idempotent_post(
    session: Session,
    *,
    ctx: Context,
    request: Request,
    actor: Principal,
    key: str | None,
    upload: ReceivedUpload,
    action: Any,
) -> JSONResponse:
    """Replays a stored response for a retried key; otherwise runs `action` and stores its
    response in the same transaction as the change."""
    fingerprint = idempotency.request_fingerprint(
        request.method,
        request.url.path,
        upload.sha256,
        upload.filename,
        upload.fields.get("metadata"),
    )
    stored = idempotency.claim(
        session, principal=actor, key=key, fingerprint=fingerprint, now=ctx.now()
    )
    if stored is not None:
        return JSONResponse(
            stored.response, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"}
        )
    asset, body = action()
    encoded = jsonable_encoder(body)
    idempotency.remember(session, principal=actor, key=key, status_code=201, body=encoded)
    return JSONResponse(encoded, status_code=201, headers={"ETag": service.etag(asset)})


async def _respond_to_upload(
    session: Session,
    *,
    ctx: Context,
    request: Request,
    actor: Principal,
    key: str | None,
    upload: ReceivedUpload,
    action: Any,
) -> JSONResponse:
    """Runs the (blocking) upload work off the event loop; the temp file goes either way."""
    try:
        return await run_in_threadpool(
            _idempotent_post,
            session,
            ctx=ctx,
            request=request,
            actor=actor,
            key=key,
            upload=upload,
            action=action,
        )
    finally:
        upload.discard()


@router.post(
    "/assets",
    status_code=201,
    response_model=AssetOut,
    openapi_extra=UPLOAD_BODY,
    responses=errors(409, 415),
)
@body_kind(BodyKind.upload)
async def upload_asset(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    actor: Uploader,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Upload a new asset: multipart `file` plus optional `metadata` (a JSON string)."""
    upload = await read_upload(request, ctx)

    def create() -> tuple[Asset, AssetOut]:
        metadata = service.parse_metadata(upload.fields.get("metadata"))
        asset = service.create_asset(
            session, ctx=ctx, upload=upload, metadata=metadata, actor=actor
        )
        out = asset_for(session, asset, principal=actor, pack=ctx.governance.pack)
        out.possible_duplicates = possible_duplicates(session, asset=asset)
        return asset, out

    return await _respond_to_upload(
        session,
        ctx=ctx,
        request=request,
        actor=actor,
        key=idempotency_key,
        upload=upload,
        action=create,
    )


@router.post("/assets/bulk", response_model=BulkOut)
def bulk_assets(
    data: BulkIn, ctx: ContextDep, session: SessionDep, principal: PrincipalDep
) -> BulkOut:
    """Apply `actions` (edit metadata: set fields, add or remove terms and tags; tag or untag
    campaigns; submit; approve or reject; archive) to each of `asset_ids`. Each asset is
    checked and changed on its own, exactly as the single-asset routes would (visibility,
    role, governance, review rules): the answer lists a result per asset, refusals with the
    error the single route would have given; one refusal never undoes another asset's change."""
    return run_bulk(
        session, ctx=ctx, asset_ids=data.asset_ids, actions=data.actions, actor=principal
    )


@router.get("/assets", response_model=AssetPage)
def list_assets(
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 25,
    status: AssetStatus | None = None,
    sha256: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
) -> AssetPage:
    """`sha256` finds the asset holding a file with those bytes (any version): how a client
    resuming an import learns what is already stored."""
    query = select(Asset)
    if sha256 is not None:
        query = query.where(
            col(Asset.id).in_(select(AssetVersion.asset_id).where(AssetVersion.sha256 == sha256))
        )
    if principal.sees_only_published:
        query = query.where(
            col(Asset.status) == AssetStatus.active, col(Asset.published_version).is_not(None)
        )
    if status is not None:
        query = query.where(col(Asset.status) == status)
    total = session.exec(select(sa.func.count()).select_from(query.subquery())).one()
    rows = list(
        session.exec(
            query.order_by(col(Asset.created_at).desc(), col(Asset.id))
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
    )
    items = assets_for(session, rows, principal=principal, pack=ctx.governance.pack)
    return AssetPage(total=total, page=page, page_size=page_size, items=items)


@router.get("/assets/{asset_id}", response_model=AssetOut)
def get_asset(
    asset: AssetDep, ctx: ContextDep, session: SessionDep, principal: PrincipalDep
) -> JSONResponse:
    out = asset_for(session, asset, principal=principal, pack=ctx.governance.pack)
    return _with_etag(asset, out)


@router.patch("/assets/{asset_id}", response_model=AssetOut, responses=errors(409, 412))
def patch_asset(
    asset: AssetDep,
    patch: AssetPatch,
    ctx: ContextDep,
    session: SessionDep,
    actor: Uploader,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Edit metadata. Send `If-Match` with the ETag from GET to refuse stale edits (412)."""
    service.update_metadata(
        session, ctx=ctx, asset=asset, patch=patch, actor=actor, if_match=if_match
    )
    return _with_etag(asset, asset_for(session, asset, principal=actor, pack=ctx.governance.pack))


@router.delete("/assets/{asset_id}", response_model=AssetOut, responses=errors(409))
def archive_asset(
    asset: AssetDep, ctx: ContextDep, session: SessionDep, actor: Uploader
) -> JSONResponse:
    """Archive: the asset leaves every marketer and automation view; nothing is deleted."""
    service.archive_asset(session, ctx=ctx, asset=asset, actor=actor)
    return _with_etag(asset, asset_for(session, asset, principal=actor, pack=ctx.governance.pack))


@router.post("/assets/{asset_id}/unarchive", response_model=AssetOut)
def unarchive_asset(
    asset: AssetDep, ctx: ContextDep, session: SessionDep, actor: Uploader
) -> JSONResponse:
    """Undo an archive: the asset is active again (or `expired`, when its rights ended
    meanwhile); an asset that is not archived is returned unchanged."""
    service.unarchive_asset(session, ctx=ctx, asset=asset, actor=actor)
    return _with_etag(asset, asset_for(session, asset, principal=actor, pack=ctx.governance.pack))


@router.post(
    "/assets/{asset_id}/versions",
    status_code=201,
    response_model=AssetOut,
    openapi_extra=UPLOAD_BODY,
    responses=errors(409, 412, 415),
)
@body_kind(BodyKind.upload)
async def upload_version(
    request: Request,
    asset: AssetDep,
    ctx: ContextDep,
    session: SessionDep,
    actor: Uploader,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Upload a new version (number n+1); optional `metadata` replaces the fields it sets."""
    upload = await read_upload(request, ctx)

    def create() -> tuple[Asset, AssetOut]:
        raw = upload.fields.get("metadata")
        metadata = service.parse_metadata(raw) if raw else None
        service.add_version(
            session,
            ctx=ctx,
            asset=asset,
            upload=upload,
            metadata=metadata,
            actor=actor,
            if_match=if_match,
        )
        return asset, asset_for(session, asset, principal=actor, pack=ctx.governance.pack)

    return await _respond_to_upload(
        session,
        ctx=ctx,
        request=request,
        actor=actor,
        key=idempotency_key,
        upload=upload,
        action=create,
    )


@router.get("/assets/{asset_id}/versions", response_model=list[VersionDetailOut | VersionOut])
def list_versions(
    asset: AssetDep, ctx: ContextDep, session: SessionDep, principal: PrincipalDep
) -> list[VersionDetailOut | VersionOut]:
    """Newest first. Uploaders and reviewers get each version with the metadata it carries;
    marketers and automation only the published version."""
    versions = service.list_versions(session, asset)
    if principal.sees_only_published:
        return [version_out(v) for v in versions if v.number == asset.published_version]
    location = sees_location(principal, ctx.governance.pack)
    return [version_detail(v, location=location) for v in versions]


@router.post(
    "/assets/{asset_id}/versions/{number}/restore",
    status_code=201,
    response_model=AssetOut,
    responses=errors(409, 412),
)
def restore_version(
    asset: AssetDep,
    number: Annotated[VersionNumber, Path()],
    ctx: ContextDep,
    session: SessionDep,
    actor: Uploader,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Make version n+1 from version `number`'s file, without uploading it again."""
    service.restore_version(
        session, ctx=ctx, asset=asset, number=number, actor=actor, if_match=if_match
    )
    return _with_etag(
        asset, asset_for(session, asset, principal=actor, pack=ctx.governance.pack), status_code=201
    )


@router.get("/assets/{asset_id}/content", responses=binary(206, 307, 416))
def download(
    request: Request,
    asset: AssetDep,
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    version: Annotated[VersionNumber | None, Query()] = None,
) -> Response:
    """The file's bytes, streamed, with Range support (or a redirect to a presigned S3 URL).
    Uploaders and reviewers get the original; marketers and automation a delivered copy with
    the governed metadata written in and location stripped (dam.assets.delivery). Headers name
    the SHA-256 and size of the bytes sent and of the original."""
    row = service.get_version(session, asset, visible_version(principal, asset, version))
    sent = delivery.served(
        session, ctx=ctx, asset=asset, version=row, audience=principal.role.value
    )
    return blob_response(
        ctx, sent, range_header=request.headers.get("range"), extra_headers=sent.headers()
    )


@router.get("/assets/{asset_id}/renditions/{kind}", responses=binary(media="image/webp"))
def rendition(
    asset: AssetDep,
    kind: str,
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    version: Annotated[VersionNumber | None, Query()] = None,
) -> Response:
    """WebP thumbnail (256 px) or preview (1024 px), PDF page thumbnails (`page-N`, 256 px) or a
    video's muted hover clip (`clip`, MP4), made in the background after upload."""
    if not is_rendition_name(kind):
        raise NotFound(
            f"no rendition {kind!r}; renditions are thumb, preview, page-N and clip",
            code="rendition_not_found",
        )
    row = service.get_version(session, asset, visible_version(principal, asset, version))
    key = row.renditions.get(kind)
    if key is None:
        raise missing_rendition(ctx.settings, row, kind)
    media_type = rendition_mime(kind)
    data = b"".join(ctx.store.open(key))
    return Response(
        data,
        media_type=media_type,
        headers={
            # A placeholder is replaced once a rebuild draws the file: do not cache it for a day.
            "Cache-Control": "private, max-age=86400"
            if kind not in previews_state(row).get("placeholders", [])
            else "private, no-cache",
            "ETag": f'"{row.sha256[:16]}-{kind}"',
            **security_headers(media_type),
            # Like every response that serves bytes: what was sent, beside the original.
            "X-DAM-SHA256": hashlib.sha256(data).hexdigest(),
            "X-DAM-Size": str(len(data)),
            "X-DAM-Original-SHA256": row.sha256,
            "X-DAM-Original-Size": str(row.size),
        },
    )


# --- derivatives (dam.assets.derivatives) -------------------------------------------------------

IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]
Accept = Annotated[str | None, Header(alias="Accept")]
FormatName = Annotated[str | None, Query(alias="format", pattern="^(jpeg|png|webp|avif|auto)$")]
Side = Annotated[int | None, Query(ge=1, le=100_000)]
LinkTtl = Annotated[int | None, Query(ge=60, le=30 * 86400)]
# Served as an attachment (saved under its name) instead of inline.
AsDownload = Annotated[bool, Query(alias="download")]


def _preset_of(ctx: Context, preset_id: str) -> Preset:
    preset = ctx.governance.pack.preset(preset_id)
    if preset is None:
        known = ", ".join(p.id for p in ctx.governance.pack.presets) or "none"
        raise NotFound(
            f"no derivative preset {preset_id!r} in the pack (presets: {known})",
            code="preset_not_found",
        )
    return preset


def _format_override(ctx: Context, fmt: str | None) -> str | None:
    if fmt is not None and fmt not in ctx.governance.pack.adhoc.formats:
        allowed = ", ".join(sorted(ctx.governance.pack.adhoc.formats))
        raise Invalid(
            f"format {fmt!r} is not one the pack allows (allowed: {allowed})",
            code="transform_out_of_limits",
        )
    return fmt


@router.get("/assets/{asset_id}/derivatives", response_model=DerivativeListOut)
def list_derivatives(
    request: Request,
    asset: AssetDep,
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    version: Annotated[VersionNumber | None, Query()] = None,
) -> DerivativeListOut:
    """The presets that serve this asset (by its channel terms and its campaigns' channels),
    each with its URL and, once rendered, the size and digest of what a client without
    `Accept` gets. Marketers and automation see the published version only."""
    row = service.get_version(session, asset, visible_version(principal, asset, version))
    base = str(request.base_url).rstrip("/")
    return DerivativeListOut(
        asset_id=asset.id,
        version=row.number,
        derivatives=derivatives.listing(session, ctx=ctx, asset=asset, version=row, base=base),
    )


@router.get(
    "/assets/{asset_id}/derivatives/{preset_id}", responses=binary(304, 409, media="image/*")
)
def get_derivative(
    asset: AssetDep,
    preset_id: Annotated[str, Path(max_length=64)],
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    version: Annotated[VersionNumber | None, Query()] = None,
    fmt: FormatName = None,
    accept: Accept = None,
    if_none_match: IfNoneMatch = None,
    as_download: AsDownload = False,
) -> Response:
    """The version's image rendered to a preset of the pack: cropped around its focal point,
    sized, encoded, with the governed metadata the preset writes. Rendered on first request,
    then cached; `format=auto` presets (or `?format=auto`) pick AVIF/WebP/JPEG from `Accept`.
    Marketers and automation get the published version only. 409 `derivative_noncompliant`
    when the output would break its channel's blocking rules."""
    preset = _preset_of(ctx, preset_id)
    row = service.get_version(session, asset, visible_version(principal, asset, version))
    made = derivatives.derivative(
        session,
        ctx=ctx,
        asset=asset,
        version=row,
        preset=preset,
        accept=accept,
        fmt=_format_override(ctx, fmt),
    )
    return derivative_response(
        made,
        ctx,
        if_none_match=if_none_match,
        cache_control="private, no-cache",
        vary_accept=(fmt or preset.format) == "auto",
        attachment=as_download,
    )


@router.get("/assets/{asset_id}/transform", responses=binary(304, 409, media="image/*"))
def transform(
    asset: AssetDep,
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    w: Side = None,
    h: Side = None,
    fit: Annotated[str | None, Query(max_length=16)] = None,
    fmt: FormatName = None,
    version: Annotated[VersionNumber | None, Query()] = None,
    accept: Accept = None,
    if_none_match: IfNoneMatch = None,
    as_download: AsDownload = False,
) -> Response:
    """An ad-hoc transform (`w`, `h`, `fit` cover|contain|inside, `format`) within the limits
    of the pack's `adhoc` section (422 `transform_out_of_limits` beyond them), cached like a
    preset."""
    preset = derivatives.adhoc_preset(
        ctx.governance.pack.adhoc, width=w, height=h, fit=fit, fmt=fmt
    )
    row = service.get_version(session, asset, visible_version(principal, asset, version))
    made = derivatives.derivative(
        session, ctx=ctx, asset=asset, version=row, preset=preset, accept=accept
    )
    return derivative_response(
        made,
        ctx,
        if_none_match=if_none_match,
        cache_control="private, no-cache",
        vary_accept=preset.format == "auto",
        attachment=as_download,
    )


@router.post(
    "/assets/{asset_id}/derivatives/{preset_id}/links",
    status_code=201,
    response_model=DerivativeLinkOut,
    responses=errors(409),
)
def link_derivative(
    request: Request,
    asset: AssetDep,
    preset_id: Annotated[str, Path(max_length=64)],
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    fmt: FormatName = None,
    ttl_seconds: LinkTtl = None,
) -> DerivativeLinkOut:
    """A signed URL of the published version's derivative, for automation and delivery links
    (the URL is the credential; it stops working when the version is no longer published).
    It names the derivative's current bytes, so it is served `immutable`."""
    preset = _preset_of(ctx, preset_id)
    link = derivatives.issue_link(
        session,
        ctx=ctx,
        asset=asset,
        preset=preset,
        principal=principal,
        fmt=_format_override(ctx, fmt),
        ttl_seconds=ttl_seconds,
    )
    token = derivatives.sign_link(link, secret=ctx.settings.secret_key)
    return DerivativeLinkOut(
        url=f"{str(request.base_url).rstrip('/')}/api/v1/derivatives/{token}",
        preset=preset.id,
        version=link.version,
        expires_at=link.expires_at,
    )


@router.get("/derivatives/{link}", responses=binary(304, 403, media="image/*"))
def follow_derivative_link(
    link: Annotated[str, Path(max_length=2000)],
    ctx: ContextDep,
    session: SessionDep,
    accept: Accept = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """A signed derivative URL: no key needed (tampered or expired links get 403). While the
    bytes are still the ones the link was signed for, it is cacheable `public, immutable`
    until it expires; after an approved metadata change it serves the current bytes uncached."""
    asset, version, preset, signed = derivatives.follow_link(session, ctx=ctx, token=link)
    made = derivatives.derivative(
        session, ctx=ctx, asset=asset, version=version, preset=preset, accept=accept, fmt=signed.fmt
    )
    remaining = int((signed.expires_at - ctx.now()).total_seconds())
    fixed = signed.key is not None and signed.key == made.key
    return derivative_response(
        made,
        ctx,
        if_none_match=if_none_match,
        cache_control=f"public, max-age={max(0, remaining)}, immutable"
        if fixed
        else "private, no-cache",
        vary_accept=not fixed and (signed.fmt or preset.format) == "auto",
    )


@router.get("/assets/{asset_id}/versions/{number}/focal-point", response_model=FocalPointOut)
def get_focal_point(
    asset: AssetDep,
    number: Annotated[VersionNumber, Path()],
    session: SessionDep,
    principal: PrincipalDep,
) -> FocalPointOut:
    """The version's focal point and crop boxes; `source: auto` when none is set (derivatives
    then centre on the image's visual weight)."""
    row = service.get_version(session, asset, visible_version(principal, asset, number))
    return derivatives.focal_out(session, row)


@router.put(
    "/assets/{asset_id}/versions/{number}/focal-point",
    response_model=FocalPointOut,
    responses=errors(409),
)
def put_focal_point(
    asset: AssetDep,
    number: Annotated[VersionNumber, Path()],
    body: FocalPointIn,
    ctx: ContextDep,
    session: SessionDep,
    actor: Uploader,
) -> FocalPointOut:
    """Set the focal point (and optional crop boxes per preset) derivatives crop around.
    Audited; derivatives of the new point get new cache keys and are queued again."""
    row = service.get_version(session, asset, number)
    derivatives.set_focal_point(
        session,
        ctx=ctx,
        asset=asset,
        version=row,
        x=body.x,
        y=body.y,
        crops=body.crops,
        actor=actor,
    )
    return derivatives.focal_out(session, row)


@router.delete("/assets/{asset_id}/versions/{number}/focal-point", response_model=FocalPointOut)
def delete_focal_point(
    asset: AssetDep,
    number: Annotated[VersionNumber, Path()],
    ctx: ContextDep,
    session: SessionDep,
    actor: Uploader,
) -> FocalPointOut:
    """Back to the content-aware default."""
    row = service.get_version(session, asset, number)
    derivatives.clear_focal_point(session, ctx=ctx, asset=asset, version=row, actor=actor)
    session.flush()
    return derivatives.focal_out(session, row)
