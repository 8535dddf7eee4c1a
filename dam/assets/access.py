"""Who may see which asset and which of its versions. Used by every route that loads an asset."""

from __future__ import annotations

import uuid
from typing import Annotated, Protocol

from fastapi import Depends

from dam.auth.principal import Principal
from dam.deps import PrincipalDep, SessionDep
from dam.errors import NotFound
from dam.models import Asset, AssetStatus


class Publishable(Protocol):
    """What visibility reads: an Asset, or a row with these columns."""

    status: AssetStatus
    published_version: int | None


def is_visible(principal: Principal, asset: Publishable) -> bool:
    """Marketers and automation see only live assets that have a published version."""
    if not principal.sees_only_published:
        return True
    return asset.status == AssetStatus.active and asset.published_version is not None


def visible_version(principal: Principal, asset: Asset, requested: int | None) -> int:
    """The version a principal gets: restricted roles only ever get the published one."""
    if principal.sees_only_published:
        assert asset.published_version is not None  # is_visible() was checked first
        if requested is not None and requested != asset.published_version:
            raise NotFound(
                f"asset {asset.id} has no version {requested} available to you",
                code="version_not_found",
            )
        return asset.published_version
    return requested if requested is not None else asset.current_version


def load_asset(asset_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Asset:
    asset = session.get(Asset, asset_id)
    # Invisible assets answer exactly like missing ones, so their existence does not leak.
    if asset is None or not is_visible(principal, asset):
        raise NotFound(f"no asset {asset_id}", code="asset_not_found")
    return asset


AssetDep = Annotated[Asset, Depends(load_asset)]

__all__ = ["AssetDep", "is_visible", "load_asset", "visible_version"]
