"""Rows to response models. The one place the asset JSON is assembled."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from dam.assets import service
from dam.assets.previews import media_facts, planned_names
from dam.assets.previews import status as preview_status
from dam.assets.schemas import AssetOut, ComplianceOut, VersionOut
from dam.campaigns.reports import asset_performance
from dam.campaigns.schemas import AssetPerformance
from dam.config import get_settings
from dam.models import Asset, AssetVersion


def version_out(version: AssetVersion) -> VersionOut:
    return VersionOut(
        number=version.number,
        sha256=version.sha256,
        size=version.size,
        mime_type=version.mime_type,
        format=version.format,
        kind=version.kind,
        filename=version.filename,
        width=version.width,
        height=version.height,
        color_mode=version.color_mode,
        icc_profile=version.icc_profile,
        review_state=version.review_state,
        review_reason=version.review_reason,
        compliance=ComplianceOut.model_validate(version.compliance) if version.compliance else None,
        restored_from=version.restored_from,
        renditions=sorted(version.renditions),
        media=media_facts(version),
        previews=preview_status(version, expected=planned_names(get_settings(), version)),
        created_at=version.created_at,
        created_by=version.created_by,
    )


def asset_out(
    asset: Asset,
    *,
    version: AssetVersion | None,
    campaign_ids: list[str],
    performance: AssetPerformance | None = None,
) -> AssetOut:
    return AssetOut(
        id=asset.id,
        title=asset.title,
        description=asset.description,
        tags=list(asset.tags),
        terms={k: list(v) for k, v in asset.terms.items()},
        campaign_ids=campaign_ids,
        status=asset.status,
        published_version=asset.published_version,
        rights_expire_at=asset.rights_expire_at,
        created_at=asset.created_at,
        updated_at=asset.updated_at,
        current_version=version_out(version) if version else None,
        performance=performance,
    )


def present_asset(session: Session, asset: Asset, *, version_number: int | None = None) -> AssetOut:
    number = version_number or asset.current_version
    version = service.get_version(session, asset, number) if number else None
    return asset_out(
        asset,
        version=version,
        campaign_ids=service.campaign_ids_of(session, asset.id),
        performance=asset_performance(session, [asset.id])[asset.id],
    )


def present_assets(
    session: Session, assets: Sequence[Asset], *, published: bool = False
) -> list[AssetOut]:
    """A page of assets with their current (or, for restricted viewers, published) versions."""
    versions = service.current_versions(session, assets, published=published)
    campaigns = service.campaign_ids_for(session, [a.id for a in assets])
    performance = asset_performance(session, [a.id for a in assets])
    return [
        asset_out(
            a,
            version=versions.get(a.id),
            campaign_ids=campaigns[a.id],
            performance=performance[a.id],
        )
        for a in assets
    ]
