"""Collections: who may see and change one, its ordered items, its cover.

A collection is private to its owner (the user or key that made it) and admins until it is
shared with a role (everyone who has it) or a person (a user). Readers see an item only when
they may see the asset: marketers and automation only published, live assets, in the published
view; uploaders and reviewers the working view. The same rule is `dam.assets.access`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.assets.access import is_visible
from dam.audit.service import record
from dam.collections.schemas import (
    CollectionIn,
    CollectionOut,
    CollectionPatch,
    GrantIn,
    GrantOut,
    ItemOut,
)
from dam.db import insert_new
from dam.errors import Conflict, Forbidden, Invalid, NotFound
from dam.models import (
    Asset,
    AssetStatus,
    AssetVersion,
    Collection,
    CollectionGrant,
    CollectionItem,
    Role,
    ShareLink,
    User,
)
from dam.principal import Principal

MAX_ITEMS = 10_000
# Automation keys read what is shared with them; they do not curate.
CURATORS = frozenset({Role.admin, Role.brand_manager, Role.designer, Role.marketer})


@dataclass(frozen=True)
class Rights:
    view: bool
    edit: bool
    manage: bool  # share, rename, delete


def _grants(session: Session, collection_id: uuid.UUID) -> list[CollectionGrant]:
    return list(
        session.exec(
            select(CollectionGrant)
            .where(col(CollectionGrant.collection_id) == collection_id)
            .order_by(col(CollectionGrant.grantee_kind), col(CollectionGrant.grantee))
        )
    )


def rights_of(session: Session, principal: Principal, collection: Collection) -> Rights:
    if principal.role == Role.admin or collection.owner_id == principal.id:
        return Rights(view=True, edit=True, manage=True)
    view = edit = False
    for grant in _grants(session, collection.id):
        if (grant.grantee_kind == "role" and grant.grantee == principal.role.value) or (
            grant.grantee_kind == "user" and grant.grantee == principal.id.hex
        ):
            view = True
            edit = edit or (grant.can_edit and principal.role in CURATORS)
    return Rights(view=view, edit=edit, manage=False)


def get_collection(
    session: Session, collection_id: uuid.UUID, *, principal: Principal
) -> Collection:
    """The collection, or 404 when it does not exist or is not shared with the principal
    (the two answer alike, so a private collection's existence does not leak)."""
    collection = session.get(Collection, collection_id)
    if collection is None or not rights_of(session, principal, collection).view:
        raise NotFound(f"no collection {collection_id}", code="collection_not_found")
    return collection


def _require(session: Session, principal: Principal, collection: Collection, what: str) -> Rights:
    rights = rights_of(session, principal, collection)
    if what == "edit" and not rights.edit:
        raise Forbidden(
            "this collection is shared with you to view; ask its owner for edit rights",
            code="forbidden",
        )
    if what == "manage" and not rights.manage:
        raise Forbidden(
            "only the collection's owner or an admin may rename, share or delete it",
            code="forbidden",
        )
    return rights


def visible_to(principal: Principal) -> sa.ColumnElement[bool]:
    """The collections a principal may see, as a WHERE clause."""
    if principal.role == Role.admin:
        return sa.true()
    granted = select(CollectionGrant.collection_id).where(
        sa.or_(
            sa.and_(
                col(CollectionGrant.grantee_kind) == "role",
                col(CollectionGrant.grantee) == principal.role.value,
            ),
            sa.and_(
                col(CollectionGrant.grantee_kind) == "user",
                col(CollectionGrant.grantee) == principal.id.hex,
            ),
        )
    )
    return sa.or_(col(Collection.owner_id) == principal.id, col(Collection.id).in_(granted))


def list_collections(
    session: Session, *, principal: Principal, q: str | None = None, limit: int = 200
) -> tuple[int, list[Collection]]:
    query = select(Collection).where(visible_to(principal))
    if q:
        query = query.where(col(Collection.name).ilike(f"%{q.strip()}%"))
    total = session.exec(select(sa.func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Collection.updated_at).desc(), col(Collection.id)).limit(limit)
    )
    return total, list(rows)


