from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from dam.api.content import blob_response, derivative_response
from dam.api.deps import (
    Analyst,
    AssetDep,
    ContextDep,
    Manager,
    PrincipalDep,
    Reporter,
    SessionDep,
    Tagger,
)
from dam.api.middleware import BodyKind, body_kind
from dam.api.openapi import METRICS_BODY, binary, errors
from dam.assets import delivery, derivatives
from dam.assets import service as asset_service
from dam.bounds import JsonTooDeep, SafeDate, SafeDatetime, loads_json
from dam.campaigns import (
    deliveries,
    exports,
    metrics,
    placements,
    reports,
    service,
    sources,
    timezones,
)
from dam.campaigns.schemas import (
    NO_CONTROL,
    AssetCampaignsIn,
    CampaignIn,
    CampaignOut,
    CampaignPage,
    CampaignPatch,
    ExportResult,
    FeedPage,
    InsightsReport,
    MetricSourcePage,
    MetricsResult,
    PerformanceReport,
    PlacementIn,
    PlacementOut,
    PlacementPage,
    RejectedIndex,
    RemovedPage,
)
from dam.errors import Invalid, NotFound, UnsupportedMediaType
from dam.media import MediaKind
from dam.models import Campaign
from dam.views.assets import asset_for
from dam.views.schemas import AssetOut

router = APIRouter(prefix="/api/v1", tags=["campaigns"])


def load_campaign(campaign_id: str, session: SessionDep, principal: PrincipalDep) -> Campaign:
    return service.get_campaign(session, campaign_id, principal=principal)


CampaignDep = Annotated[Campaign, Depends(load_campaign)]


def campaign_out(campaign: Campaign) -> CampaignOut:
    return CampaignOut.model_validate(campaign, from_attributes=True)


@router.post("/campaigns", status_code=201, response_model=CampaignOut, responses=errors(409))
def create_campaign(
    data: CampaignIn, ctx: ContextDep, session: SessionDep, actor: Manager
) -> CampaignOut:
    """Create a campaign under its external id (e.g. `SPRING26-EMAIL`, stored upper-case)."""
    return campaign_out(service.create_campaign(session, ctx=ctx, data=data, actor=actor))


