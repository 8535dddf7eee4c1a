"""Who may see which asset and which of its versions: the one rule every read path applies."""

from __future__ import annotations

from typing import Protocol

from dam.errors import NotFound
from dam.models import Asset, AssetStatus
from dam.principal import Principal


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


__all__ = ["is_visible", "visible_version"]