# --- sharing -------------------------------------------------------------------------------


Grant = tuple[str, str, bool]  # kind (role | user), grantee, can_edit


def _resolve_grants(session: Session, grants: list[GrantIn]) -> list[Grant]:
    out: dict[tuple[str, str], bool] = {}
    for i, grant in enumerate(grants):
        if (grant.role is None) == (grant.email is None):
            raise Invalid(
                f"shared_with[{i}]: name either a role or a person's email, not both or neither",
                code="invalid_share",
                field=f"shared_with.{i}",
            )
        if grant.role is not None:
            key = ("role", grant.role.value)
        else:
            email = (grant.email or "").strip().lower()
            user = session.exec(select(User).where(col(User.email) == email)).first()
            if user is None or user.disabled:
                raise Invalid(
                    f"shared_with[{i}]: nobody has an account with the email {email!r}",
                    code="unknown_person",
                    field=f"shared_with.{i}.email",
                )
            key = ("user", user.id.hex)
        out[key] = grant.can_edit or out.get(key, False)
    return [(kind, who, can_edit) for (kind, who), can_edit in out.items()]


def _replace_grants(
    session: Session, collection: Collection, grants: list[Grant], now: datetime
) -> None:
    session.execute(
        sa.delete(CollectionGrant).where(col(CollectionGrant.collection_id) == collection.id)
    )
    for kind, who, can_edit in grants:
        session.add(
            CollectionGrant(
                collection_id=collection.id,
                grantee_kind=kind,
                grantee=who,
                can_edit=can_edit,
                added_at=now,
            )
        )


def grants_out(session: Session, collection: Collection) -> list[GrantOut]:
    grants = _grants(session, collection.id)
    user_ids = [uuid.UUID(hex=g.grantee) for g in grants if g.grantee_kind == "user"]
    emails = (
        {u.id.hex: u.email for u in session.exec(select(User).where(col(User.id).in_(user_ids)))}
        if user_ids
        else {}
    )
    return [
        GrantOut(kind="role", role=Role(g.grantee), can_edit=g.can_edit)
        if g.grantee_kind == "role"
        else GrantOut(
            kind="user",
            user_id=uuid.UUID(hex=g.grantee),
            email=emails.get(g.grantee),
            can_edit=g.can_edit,
        )
        for g in grants
    ]


# --- changes -------------------------------------------------------------------------------


def create_collection(
    session: Session, *, data: CollectionIn, actor: Principal, now: datetime
) -> Collection:
    if actor.role not in CURATORS:
        raise Forbidden(f"the {actor.role.value} role may not create collections", code="forbidden")
    grants = _resolve_grants(session, data.shared_with)
    collection = Collection(
        name=data.name,
        description=data.description,
        owner_id=actor.id,
        owner_name=actor.name,
        created_at=now,
        updated_at=now,
    )
    session.add(collection)
    session.flush()
    _replace_grants(session, collection, grants, now)
    record(
        session,
        actor=actor,
        action="collection.created",
        now=now,
        target=f"collection:{collection.id}",
        changes={
            "name": data.name,
            "shared_with": [f"{kind}:{who}" for kind, who, _ in grants],
        },
    )
    if data.asset_ids:
        add_items(session, collection=collection, asset_ids=data.asset_ids, actor=actor, now=now)
    return collection