@router.get("/campaigns", response_model=CampaignPage)
def list_campaigns(
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    channel: str | None = None,
    active_on: SafeDate | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> CampaignPage:
    """Campaigns by id; `channel` includes its sub-channels, `active_on` a date the campaign
    runs on, `q` a piece of the id or name."""
    total, rows = service.list_campaigns(
        session,
        principal=principal,
        page=page,
        page_size=page_size,
        channel=channel,
        active_on=active_on,
        q=q,
        pack=ctx.governance.pack,
    )
    return CampaignPage(
        total=total, page=page, page_size=page_size, items=[campaign_out(c) for c in rows]
    )


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
def get_campaign(campaign: CampaignDep) -> CampaignOut:
    return campaign_out(campaign)


@router.patch("/campaigns/{campaign_id}", response_model=CampaignOut, responses=errors(409))
def patch_campaign(
    campaign: CampaignDep,
    patch: CampaignPatch,
    ctx: ContextDep,
    session: SessionDep,
    actor: Manager,
) -> CampaignOut:
    """Only the fields sent change. A new `timezone` re-attributes the stored rows whose
    version was worked out (from placements or the publication history) under it."""
    return campaign_out(
        timezones.update_campaign(session, ctx=ctx, campaign=campaign, patch=patch, actor=actor)
    )


@router.post("/assets/{asset_id}/campaigns", response_model=AssetOut, responses=errors(409))
def tag_asset(
    asset: AssetDep, data: AssetCampaignsIn, ctx: ContextDep, session: SessionDep, actor: Tagger
) -> AssetOut:
    """Add the asset to campaigns. Marketers can tag the approved assets they can see."""
    service.add_asset_campaigns(
        session, ctx=ctx, asset=asset, campaign_ids=data.campaign_ids, actor=actor
    )
    return asset_for(session, asset, principal=actor, pack=ctx.governance.pack)


@router.delete("/assets/{asset_id}/campaigns/{campaign_id}", response_model=AssetOut)
def untag_asset(
    asset: AssetDep, campaign_id: str, ctx: ContextDep, session: SessionDep, actor: Tagger
) -> AssetOut:
    service.remove_asset_campaign(
        session, ctx=ctx, asset=asset, campaign_id=campaign_id, actor=actor
    )
    return asset_for(session, asset, principal=actor, pack=ctx.governance.pack)


@router.get("/campaigns/{campaign_id}/assets", response_model=FeedPage)
def campaign_feed(
    request: Request,
    campaign: CampaignDep,
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    term: Annotated[list[str], Query(description="facet:term, repeatable")] = [],  # noqa: B006
    type: Annotated[MediaKind | None, Query(description="image, vector, video, document")] = None,
    updated_since: SafeDatetime | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    channel: Annotated[str | None, Query(description="recorded with each delivery")] = None,
) -> Response:
    """The campaign's approved, live assets with tracked `download_url`s, for automation.
    Page with `cursor`; sync incrementally with `updated_since` (inclusive)."""
    page = service.campaign_feed(
        session,
        ctx=ctx,
        campaign=campaign,
        principal=principal,
        base_url=str(request.base_url),
        limit=limit,
        terms=term,
        kind=type.value if type else None,
        updated_since=updated_since,
        cursor=cursor,
        channel=channel,
    )
    # Serialized once, by pydantic's JSON encoder: returned as a model, FastAPI would validate
    # it against the response model again and then encode it (the schema still comes from
    # `response_model`).
    return Response(page.model_dump_json(), media_type="application/json")


@router.get("/campaigns/{campaign_id}/assets/removed", response_model=RemovedPage)
def campaign_removals(
    campaign: CampaignDep,
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    since: SafeDatetime,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> RemovedPage:
    """Assets that left the campaign's feed at or after `since` (untagged, archived, expired,
    unpublished): what an `updated_since` sync must delete. Page with `cursor`."""
    return service.campaign_removals(
        session, ctx=ctx, campaign=campaign, since=since, limit=limit, cursor=cursor
    )


@router.get("/deliveries/{token}", responses={**binary(206, 307, 403, 416), **errors(409)})
def follow_delivery(
    token: str,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    placement: Annotated[
        str | None,
        Query(
            max_length=256,
            pattern=NO_CONTROL,
            description="The placement the fetch is for: its id, or the platform's external id",
        ),
    ] = None,
) -> Response:
    """A tracked delivery link from a campaign feed. The signed link is the credential (it is
    handed to ad servers and email renderers); it records the delivery and returns the bytes,
    or redirects to a short-lived presigned URL. Tampered or expired links get 403.

    `placement` (the placement's id or external id, e.g. `?placement=6001`) records which ad
    the fetch was for; a placement showing another version of the asset is re-pointed to the
    fetched version from now on. 404 `unknown_placement` for a placement not in the link's
    campaign, 409 `placement_mismatch` for one showing another asset."""
    version, link = deliveries.follow(
        session,
        ctx=ctx,
        token=token,
        range_header=request.headers.get("range"),
        client=request.client.host if request.client else None,
        placement=placement,
    )
    asset = asset_service.get_asset(session, version.asset_id)
    if link.preset is not None:
        preset = ctx.governance.pack.preset(link.preset)
        if preset is None:
            raise NotFound(
                f"the pack no longer has preset {link.preset!r}; fetch the feed again",
                code="preset_not_found",
            )
        made = derivatives.derivative(
            session,
            ctx=ctx,
            asset=asset,
            version=version,
            preset=preset,
            accept=request.headers.get("accept"),
        )
        return derivative_response(
            made,
            ctx,
            if_none_match=None,  # every fetch is a delivery to count, never a 304
            cache_control="private, max-age=0, must-revalidate",
            vary_accept=preset.format == "auto",
        )
    sent = delivery.served(
        session,
        ctx=ctx,
        asset=asset,
        version=version,
        audience=delivery.DELIVERY_LINK_AUDIENCE,
        campaign_id=link.campaign_id,
    )
    return blob_response(
        ctx, sent, range_header=request.headers.get("range"), extra_headers=sent.headers()
    )


async def _read_metric_rows(request: Request) -> list[Any]:
    """The body is capped while it streams by `BodyGuard` (DAM_MAX_METRICS_MIB)."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=10)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid("send the CSV as the multipart field `file`", code="invalid_csv")
        raw = await upload.read()
        content_type = "text/csv"
    else:
        raw = await request.body()
    if content_type in {"text/csv", "application/csv"}:
        try:
            return metrics.rows_from_csv(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise Invalid("the CSV must be UTF-8", code="invalid_csv") from exc
    if content_type not in {"application/json", ""}:
        raise UnsupportedMediaType("send application/json, text/csv or a multipart CSV `file`")
    try:
        body = loads_json(raw)
    except JsonTooDeep as exc:
        raise Invalid(f"the body is {exc}", code="json_too_deep") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Invalid("the body is not valid JSON", code="invalid_json") from exc
    if isinstance(body, dict) and set(body) == {"rows"}:
        body = body["rows"]
    if not isinstance(body, list):
        raise Invalid('send a list of rows or {"rows": [...]}', code="invalid_metric_rows")
    return body


async def _read_export(request: Request) -> tuple[str, bytes | None]:
    """A platform export as downloaded: the raw body or a multipart `file`, UTF-8 (a BOM is
    fine) or UTF-16 with a BOM (the platforms' "CSV for Excel"); and the multipart part
    `mapping` (a source mapping in the pack's YAML format) when one was sent."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    mapping: bytes | None = None
    if content_type == "multipart/form-data":
        form = await request.form(max_files=2, max_fields=10)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid("send the export as the multipart field `file`", code="invalid_export")
        raw = await upload.read()
        part = form.get("mapping")
        if isinstance(part, UploadFile):
            mapping = await part.read()
        elif isinstance(part, str):
            mapping = part.encode("utf-8")
    else:
        raw = await request.body()
    return _decode_export(raw), mapping


async def _has_mapping(request: Request) -> bool:
    form = await request.form(max_files=2, max_fields=10)
    return form.get("mapping") is not None


def _decode_export(raw: bytes) -> str:
    try:
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return raw.decode("utf-16")
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid("the export must be UTF-8 or UTF-16 text", code="invalid_export") from exc


@router.post(
    "/campaigns/{campaign_id}/metrics",
    response_model=MetricsResult | ExportResult,
    openapi_extra=METRICS_BODY,
    responses=errors(415),
)
@body_kind(BodyKind.metrics)
async def post_metrics(
    request: Request,
    campaign: CampaignDep,
    ctx: ContextDep,
    session: SessionDep,
    actor: Reporter,
    source: Annotated[str | None, Query(max_length=32)] = None,
    locale: Annotated[str | None, Query(max_length=16)] = None,
    account: Annotated[str | None, Query(max_length=128, pattern=NO_CONTROL)] = None,
    external_id: Annotated[str | None, Query(max_length=256, pattern=NO_CONTROL)] = None,
    dry_run: bool = False,
    on_error: Annotated[Literal["fail", "skip"], Query()] = "fail",
    currency: Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")] = None,
    date: Annotated[SafeDate | None, Query()] = None,
) -> MetricsResult | ExportResult:
    """Daily rows `{asset_id, date, channel, impressions, clicks, conversions, spend, revenue}`
    as JSON or CSV (`text/csv` body or multipart `file`). Upserted on (campaign, asset, date,
    channel): re-sending a day replaces it. Any bad row → 422 listing them; nothing stored.

    With `source` (`google_ads`, `meta`, `cm360`, `braze`, `iterable`, or a source the
    governance pack declares: `GET /metric-sources`), or with a multipart `mapping` part (a
    mapping in the pack's `sources/*.yaml` format, sent beside the `file`): the platform's own
    export as downloaded, matched to placements by the platform's ids and attributed to the
    version each placement pointed to on the row's date. `locale` declares the export's
    number format (`en`, `de` …); `account` the platform account when the file has no account
    column; `external_id` the placement of a file without an id column (Braze); `date` the day
    of a one-day export without a date column (Iterable's campaign metrics). `dry_run=true`
    stores nothing and answers what would be stored, unmatched rows and the versions figures
    would go to.

    `currency` (ISO 4217) is the currency of an export that has no currency column; rows sent per
    asset carry a `currency` field. Money is stored in its currency and never converted.

    `on_error=skip` stores the good rows instead of refusing the batch, and answers the others
    in `rejected` (and `unmatched`) and as a CSV report in `rejects_csv`."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if source is not None or (
        content_type == "multipart/form-data" and await _has_mapping(request)
    ):
        text, inline = await _read_export(request)
        pack = ctx.governance.pack
        if inline is not None and source is not None:
            raise Invalid(
                "send either `source=` or a `mapping` part, not both", code="invalid_request"
            )
        mapping = (
            sources.inline_source(pack, inline)
            if inline is not None
            else sources.get_source(pack, str(source))
        )
        return await run_in_threadpool(
            exports.ingest_export,
            session,
            ctx=ctx,
            campaign=campaign,
            text=text,
            source=mapping,
            locale=locale,
            account=account,
            external_id=external_id,
            dry_run=dry_run,
            actor=actor,
            skip_errors=on_error == "skip",
            default_currency=currency,
            export_day=date,
        )
    if date is not None:
        raise Invalid(
            "`date` is for a one-day platform export: give `source=`", code="invalid_request"
        )
    if currency is not None:
        raise Invalid(
            "`currency` is for a platform export without a currency column: give `source=`;"
            " rows sent per asset carry their own `currency`",
            code="invalid_request",
        )
    if dry_run:
        raise Invalid(
            "`dry_run` previews a platform export: give `source=`", code="invalid_request"
        )
    rows = await _read_metric_rows(request)
    count, bad = await run_in_threadpool(
        metrics.ingest_metrics,
        session,
        ctx=ctx,
        campaign=campaign,
        raw_rows=rows,
        actor=actor,
        skip_errors=on_error == "skip",
    )
    return MetricsResult(
        campaign_id=campaign.id,
        rows=count,
        rejected=[RejectedIndex(index=i, problems=bad[i]) for i in sorted(bad)],
        rejects_csv=metrics.rejects_csv(bad) if bad else None,
    )


@router.get("/metric-sources", response_model=MetricSourcePage)
def list_metric_sources(ctx: ContextDep, principal: PrincipalDep) -> MetricSourcePage:
    """The source mappings `POST /campaigns/{id}/metrics?source=` accepts: the built-ins and
    those the governance pack declares in `sources/*.yaml` (`origin` says which), each with
    its columns, placement id columns, date column and formats, locale, currency, skipped
    lines and campaign types → channels."""
    pack = ctx.governance.pack
    return MetricSourcePage(
        items=[pack.metric_sources[name].to_json() for name in sorted(pack.metric_sources)]
    )


@router.post(
    "/campaigns/{campaign_id}/placements",
    status_code=201,
    response_model=PlacementOut,
    responses={**errors(409), 200: {"model": PlacementOut, "description": "The same mapping"}},
)
def register_placement(
    data: PlacementIn,
    response: Response,
    campaign: CampaignDep,
    ctx: ContextDep,
    session: SessionDep,
    actor: Reporter,
) -> PlacementOut:
    """Register where a version runs: (platform, account, external_id) maps to one asset
    version. 201 when created or re-pointed to another asset or version (from now on; rows
    already ingested keep theirs), 200 when the same mapping is sent again."""
    out, changed = placements.register(session, ctx=ctx, campaign=campaign, data=data, actor=actor)
    if not changed:
        response.status_code = 200
    return out


@router.get("/campaigns/{campaign_id}/placements", response_model=PlacementPage)
def list_placements(
    campaign: CampaignDep,
    session: SessionDep,
    principal: PrincipalDep,
    asset_id: uuid.UUID | None = None,
) -> PlacementPage:
    """The campaign's placements with what each pointed to over time; `asset_id` filters."""
    return PlacementPage(
        items=placements.list_placements(session, campaign=campaign, asset_id=asset_id)
    )


@router.get("/campaigns/{campaign_id}/performance", response_model=PerformanceReport)
def campaign_performance(
    campaign: CampaignDep,
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    date_from: Annotated[SafeDate | None, Query(alias="from")] = None,
    date_to: Annotated[SafeDate | None, Query(alias="to")] = None,
    channel: str | None = None,
    sort: reports.SortKey = "impressions",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
) -> PerformanceReport:
    """Per asset and version: totals, CTR, conversion rate, cost per conversion, ROAS and
    deliveries; `from`/`to` are inclusive dates."""
    return reports.campaign_performance(
        session,
        campaign=campaign,
        date_from=date_from,
        date_to=date_to,
        pack=ctx.governance.pack,
        channel=channel,
        sort=sort,
        descending=order == "desc",
    )


@router.get("/reports/creative-insights", response_model=InsightsReport)
def creative_insights(
    ctx: ContextDep,
    session: SessionDep,
    principal: Analyst,
    facet: str = "visual_style",
    date_from: Annotated[SafeDate | None, Query(alias="from")] = None,
    date_to: Annotated[SafeDate | None, Query(alias="to")] = None,
    channel: str | None = None,
) -> InsightsReport:
    """Performance across all campaigns grouped by the terms of a taxonomy facet, with the
    number of assets and campaigns behind each figure."""
    return reports.creative_insights(
        session,
        pack=ctx.governance.pack,
        facet=facet,
        date_from=date_from,
        date_to=date_to,
        channel=channel,
    )
