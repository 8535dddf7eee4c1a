"""The asset JSON: rows of the asset, its campaigns' performance and its look-alikes, in the one
place the response is assembled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from dam.assets import service
from dam.assets.metadata import Metadata
from dam.assets.previews import media_facts
from dam.assets.previews import status as preview_status
from dam.assets.schemas import (
    ComplianceOut,
    EmbeddedOut,
    MetadataOut,
    PublishedOut,
    VersionDetailOut,
    VersionOut,
)
from dam.campaigns.reports import asset_performance
from dam.campaigns.schemas import AssetPerformance
from dam.governance.pack import GovernancePack
from dam.media.embedded import EmbeddedMetadata
from dam.models import Asset, AssetVersion
from dam.principal import Principal
from dam.search.similar import find_similar
from dam.views.schemas import AssetOut


def embedded_out(version: AssetVersion, *, location: bool) -> EmbeddedOut | None:
    if not version.embedded:
        return None
    shown = EmbeddedMetadata.from_json(version.embedded).to_json(include_location=location)
    return EmbeddedOut(
        fields=shown["embedded"],
        problems=shown["problems"],
        blocks=shown["blocks"],
        prefilled=dict(version.embedded.get("prefilled") or {}),
    )


def version_out(version: AssetVersion, *, location: bool = False) -> VersionOut:
    """`location`: the viewer may see GPS and place names (the pack's metadata.yaml)."""
    media = version.media or {}
    stored = (media.get("width"), media.get("height"))
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
        edited_from=version.edited_from,
        stored_width=stored[0] if stored != (version.width, version.height) else None,
        stored_height=stored[1] if stored != (version.width, version.height) else None,
        bit_depth=media.get("bit_depth"),
        embedded=embedded_out(version, location=location),
        media=media_facts(version),
        previews=preview_status(version),
        renditions=sorted(version.renditions),
        created_at=version.created_at,
        created_by=version.created_by,
    )


def version_detail(version: AssetVersion, *, location: bool) -> VersionDetailOut:
    return VersionDetailOut(
        **version_out(version, location=location).model_dump(),
        metadata=metadata_out(Metadata.of(version)),
    )


def metadata_out(metadata: Metadata) -> MetadataOut:
    return MetadataOut(
        title=metadata.title,
        description=metadata.description,
        tags=list(metadata.tags),
        terms={k: list(v) for k, v in metadata.terms.items()},
        rights_expire_at=metadata.rights_expire_at,
        extra=dict(metadata.extra),
    )


def asset_out(
    asset: Asset,
    *,
    version: AssetVersion | None,
    published: bool,
    campaign_ids: list[str],
    live_version: AssetVersion | None = None,
    performance: AssetPerformance | None = None,
    location: bool = False,
) -> AssetOut:
    """`published`: the published view (the asset row, `version` the published one); else the
    working view (`version` the current one, which carries the metadata, and `live_version`
    the published one to compare it with)."""
    live = Metadata.of(asset)
    shown = live if published or version is None else Metadata.of(version)
    published_out: PublishedOut | None = None
    pending: list[str] = []
    if not published and asset.published_version is not None:
        published_out = PublishedOut(
            **metadata_out(live).model_dump(), version=asset.published_version
        )
        pending = [name for name, value in shown.to_json().items() if value != live.to_json()[name]]
        if version and live_version and version.sha256 != live_version.sha256:
            pending.append("file")
    return AssetOut(
        id=asset.id,
        view="published" if published else "working",
        title=shown.title,
        description=shown.description,
        tags=list(shown.tags),
        terms={k: list(v) for k, v in shown.terms.items()},
        campaign_ids=campaign_ids,
        status=asset.status,
        published_version=asset.published_version,
        rights_expire_at=shown.rights_expire_at,
        extra=dict(shown.extra),
        created_at=asset.created_at,
        updated_at=asset.updated_at,
        current_version=version_out(version, location=location) if version else None,
        published=published_out,
        pending_changes=pending,
        performance=performance,
    )


def present_asset(
    session: Session, asset: Asset, *, published: bool, location: bool = False
) -> AssetOut:
    """One asset in the published view (marketers, automation, webhooks) or the working view;
    `location`: the viewer may see the file's GPS and place names."""
    number = asset.published_version if published else asset.current_version
    version = service.get_version(session, asset, number) if number else None
    live_version = None
    if not published and asset.published_version not in (None, number):
        live_version = service.get_version(session, asset, asset.published_version or 0)
    return asset_out(
        asset,
        version=version,
        published=published,
        live_version=live_version or (version if asset.published_version == number else None),
        campaign_ids=service.campaign_ids_of(session, asset.id),
        location=location,
        performance=asset_performance(session, [asset.id])[asset.id],
    )


def present_assets(
    session: Session, assets: Sequence[Asset], *, published: bool, location: bool = False
) -> list[AssetOut]:
    """A page of assets in one view, with one query per kind of row."""
    versions = service.current_versions(session, assets, published=published)
    live = versions if published else service.current_versions(session, assets, published=True)
    campaigns = service.campaign_ids_for(session, [a.id for a in assets])
    performance = asset_performance(session, [a.id for a in assets])
    return [
        asset_out(
            a,
            version=versions.get(a.id),
            published=published,
            live_version=live.get(a.id),
            location=location,
            campaign_ids=campaigns[a.id],
            performance=performance[a.id],
        )
        for a in assets
    ]


def sees_location(principal: Principal, pack: GovernancePack) -> bool:
    """Whether GPS and place names read from files are shown to this principal."""
    return pack.metadata.may_see_location(principal.role.value)


def asset_for(
    session: Session, asset: Asset, *, principal: Principal, pack: GovernancePack
) -> AssetOut:
    """The asset in the view this principal gets: the one place a route picks it."""
    return present_asset(
        session,
        asset,
        published=principal.sees_only_published,
        location=sees_location(principal, pack),
    )


def assets_for(
    session: Session, assets: Sequence[Asset], *, principal: Principal, pack: GovernancePack
) -> list[AssetOut]:
    return present_assets(
        session,
        assets,
        published=principal.sees_only_published,
        location=sees_location(principal, pack),
    )


def possible_duplicates(session: Session, *, asset: Asset) -> list[dict[str, Any]]:
    """Other assets whose current image looks nearly the same (perceptual hash), nearest first.
    Byte-identical files never get here: they are refused as duplicates."""
    version = service.get_version(session, asset, asset.current_version)
    if not version.phash:
        return []
    return [
        {"asset_id": str(asset_id), "version": number, "distance": distance}
        for asset_id, number, distance in find_similar(
            session, phash=version.phash, exclude_asset_id=asset.id, max_distance=6, limit=10
        )
    ]
