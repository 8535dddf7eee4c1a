"""Briefs (creative requests): file one, see its page (deliverables' state and what worked
before), upload against it, link an existing asset."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from dam.api.assets import _respond_to_upload, read_upload
from dam.api.deps import Analyst, ContextDep, Manager, SessionDep, Uploader
from dam.api.middleware import BodyKind, body_kind
from dam.api.openapi import UPLOAD_BODY, errors
from dam.assets import service as asset_service
from dam.briefs import service
from dam.briefs.schemas import BriefIn, BriefOut, BriefPage, LinkIn
from dam.models import Asset, Brief
from dam.views.assets import asset_for
from dam.views.briefs import BriefPageOut, brief_page
from dam.views.schemas import AssetOut

router = APIRouter(prefix="/api/v1", tags=["briefs"])


def load_brief(brief_id: uuid.UUID, session: SessionDep) -> Brief:
    return service.get_brief(session, brief_id)


BriefDep = Annotated[Brief, Depends(load_brief)]


@router.post("/briefs", response_model=BriefOut, status_code=201, responses=errors(422))
def create_brief(body: BriefIn, actor: Manager, ctx: ContextDep, session: SessionDep) -> BriefOut:
    """File a brief: objective, campaign, terms (channels, audience …), deliverables
    (`{"label": "Instagram 4:5", "quantity": 3}`), due date, notes, and the KPI that ranks
    what worked before."""
    brief = service.create_brief(session, ctx=ctx, body=body, actor=actor)
    return service.brief_out(session, brief)


@router.get("/briefs", response_model=BriefPage)
def list_briefs(actor: Analyst, session: SessionDep) -> BriefPage:
    """Briefs, newest first, each with its deliverables' state."""
    return service.list_briefs(session)


@router.get("/briefs/{brief_id}", response_model=BriefPageOut, responses=errors(404))
def get_brief(
    actor: Analyst, brief: BriefDep, ctx: ContextDep, session: SessionDep
) -> BriefPageOut:
    """The brief, its deliverables' state, and what worked before for its channel and terms."""
    return brief_page(session, brief=brief, pack=ctx.governance.pack)


@router.post(
    "/briefs/{brief_id}/assets",
    status_code=201,
    response_model=AssetOut,
    openapi_extra=UPLOAD_BODY,
    responses=errors(404, 409, 415, 422),
)
@body_kind(BodyKind.upload)
async def upload_against_brief(
    request: Request,
    actor: Uploader,
    brief: BriefDep,
    ctx: ContextDep,
    session: SessionDep,
    deliverable: Annotated[str, Query(max_length=64, description="The deliverable's id.")],
) -> JSONResponse:
    """Upload an asset for one of the brief's deliverables (`?deliverable=`): multipart `file`
    and optional `metadata`, as for `POST /assets`. Facets the metadata leaves out take the
    brief's terms; the brief's campaign is added."""
    upload = await read_upload(request, ctx)

    def create() -> tuple[Asset, Any]:
        metadata = asset_service.parse_metadata(upload.fields.get("metadata"))
        asset = service.upload_against(
            session,
            ctx=ctx,
            brief=brief,
            upload=upload,
            metadata=metadata,
            deliverable=deliverable,
            actor=actor,
        )
        return asset, asset_for(session, asset, principal=actor, pack=ctx.governance.pack)

    return await _respond_to_upload(
        session, ctx=ctx, request=request, actor=actor, key=None, upload=upload, action=create
    )


@router.post("/briefs/{brief_id}/links", response_model=BriefOut, responses=errors(404, 409))
def link_asset(
    body: LinkIn, actor: Uploader, brief: BriefDep, ctx: ContextDep, session: SessionDep
) -> BriefOut:
    """Link an existing asset to a deliverable of the brief."""
    service.link_existing(session, brief=brief, body=body, actor=actor, now=ctx.now())
    return service.brief_out(session, brief)
