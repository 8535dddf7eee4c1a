"""Resumable uploads over tus 1.0.0 (core, creation, termination, expiration); the rules are
in `dam.assets.resumable`. Every response carries `Tus-Resumable`; errors are this API's JSON
body. The response to the PATCH that brings the last byte, and every HEAD after it, carries
`DAM-Asset-Id` (the asset made from the file) or `DAM-Upload-Error` (the refusal, as the JSON
error body the one-shot upload would have answered, with its `status`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from email.utils import format_datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from dam.api import idempotency
from dam.api.deps import ContextDep, PrincipalDep, SessionDep, Uploader
from dam.api.middleware import BodyKind, body_kind
from dam.api.openapi import errors
from dam.assets import resumable
from dam.context import Context
from dam.db import session_scope
from dam.errors import BadRequest, DamError, PreconditionFailed, UnsupportedMediaType
from dam.models import ResumableUpload
from dam.principal import Principal

PREFIX = "/api/v1/uploads"
router = APIRouter(prefix="/api/v1", tags=["uploads"])

TusResumable = Annotated[str | None, Header(alias="Tus-Resumable")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
OFFSET_STREAM = "application/offset+octet-stream"


class UploadOut(BaseModel):
    """The upload as created; its URL is also the `Location` header."""

    id: uuid.UUID
    location: str
    length: int
    expires_at: datetime


def tus_headers() -> dict[str, str]:
    return {"Tus-Resumable": resumable.TUS_VERSION}


def _require_tus(value: str | None) -> None:
    if value != resumable.TUS_VERSION:
        raise PreconditionFailed(
            f"send 'Tus-Resumable: {resumable.TUS_VERSION}' (got {value!r}); this server "
            f"speaks tus {resumable.TUS_VERSION}",
            code="tus_version_unsupported",
        )


def _expires(row: ResumableUpload) -> str:
    return format_datetime(row.expires_at, usegmt=True)


def _location(upload_id: uuid.UUID) -> str:
    return f"{PREFIX}/{upload_id}"


def _int_header(request: Request, name: str) -> int:
    raw = request.headers.get(name)
    if raw is None:
        raise BadRequest(f"send the {name} header", code="missing_header", header=name)
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 19:
        raise BadRequest(
            f"{name} must be a non-negative integer, got {raw[:30]!r}",
            code="invalid_header",
            header=name,
        )
    return int(raw)


@router.options(
    "/uploads",
    status_code=204,
    responses={204: {"description": "What this tus server supports, in headers"}},
)
def upload_options(ctx: ContextDep, principal: PrincipalDep) -> Response:
    """tus discovery: version, extensions and the largest upload any kind admits."""
    return Response(
        status_code=204,
        headers={
            **tus_headers(),
            "Tus-Version": resumable.TUS_VERSION,
            "Tus-Extension": ",".join(resumable.TUS_EXTENSIONS),
            "Tus-Max-Size": str(ctx.settings.max_resumable_bytes),
        },
    )


@router.post(
    "/uploads",
    status_code=201,
    response_model=UploadOut,
    responses=errors(409, 412, 413),
)
def create_upload(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    actor: Uploader,
    tus_resumable: TusResumable = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """tus creation. `Upload-Length` (bytes) is required; `Upload-Metadata` may carry
    `filename`, `filetype` and `metadata` (the same JSON as the one-shot upload's `metadata`
    field), each base64. The length is checked against the size limit and the metadata's
    syntax, term ids, campaign ids and governed fields are checked now, before any byte; the
    rest (required fields, brand rules) when the last byte arrives."""
    _require_tus(tus_resumable)
    if "upload-defer-length" in request.headers:
        raise BadRequest(
            "Upload-Defer-Length is not supported: send Upload-Length", code="defer_unsupported"
        )
    length = _int_header(request, "Upload-Length")
    values = resumable.parse_upload_metadata(
        request.headers.get("upload-metadata"), max_bytes=ctx.settings.metadata_max_bytes
    )
    fingerprint = idempotency.request_fingerprint(
        "POST", PREFIX, str(length), resumable.encode_upload_metadata(values)
    )
    stored = idempotency.claim(
        session, principal=actor, key=idempotency_key, fingerprint=fingerprint, now=ctx.now()
    )
    if stored is not None:
        return JSONResponse(
            stored.response,
            status_code=stored.status_code,
            headers={
                **tus_headers(),
                "Location": stored.response["location"],
                "Idempotent-Replayed": "true",
            },
        )
    row = resumable.create_upload(
        session, ctx=ctx, actor=actor, length=length, upload_metadata=values
    )
    body = jsonable_encoder(
        UploadOut(
            id=row.id, location=_location(row.id), length=row.length, expires_at=row.expires_at
        )
    )
    idempotency.remember(session, principal=actor, key=idempotency_key, status_code=201, body=body)
    return JSONResponse(
        body,
        status_code=201,
        headers={**tus_headers(), "Location": _location(row.id), "Upload-Expires": _expires(row)},
    )


def _current(ctx: Context, upload_id: uuid.UUID, actor: Principal) -> ResumableUpload:
    with session_scope(ctx.engine) as session:
        return resumable.get_upload(session, ctx=ctx, upload_id=upload_id, actor=actor)


def _head(ctx: Context, upload_id: uuid.UUID, actor: Principal) -> ResumableUpload:
    row = _current(ctx, upload_id, actor)
    if resumable.is_stalled(row, ctx.now()):
        try:
            return resumable.finish_stalled(ctx, upload_id=upload_id, actor=actor)
        except DamError:
            return row  # another request took it meanwhile: it will make the outcome
    return row


@router.head(
    "/uploads/{upload_id}",
    responses={
        200: {"description": "The upload's offset, length, metadata, expiry and outcome"},
        **errors(410, 412),
    },
)
async def head_upload(
    upload_id: uuid.UUID, ctx: ContextDep, actor: Uploader, tus_resumable: TusResumable = None
) -> Response:
    """tus offset: `Upload-Offset` says where to resume; once finished, `DAM-Asset-Id` or
    `DAM-Upload-Error` says how it ended."""
    _require_tus(tus_resumable)
    row = await run_in_threadpool(_head, ctx, upload_id, actor)
    headers = {
        **tus_headers(),
        "Upload-Offset": str(row.offset),
        "Upload-Length": str(row.length),
        "Upload-Expires": _expires(row),
        "Cache-Control": "no-store",
        **resumable.outcome_headers(row),
    }
    if row.upload_metadata:
        headers["Upload-Metadata"] = resumable.encode_upload_metadata(row.upload_metadata)
    return Response(status_code=200, headers=headers)


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The request body until it ends or the client goes away (what arrived is kept)."""
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        return


