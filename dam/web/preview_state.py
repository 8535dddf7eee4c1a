"""The asset page's small poll (`static/preview.js`): whether the renditions of the version
shown are made yet, without loading the whole asset. Same visibility as the asset page:
marketers get the published version's state only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dam.api.deps import AssetDep, PrincipalDep, SessionDep
from dam.assets import service as asset_service
from dam.assets.access import visible_version
from dam.assets.previews import status as preview_status

router = APIRouter(include_in_schema=False)


@router.get("/assets/{asset_id}/preview-state")
def preview_state(asset: AssetDep, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """`number` of the version the caller sees, the `renditions` made so far and the
    `previews` status (none | pending | ready | failed, with what is still pending)."""
    version = asset_service.get_version(session, asset, visible_version(principal, asset, None))
    return {
        "number": version.number,
        "renditions": sorted((version.renditions or {}).keys()),
        "previews": preview_status(version),
    }


__all__ = ["router"]
