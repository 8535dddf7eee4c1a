from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from dam.api.deps import AssetDep, ContextDep, PrincipalDep, SessionDep
from dam.bounds import PageNumber, SafeDatetime
from dam.models import AssetStatus, ReviewState
from dam.search import service
from dam.search.base import SortOrder
from dam.search.schemas import MAX_PAGE_SIZE, SearchPage, SearchParams, SimilarPage

router = APIRouter(prefix="/api/v1", tags=["search"])

Many = Annotated[list[str], Query()]


@router.get("/search", response_model=SearchPage)
def search(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    q: Annotated[str | None, Query(description='Words, "phrases", -excluded')] = None,
    status: Annotated[list[AssetStatus], Query()] = [],  # noqa: B006
    review_state: Annotated[list[ReviewState], Query()] = [],  # noqa: B006
    type: Many = [],  # noqa: B006
    campaign: Many = [],  # noqa: B006
    tag: Many = [],  # noqa: B006
    compliance: Many = [],  # noqa: B006
    orientation: Many = [],  # noqa: B006
    created_after: SafeDatetime | None = None,
    created_before: SafeDatetime | None = None,
    sort: SortOrder | None = None,
    page: Annotated[PageNumber, Query()] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 25,
    facet_counts: Annotated[
        bool, Query(description="false: hits and total only, e.g. for type-ahead")
    ] = True,
) -> Response:
    """Full-text search with facet counts over the whole result set. Any facet id of the
    governance pack is also a filter (`region=emea`, repeatable; a parent term matches its
    descendants). Marketer and automation keys only ever match published, live assets."""
    pack = ctx.governance.pack
    facets = {
        name: request.query_params.getlist(name)
        for name in request.query_params
        if pack.has_facet(name)
    }
    params = SearchParams(
        q=q,
        status=status,
        review_state=review_state,
        type=type,
        campaign=campaign,
        tag=tag,
        compliance=compliance,
        orientation=orientation,
        created_after=created_after,
        created_before=created_before,
        sort=sort,
        page=page,
        page_size=page_size,
        facets=facets,
        facet_counts=facet_counts,
    )
    result = service.search_assets(session, ctx=ctx, principal=principal, params=params)
    # Serialized once, by pydantic's own JSON encoder: returned as a model, FastAPI would
    # validate it against the response model again and then encode it (the OpenAPI schema
    # still comes from `response_model`).
    return Response(result.model_dump_json(), media_type="application/json")


@router.get("/assets/{asset_id}/similar", response_model=SimilarPage)
def similar(
    asset: AssetDep,
    session: SessionDep,
    principal: PrincipalDep,
    max_distance: Annotated[int, Query(ge=0, le=32)] = 10,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> SimilarPage:
    """Assets whose image is perceptually near this one (Hamming distance of 64-bit pHashes),
    nearest first."""
    return service.similar_assets(
        session, principal=principal, asset=asset, max_distance=max_distance, limit=limit
    )