@router.patch(
    "/uploads/{upload_id}",
    status_code=204,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {OFFSET_STREAM: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={
        204: {"description": "Bytes appended; the new Upload-Offset"},
        **errors(409, 410, 412, 413, 415, 423),
    },
)
@body_kind(BodyKind.upload)
async def patch_upload(
    request: Request,
    upload_id: uuid.UUID,
    ctx: ContextDep,
    actor: Uploader,
    tus_resumable: TusResumable = None,
) -> Response:
    """tus core: append the body (`Content-Type: application/offset+octet-stream`) at
    `Upload-Offset`, which must be the upload's offset (409 otherwise). The PATCH that brings
    the last byte makes the asset and answers `DAM-Asset-Id` or `DAM-Upload-Error`."""
    _require_tus(tus_resumable)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != OFFSET_STREAM:
        raise UnsupportedMediaType(
            f"send the bytes as Content-Type: {OFFSET_STREAM}", code="unsupported_content_type"
        )
    offset = _int_header(request, "Upload-Offset")
    declared = request.headers.get("content-length", "").strip()
    content_length = int(declared) if declared.isdigit() else None
    lease = await run_in_threadpool(
        resumable.acquire, ctx, upload_id=upload_id, actor=actor, offset=offset
    )
    try:
        received = await resumable.receive_chunk(
            ctx, lease, stream=_body(request), content_length=content_length
        )
    except BaseException:
        await run_in_threadpool(resumable.release, ctx, lease, offset=lease.offset)
        raise
    finished = received.sha256 is not None
    await run_in_threadpool(resumable.release, ctx, lease, offset=received.offset, hold=finished)
    if received.sha256 is not None:
        row = await run_in_threadpool(
            resumable.complete, ctx, upload_id=upload_id, actor=actor, sha256=received.sha256
        )
    else:
        row = await run_in_threadpool(_current, ctx, upload_id, actor)
    return Response(
        status_code=204,
        headers={
            **tus_headers(),
            "Upload-Offset": str(row.offset),
            "Upload-Expires": _expires(row),
            **resumable.outcome_headers(row),
        },
    )


@router.delete(
    "/uploads/{upload_id}",
    status_code=204,
    responses={204: {"description": "The upload and its bytes are gone"}, **errors(410, 412, 423)},
)
def delete_upload(
    upload_id: uuid.UUID,
    ctx: ContextDep,
    session: SessionDep,
    actor: Uploader,
    tus_resumable: TusResumable = None,
) -> Response:
    """tus termination: the upload and the bytes received so far go; an asset it already made
    is not touched."""
    _require_tus(tus_resumable)
    resumable.terminate(session, ctx=ctx, upload_id=upload_id, actor=actor)
    return Response(status_code=204, headers=tus_headers())
