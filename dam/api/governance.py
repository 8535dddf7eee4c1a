from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from dam.api.assets import read_upload
from dam.api.deps import Admin, ContextDep, PrincipalDep, SessionDep, Uploader
from dam.api.middleware import BodyKind, body_kind
from dam.api.openapi import UPLOAD_BODY, errors
from dam.assets import service as asset_service
from dam.governance import service, terms
from dam.governance.schemas import PrefillOut, ValidationOut
from dam.search import service as search_service
from dam.search.schemas import SimilarHit

router = APIRouter(prefix="/api/v1", tags=["governance"])

# How near a chosen file's image must be to an asset's for the upload form to show it.
UPLOAD_LOOKALIKE_DISTANCE = 6
UPLOAD_LOOKALIKE_LIMIT = 6


class PrefillWithLookalikes(PrefillOut):
    # Assets the caller may see whose image looks nearly the same as the file's (perceptual
    # hash within 6 bits), nearest first; an exact copy is among them at distance 0.
    similar: list[SimilarHit] = []


@router.get("/taxonomy")
def taxonomy(ctx: ContextDep, principal: PrincipalDep) -> dict[str, Any]:
    """Facets with their term trees, labels, synonyms and deprecations."""
    return ctx.governance.pack.taxonomy_json()


@router.get("/taxonomy/suggest")
def suggest_terms(
    ctx: ContextDep,
    principal: PrincipalDep,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> dict[str, Any]:
    """Taxonomy terms for what was typed, typos forgiven (`instagarm` → Instagram): each with
    its facet and the library filter that shows it. The library's search box offers them."""
    pack = ctx.governance.pack
    items = []
    for facet_id, term_id in terms.suggest_terms(pack, q, limit=limit):
        facet = pack.facet(facet_id)
        items.append(
            {
                "facet": facet_id,
                "facet_label": facet.label,
                "term": term_id,
                "label": facet.terms[term_id].label,
                "filter": f"{facet_id}={term_id}",
            }
        )
    return {"q": q, "items": items}


@router.get("/governance/rules")
def rules(ctx: ContextDep, principal: PrincipalDep) -> dict[str, Any]:
    """The brand rules in force, with their scope, severity and parameters."""
    return ctx.governance.pack.rules_json()


@router.post(
    "/governance/validate",
    response_model=ValidationOut,
    openapi_extra=UPLOAD_BODY,
    responses=errors(415),
)
@body_kind(BodyKind.upload)
async def validate(
    request: Request, ctx: ContextDep, session: SessionDep, actor: Uploader
) -> ValidationOut:
    """Check a file and its metadata exactly as an upload would, and store nothing.
    Blocking violations come back in the report (status `fail`) instead of a 422."""
    upload = await read_upload(request, ctx)
    try:
        return await run_in_threadpool(
            asset_service.preview_compliance, session, ctx=ctx, upload=upload, principal=actor
        )
    finally:
        upload.discard()


@router.post(
    "/governance/prefill",
    response_model=PrefillWithLookalikes,
    openapi_extra=UPLOAD_BODY,
    responses=errors(415),
)
@body_kind(BodyKind.upload)
async def prefill(
    request: Request, ctx: ContextDep, session: SessionDep, actor: Uploader
) -> PrefillWithLookalikes:
    """What the file's embedded EXIF/IPTC/XMP metadata pre-fills (title, description, tags,
    rights date, credits …) and the key each value came from, before any term is chosen:
    the upload form shows it when a file is picked. `metadata` is optional; explicit values
    in it win. `similar` lists the assets whose image looks nearly the same, so the form shows
    near-duplicates before anything is sent. Judges nothing, stores nothing."""
    upload = await read_upload(request, ctx)
    try:
        filled = await run_in_threadpool(
            asset_service.preview_prefill, ctx=ctx, upload=upload, principal=actor
        )
    finally:
        upload.discard()
    similar = (
        await run_in_threadpool(
            search_service.similar_to_hash,
            session,
            principal=actor,
            phash=filled.phash,
            exclude_asset_id=None,
            max_distance=UPLOAD_LOOKALIKE_DISTANCE,
            limit=UPLOAD_LOOKALIKE_LIMIT,
        )
        if filled.phash
        else []
    )
    return PrefillWithLookalikes(**filled.model_dump(), similar=similar)


@router.post("/governance/reload", responses=errors(422))
def reload(ctx: ContextDep, session: SessionDep, actor: Admin) -> dict[str, Any]:
    """Load the pack from disk again. A broken pack → 422 with every problem; the previous
    pack stays in force."""
    previous, current = service.reload_pack(
        session, holder=ctx.governance, actor=actor, now=ctx.now()
    )
    return {
        "previous_revision": previous.revision,
        "revision": current.revision,
        "changed": previous.digest != current.digest,
    }