def update_collection(
    session: Session,
    *,
    collection: Collection,
    patch: CollectionPatch,
    actor: Principal,
    now: datetime,
) -> Collection:
    sent = patch.model_fields_set
    changes: dict[str, object] = {}
    if sent & {"name", "description", "shared_with"}:
        _require(session, actor, collection, "manage")
    else:
        _require(session, actor, collection, "edit")
    if "name" in sent and patch.name is not None and patch.name != collection.name:
        changes["name"] = {"before": collection.name, "after": patch.name}
        collection.name = patch.name
    if "description" in sent and patch.description is not None:
        collection.description = patch.description
        changes["description"] = True
    if "cover_asset_id" in sent:
        cover = patch.cover_asset_id
        if cover is not None and session.get(CollectionItem, (collection.id, cover)) is None:
            raise Invalid(
                f"the cover must be an asset of the collection; {cover} is not in it",
                code="invalid_cover",
                field="cover_asset_id",
            )
        changes["cover_asset_id"] = {
            "before": str(collection.cover_asset_id) if collection.cover_asset_id else None,
            "after": str(cover) if cover else None,
        }
        collection.cover_asset_id = cover
    if "shared_with" in sent and patch.shared_with is not None:
        grants = _resolve_grants(session, patch.shared_with)
        _replace_grants(session, collection, grants, now)
        changes["shared_with"] = [f"{kind}:{who}" for kind, who, _ in grants]
    collection.updated_at = now
    session.add(collection)
    record(
        session,
        actor=actor,
        action="collection.updated",
        now=now,
        target=f"collection:{collection.id}",
        changes=changes,
    )
    return collection


def delete_collection(
    session: Session, *, collection: Collection, actor: Principal, now: datetime
) -> None:
    """Deletes the collection (never its assets) and revokes its share links at once."""
    _require(session, actor, collection, "manage")
    session.execute(
        sa.update(ShareLink)
        .where(col(ShareLink.collection_id) == collection.id, col(ShareLink.revoked_at).is_(None))
        .values(revoked_at=now, revoked_by=actor.id)
    )
    session.execute(
        sa.delete(CollectionItem).where(col(CollectionItem.collection_id) == collection.id)
    )
    session.execute(
        sa.delete(CollectionGrant).where(col(CollectionGrant.collection_id) == collection.id)
    )
    record(
        session,
        actor=actor,
        action="collection.deleted",
        now=now,
        target=f"collection:{collection.id}",
        changes={"name": collection.name},
    )
    session.delete(collection)


def _count(session: Session, collection_id: uuid.UUID) -> int:
    return session.exec(
        select(sa.func.count())
        .select_from(CollectionItem)
        .where(col(CollectionItem.collection_id) == collection_id)
    ).one()


def visible_assets(
    session: Session, *, principal: Principal, asset_ids: list[uuid.UUID]
) -> list[Asset]:
    """The assets, in the order given, or 404 naming the first one the principal may not
    see (missing and invisible answer alike)."""
    unique = list(dict.fromkeys(asset_ids))
    rows = {a.id: a for a in session.exec(select(Asset).where(col(Asset.id).in_(unique)))}
    out = []
    for asset_id in unique:
        asset = rows.get(asset_id)
        if asset is None or not is_visible(principal, asset):
            raise NotFound(f"no asset {asset_id}", code="asset_not_found", asset_id=str(asset_id))
        out.append(asset)
    return out


