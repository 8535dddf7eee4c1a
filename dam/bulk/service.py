"""`POST /api/v1/assets/bulk`: the actions of a request applied to each selected asset.

Each asset is checked as the single-asset routes check it: visible to the caller (or it is
`asset_not_found`, like a missing one), the caller's role allowed for the action, and then the
same service function (`assets.service.update_metadata`, `campaigns.service`,
`workflow.service`, `assets.service.archive_asset`), so governance, review rules, audit and
events are exactly those of a single edit. An asset's actions run in a savepoint: a refused
action undoes that asset's earlier actions and no other asset's. Nothing is skipped silently:
every asset gets a result.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import Session

from dam.assets import service as assets
from dam.assets.access import is_visible
from dam.assets.campaign_ids import normalize_campaign_id
from dam.assets.schemas import AssetPatch, clean_tags
from dam.bulk.schemas import (
    ApproveAction,
    ArchiveAction,
    BulkAction,
    BulkItemOut,
    BulkOut,
    CampaignsAction,
    EditAction,
    RejectAction,
    SubmitAction,
)
from dam.campaigns import service as campaigns
from dam.context import Context
from dam.errors import DamError, Forbidden, NotFound
from dam.governance.pack import GovernancePack
from dam.models import Asset, AssetCampaign, Role
from dam.principal import REVIEWERS, UPLOADERS, Principal
from dam.workflow import service as workflow

TAGGERS = frozenset({*UPLOADERS, Role.marketer})


def _allow(actor: Principal, roles: frozenset[Role], action: str) -> None:
    if actor.role not in roles:
        raise Forbidden(
            f"the {actor.role.value} role may not {action.replace('_', ' ')} assets "
            f"(allowed: {', '.join(sorted(r.value for r in roles))})",
            code="forbidden",
        )


def _resolve(pack: GovernancePack, facet: str, term: str) -> tuple[str, str]:
    """A facet and term as ids (labels and synonyms allowed), or as given when unknown (the
    assessment then names them)."""
    facet_id = pack.resolve_facet(facet) or facet
    found = pack.facet(facet_id).resolve(term) if pack.resolve_facet(facet) else None
    return facet_id, found or term


def _edit_patch(session: Session, ctx: Context, asset: Asset, action: EditAction) -> AssetPatch:
    patch = action.set.model_dump(exclude_unset=True) if action.set is not None else {}
    if action.set_terms or action.add_terms or action.remove_terms:
        pack = ctx.governance.pack
        current = assets.get_version(session, asset, asset.current_version)
        terms: dict[str, list[str]] = {
            facet: list(values) for facet, values in (patch.get("terms") or current.terms).items()
        }
        for facet, values in action.set_terms.items():
            facet_id = pack.resolve_facet(facet) or facet
            terms[facet_id] = [_resolve(pack, facet, value)[1] for value in values]
        for facet, values in action.add_terms.items():
            for value in values:
                facet_id, term = _resolve(pack, facet, value)
                picked = terms.setdefault(facet_id, [])
                if term not in picked:
                    picked.append(term)
        for facet, values in action.remove_terms.items():
            for value in values:
                facet_id, term = _resolve(pack, facet, value)
                if term in terms.get(facet_id, []):
                    terms[facet_id].remove(term)
        patch["terms"] = {facet: values for facet, values in terms.items() if values}
    if action.add_tags or action.remove_tags:
        current = assets.get_version(session, asset, asset.current_version)
        tags = list(patch.get("tags") or current.tags) + list(action.add_tags)
        removed = set(action.remove_tags)
        patch["tags"] = [t for t in clean_tags(tags, strict=False) if t not in removed]
    return AssetPatch.model_validate(patch)


def _apply(
    session: Session, ctx: Context, asset: Asset, action: BulkAction, actor: Principal
) -> bool:
    """Run one action on one asset; True when it changed something."""
    before = asset.revision
    if isinstance(action, EditAction):
        _allow(actor, UPLOADERS, "edit")
        patch = _edit_patch(session, ctx, asset, action)
        assets.update_metadata(
            session, ctx=ctx, asset=asset, patch=patch, actor=actor, if_match=None
        )
    elif isinstance(action, CampaignsAction):
        _allow(actor, TAGGERS, action.action)
        if action.action == "tag_campaigns":
            linked = set(assets.campaign_ids_of(session, asset.id))
            campaigns.add_asset_campaigns(
                session, ctx=ctx, asset=asset, campaign_ids=action.campaign_ids, actor=actor
            )
            return set(assets.campaign_ids_of(session, asset.id)) != linked
        changed = False
        for raw in action.campaign_ids:
            cid = normalize_campaign_id(raw)
            if session.get(AssetCampaign, (asset.id, cid)) is not None:
                campaigns.remove_asset_campaign(
                    session, ctx=ctx, asset=asset, campaign_id=cid, actor=actor
                )
                changed = True
        return changed
    elif isinstance(action, SubmitAction):
        _allow(actor, UPLOADERS, "submit")
        workflow.submit(session, ctx=ctx, asset=asset, actor=actor)
    elif isinstance(action, ApproveAction):
        _allow(actor, REVIEWERS, "approve")
        workflow.approve(session, ctx=ctx, asset=asset, actor=actor)
    elif isinstance(action, RejectAction):
        _allow(actor, REVIEWERS, "reject")
        workflow.reject(session, ctx=ctx, asset=asset, actor=actor, reason=action.reason)
    elif isinstance(action, ArchiveAction):
        _allow(actor, UPLOADERS, "archive")
        assets.archive_asset(session, ctx=ctx, asset=asset, actor=actor)
    session.flush()
    return asset.revision != before


def run_bulk(
    session: Session,
    *,
    ctx: Context,
    asset_ids: Sequence[uuid.UUID],
    actions: Sequence[BulkAction],
    actor: Principal,
) -> BulkOut:
    items: list[BulkItemOut] = []
    for asset_id in asset_ids:
        done: list[str] = []
        try:
            with session.begin_nested():
                asset = session.get(Asset, asset_id)
                if asset is None or not is_visible(actor, asset):
                    raise NotFound(f"no asset {asset_id}", code="asset_not_found")
                for action in actions:
                    if _apply(session, ctx, asset, action, actor):
                        done.append(action.action)
                session.flush()
        except DamError as exc:
            items.append(
                BulkItemOut(asset_id=asset_id, ok=False, status=exc.status_code, error=exc.body())
            )
            continue
        items.append(
            BulkItemOut(asset_id=asset_id, ok=True, status=200, done=done, etag=assets.etag(asset))
        )
    failed = sum(1 for item in items if not item.ok)
    return BulkOut(total=len(items), succeeded=len(items) - failed, failed=failed, items=items)