def add_items(
    session: Session,
    *,
    collection: Collection,
    asset_ids: list[uuid.UUID],
    actor: Principal,
    now: datetime,
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Appends the assets the collection does not hold yet, in the order given; returns
    (added, already there). All or nothing: one unknown asset refuses the whole request."""
    _require(session, actor, collection, "edit")
    assets = visible_assets(session, principal=actor, asset_ids=asset_ids)
    present = set(
        session.exec(
            select(CollectionItem.asset_id).where(
                col(CollectionItem.collection_id) == collection.id,
                col(CollectionItem.asset_id).in_([a.id for a in assets]),
            )
        )
    )
    new = [a.id for a in assets if a.id not in present]
    total = _count(session, collection.id)
    if total + len(new) > MAX_ITEMS:
        raise Conflict(
            f"a collection holds at most {MAX_ITEMS} assets; this one has {total}",
            code="collection_full",
        )
    last = session.exec(
        select(sa.func.max(CollectionItem.position)).where(
            col(CollectionItem.collection_id) == collection.id
        )
    ).one()
    position = (last if last is not None else -1) + 1
    inserted = []
    for asset_id in new:
        # Atomic: two people adding the same asset at once make one item, not an error.
        if insert_new(
            session,
            CollectionItem,
            {
                "collection_id": collection.id,
                "asset_id": asset_id,
                "position": position,
                "added_by": actor.id,
                "added_at": now,
            },
            unique=("collection_id", "asset_id"),
        ):
            inserted.append(asset_id)
            position += 1
    present |= set(new) - set(inserted)
    new = inserted
    if new:
        collection.updated_at = now
        session.add(collection)
        record(
            session,
            actor=actor,
            action="collection.assets_added",
            now=now,
            target=f"collection:{collection.id}",
            changes={"assets": [str(a) for a in new]},
        )
    return new, [a.id for a in assets if a.id in present]


def remove_item(
    session: Session,
    *,
    collection: Collection,
    asset_id: uuid.UUID,
    actor: Principal,
    now: datetime,
) -> None:
    _require(session, actor, collection, "edit")
    item = session.get(CollectionItem, (collection.id, asset_id))
    asset = session.get(Asset, asset_id)
    if item is None or asset is None or not is_visible(actor, asset):
        raise NotFound(f"asset {asset_id} is not in this collection", code="item_not_found")
    session.delete(item)
    if collection.cover_asset_id == asset_id:
        collection.cover_asset_id = None
    collection.updated_at = now
    session.add(collection)
    record(
        session,
        actor=actor,
        action="collection.asset_removed",
        now=now,
        target=f"collection:{collection.id}",
        asset_id=asset_id,
    )


def reorder(
    session: Session,
    *,
    collection: Collection,
    asset_ids: list[uuid.UUID],
    actor: Principal,
    now: datetime,
) -> None:
    """The new order names every asset of the collection exactly once. A reader who sees
    only published assets cannot reorder what they cannot see: only full views reorder."""
    _require(session, actor, collection, "edit")
    items = {
        i.asset_id: i
        for i in session.exec(
            select(CollectionItem).where(col(CollectionItem.collection_id) == collection.id)
        )
    }
    if len(asset_ids) != len(set(asset_ids)) or set(asset_ids) != set(items):
        missing = len(set(items) - set(asset_ids))
        extra = len(set(asset_ids) - set(items))
        raise Invalid(
            "the order must name every asset of the collection exactly once "
            f"({missing} missing, {extra} not in the collection, "
            f"{len(asset_ids) - len(set(asset_ids))} repeated)",
            code="invalid_order",
            field="asset_ids",
        )
    for position, asset_id in enumerate(asset_ids):
        items[asset_id].position = position
        session.add(items[asset_id])
    collection.updated_at = now
    session.add(collection)
    record(
        session,
        actor=actor,
        action="collection.reordered",
        now=now,
        target=f"collection:{collection.id}",
    )


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One item as a reader sees it: the asset and the version they get."""

    item: CollectionItem
    asset: Asset
    version: AssetVersion


def _visible_filter(published_only: bool) -> list[sa.ColumnElement[bool]]:
    if not published_only:
        return []
    return [col(Asset.status) == AssetStatus.active, col(Asset.published_version).is_not(None)]


def entries(
    session: Session,
    *,
    collection_id: uuid.UUID,
    published_only: bool,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[int, list[Entry]]:
    """The items in order, each with the version its reader gets: the published one for
    published-only readers (marketers, automation, share links), else the current one."""
    number = Asset.published_version if published_only else Asset.current_version
    base = (
        select(CollectionItem, Asset, AssetVersion)
        .join(Asset, col(Asset.id) == col(CollectionItem.asset_id))
        .join(
            AssetVersion,
            sa.and_(
                col(AssetVersion.asset_id) == col(Asset.id), col(AssetVersion.number) == number
            ),
        )
        .where(col(CollectionItem.collection_id) == collection_id, *_visible_filter(published_only))
    )
    total = session.exec(select(sa.func.count()).select_from(base.subquery())).one()
    query = base.order_by(col(CollectionItem.position), col(CollectionItem.asset_id)).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    rows = session.exec(query)
    return total, [Entry(item=i, asset=a, version=v) for i, a, v in rows]


def count_entries(session: Session, *, collection_id: uuid.UUID, published_only: bool) -> int:
    """How many items the reader sees (every item has its current version; the published
    filter is the only thing that hides one)."""
    query = (
        select(sa.func.count())
        .select_from(CollectionItem)
        .join(Asset, col(Asset.id) == col(CollectionItem.asset_id))
        .where(col(CollectionItem.collection_id) == collection_id, *_visible_filter(published_only))
    )
    return session.exec(query).one()


def thumbnail_url(asset: Asset, version: AssetVersion) -> str | None:
    if "thumb" not in (version.renditions or {}):
        return None
    return f"/api/v1/assets/{asset.id}/renditions/thumb?version={version.number}"


def item_out(entry: Entry, *, published_only: bool) -> ItemOut:
    asset, version = entry.asset, entry.version
    return ItemOut(
        asset_id=asset.id,
        position=entry.item.position,
        # The published view's title lives on the asset row, the working view's on the version.
        title=asset.title if published_only else version.title,
        status=asset.status,
        version=version.number,
        published_version=asset.published_version,
        kind=version.kind,
        filename=version.filename,
        thumbnail_url=thumbnail_url(asset, version),
        added_at=entry.item.added_at,
    )


def cover_of(session: Session, collection: Collection, *, published_only: bool) -> Entry | None:
    """The chosen cover when the reader may see it, else the first asset they may see."""
    if collection.cover_asset_id is not None:
        number = Asset.published_version if published_only else Asset.current_version
        row = session.exec(
            select(CollectionItem, Asset, AssetVersion)
            .join(Asset, col(Asset.id) == col(CollectionItem.asset_id))
            .join(
                AssetVersion,
                sa.and_(
                    col(AssetVersion.asset_id) == col(Asset.id),
                    col(AssetVersion.number) == number,
                ),
            )
            .where(
                col(CollectionItem.collection_id) == collection.id,
                col(CollectionItem.asset_id) == collection.cover_asset_id,
                *_visible_filter(published_only),
            )
        ).first()
        if row is not None:
            return Entry(item=row[0], asset=row[1], version=row[2])
    _, first = entries(session, collection_id=collection.id, published_only=published_only, limit=1)
    return first[0] if first else None


def collection_out(
    session: Session, collection: Collection, *, principal: Principal
) -> CollectionOut:
    published_only = principal.sees_only_published
    rights = rights_of(session, principal, collection)
    total = count_entries(session, collection_id=collection.id, published_only=published_only)
    cover = cover_of(session, collection, published_only=published_only)
    return CollectionOut(
        id=collection.id,
        name=collection.name,
        description=collection.description,
        owner_id=collection.owner_id,
        owner_name=collection.owner_name,
        cover_asset_id=cover.asset.id if cover else None,
        cover_thumbnail_url=thumbnail_url(cover.asset, cover.version) if cover else None,
        item_count=total,
        can_edit=rights.edit,
        can_manage=rights.manage,
        shared_with=grants_out(session, collection),
        created_at=collection.created_at,
        updated_at=collection.updated_at,
    )


def collections_holding(
    session: Session, *, asset_id: uuid.UUID, principal: Principal
) -> list[Collection]:
    """The collections the principal sees that hold this asset (the asset page lists them)."""
    return list(
        session.exec(
            select(Collection)
            .join(CollectionItem, col(CollectionItem.collection_id) == col(Collection.id))
            .where(col(CollectionItem.asset_id) == asset_id, visible_to(principal))
            .order_by(col(Collection.name))
        )
    )
