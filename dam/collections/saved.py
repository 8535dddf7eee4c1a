"""Saved searches: a query and filters as `GET /api/v1/search` takes them, kept under a name,
run again on demand, and, with `notify`, checked by the worker (`check_saved_searches`, a
periodic task) so every asset that newly matches is announced once as a
`saved_search.matched` event (webhook subscribers receive it; the published view of the
asset, like every webhook). A search runs as its owner: marketers' searches only ever match
published, live assets.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from sqlmodel import Session, col, select

from dam.audit.service import record
from dam.collections.schemas import SavedSearchIn, SavedSearchOut, SavedSearchPatch
from dam.context import Context
from dam.db import insert_new, session_scope
from dam.errors import DamError, Invalid, NotFound
from dam.events import emit
from dam.governance.pack import GovernancePack
from dam.models import ApiKey, Asset, SavedSearch, SavedSearchMatch, User
from dam.principal import Principal
from dam.search import service as search
from dam.search.base import SortOrder
from dam.search.schemas import SearchPage, SearchParams

log = logging.getLogger("dam.collections.saved")

MATCHED_EVENT = "saved_search.matched"
# How often the worker looks for new matches of one saved search.
CHECK_EVERY = timedelta(minutes=5)
# The newest results looked at per check: a search that gains more between two checks
# announces the newest of them.
WINDOW = 100
LIST_FILTERS = ("status", "review_state", "type", "campaign", "tag", "compliance", "orientation")
MAX_PER_OWNER = 200


def _strings(name: str, value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in values):
        raise Invalid(f"query.{name} must be a string or a list of strings", code="invalid_query")
    return values


def normalize_query(query: dict[str, Any], *, pack: GovernancePack) -> dict[str, Any]:
    """The query in a canonical form: known keys only, lists for the repeatable ones."""
    out: dict[str, Any] = {}
    for name, value in query.items():
        if name == "q":
            if value is not None and not isinstance(value, str):
                raise Invalid("query.q must be a string", code="invalid_query")
            if value:
                out["q"] = value
        elif name == "sort":
            if value not in (None, "", *[s.value for s in SortOrder]):
                raise Invalid(
                    f"query.sort must be one of {', '.join(s.value for s in SortOrder)}",
                    code="invalid_query",
                )
            if value:
                out["sort"] = value
        elif name in LIST_FILTERS or pack.has_facet(name):
            values = _strings(name, value)
            if values:
                out[name] = values
        else:
            raise Invalid(
                f"query.{name} is not a search parameter; use q, sort, "
                f"{', '.join(LIST_FILTERS)} or a facet id of the pack",
                code="invalid_query",
            )
    return out


def params_of(
    query: dict[str, Any], *, pack: GovernancePack, page: int = 1, page_size: int = 25, **kw: Any
) -> SearchParams:
    facets = {k: v for k, v in query.items() if pack.has_facet(k)}
    fixed = {k: v for k, v in query.items() if k in LIST_FILTERS}
    try:
        return SearchParams(
            q=query.get("q"),
            sort=query.get("sort") or None,
            facets=facets,
            page=page,
            page_size=page_size,
            **fixed,
            **kw,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise Invalid(f"query.{where}: {first.get('msg')}", code="invalid_query") from exc


def _checked(query: dict[str, Any], *, ctx: Context, principal: Principal) -> dict[str, Any]:
    pack = ctx.governance.pack
    query = normalize_query(query, pack=pack)
    # The same checks as a search: a saved search that could never run is refused now.
    try:
        search.build_request(params_of(query, pack=pack), pack=pack, principal=principal)
    except DamError as exc:
        raise Invalid(f"this search cannot run: {exc.detail}", code="invalid_query") from exc
    return query


def library_url(query: dict[str, Any]) -> str:
    pairs: list[tuple[str, str]] = []
    for name, value in query.items():
        for v in value if isinstance(value, list) else [value]:
            pairs.append((name, str(v)))
    return "/library" + (f"?{urlencode(pairs)}" if pairs else "")


def saved_out(row: SavedSearch) -> SavedSearchOut:
    return SavedSearchOut(
        id=row.id,
        name=row.name,
        query=row.params,
        notify=row.notify,
        checked_at=row.checked_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        library_url=library_url(row.params),
    )


def create(session: Session, *, ctx: Context, data: SavedSearchIn, actor: Principal) -> SavedSearch:
    query = _checked(data.query, ctx=ctx, principal=actor)
    owned = len(list_for(session, principal=actor))
    if owned >= MAX_PER_OWNER:
        raise Invalid(f"at most {MAX_PER_OWNER} saved searches each", code="too_many_searches")
    now = ctx.now()
    row = SavedSearch(
        owner_id=actor.id,
        owner_name=actor.name,
        owner_role=actor.role.value,
        owner_kind=actor.kind,
        name=data.name,
        params=query,
        notify=data.notify,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    if row.notify:
        _baseline(session, ctx=ctx, row=row, principal=actor, now=now)
    record(
        session,
        actor=actor,
        action="saved_search.created",
        now=now,
        target=f"saved_search:{row.id}",
        changes={"name": row.name, "query": query, "notify": row.notify},
    )
    return row


def list_for(session: Session, *, principal: Principal) -> list[SavedSearch]:
    return list(
        session.exec(
            select(SavedSearch)
            .where(col(SavedSearch.owner_id) == principal.id)
            .order_by(col(SavedSearch.name), col(SavedSearch.id))
        )
    )


def get(session: Session, saved_id: uuid.UUID, *, principal: Principal) -> SavedSearch:
    """Saved searches are personal: another principal's answers like a missing one."""
    row = session.get(SavedSearch, saved_id)
    if row is None or row.owner_id != principal.id:
        raise NotFound(f"no saved search {saved_id}", code="saved_search_not_found")
    return row


def update(
    session: Session,
    *,
    ctx: Context,
    row: SavedSearch,
    patch: SavedSearchPatch,
    actor: Principal,
) -> SavedSearch:
    now = ctx.now()
    sent = patch.model_fields_set
    if "name" in sent and patch.name is not None:
        row.name = patch.name
    if "query" in sent and patch.query is not None:
        row.params = _checked(patch.query, ctx=ctx, principal=actor)
    turned_on = "notify" in sent and patch.notify and not row.notify
    if "notify" in sent and patch.notify is not None:
        row.notify = patch.notify
    row.updated_at = now
    session.add(row)
    if turned_on or ("query" in sent and row.notify):
        _baseline(session, ctx=ctx, row=row, principal=actor, now=now)
    record(
        session,
        actor=actor,
        action="saved_search.updated",
        now=now,
        target=f"saved_search:{row.id}",
        changes={"name": row.name, "query": row.params, "notify": row.notify},
    )
    return row


def delete(session: Session, *, ctx: Context, row: SavedSearch, actor: Principal) -> None:
    record(
        session,
        actor=actor,
        action="saved_search.deleted",
        now=ctx.now(),
        target=f"saved_search:{row.id}",
        changes={"name": row.name},
    )
    session.delete(row)


def run(
    session: Session,
    *,
    ctx: Context,
    row: SavedSearch,
    principal: Principal,
    page: int = 1,
    page_size: int = 25,
) -> SearchPage:
    params = params_of(row.params, pack=ctx.governance.pack, page=page, page_size=page_size)
    return search.search_assets(session, ctx=ctx, principal=principal, params=params)


# --- notifications -------------------------------------------------------------------------


def _newest_ids(
    session: Session, *, ctx: Context, row: SavedSearch, principal: Principal
) -> list[uuid.UUID]:
    query = {**row.params, "sort": SortOrder.newest.value}
    params = params_of(query, pack=ctx.governance.pack, page_size=WINDOW, facet_counts=False)
    return [
        hit.id
        for hit in search.search_assets(session, ctx=ctx, principal=principal, params=params).items
    ]


def _baseline(
    session: Session, *, ctx: Context, row: SavedSearch, principal: Principal, now: datetime
) -> None:
    """What matches now is known, not new: only later matches are announced."""
    for asset_id in _newest_ids(session, ctx=ctx, row=row, principal=principal):
        insert_new(
            session,
            SavedSearchMatch,
            {"saved_search_id": row.id, "asset_id": asset_id, "seen_at": now},
            unique=("saved_search_id", "asset_id"),
        )
    row.checked_at = now


def owner_of(session: Session, row: SavedSearch) -> Principal | None:
    """The owner as they are now; None when they can no longer search (disabled, revoked)."""
    if row.owner_kind == "user":
        user = session.get(User, row.owner_id)
        if user is None or user.disabled:
            return None
        return Principal(id=user.id, name=user.name or user.email, role=user.role, kind="user")
    key = session.get(ApiKey, row.owner_id)
    if key is None or key.revoked_at is not None:
        return None
    return Principal(
        id=key.id,
        name=key.name,
        role=key.role,
        kind="key",
        campaign_scope=tuple(key.campaign_scope) if key.campaign_scope else None,
    )


def check_one(session: Session, *, ctx: Context, row: SavedSearch, now: datetime) -> int:
    """Announces the assets that match `row` and were not announced before; returns how
    many. Idempotent: a match is recorded in the transaction of its event."""
    principal = owner_of(session, row)
    row.checked_at = now
    session.add(row)
    if principal is None:
        return 0
    announced = 0
    for asset_id in _newest_ids(session, ctx=ctx, row=row, principal=principal):
        fresh = insert_new(
            session,
            SavedSearchMatch,
            {"saved_search_id": row.id, "asset_id": asset_id, "seen_at": now},
            unique=("saved_search_id", "asset_id"),
        )
        if not fresh:
            continue
        asset = session.get(Asset, asset_id)
        if asset is None:
            continue
        emit(
            session,
            MATCHED_EVENT,
            asset=asset,
            now=now,
            version=asset.published_version if principal.sees_only_published else None,
            data={
                "saved_search_id": str(row.id),
                "saved_search": row.name,
                "owner_id": str(row.owner_id),
                "owner": row.owner_name,
            },
        )
        announced += 1
    return announced


def check_saved_searches(ctx: Context) -> None:
    """The worker's periodic task: every notifying search not checked for CHECK_EVERY."""
    now = ctx.now()
    with session_scope(ctx.engine) as session:
        due = list(
            session.exec(
                select(SavedSearch.id).where(
                    col(SavedSearch.notify).is_(True),
                    (col(SavedSearch.checked_at).is_(None))
                    | (col(SavedSearch.checked_at) <= now - CHECK_EVERY),
                )
            )
        )
    for saved_id in due:
        try:
            with session_scope(ctx.engine) as session:
                row = session.get(SavedSearch, saved_id)
                if row is not None and row.notify:
                    check_one(session, ctx=ctx, row=row, now=now)
        except DamError:
            log.warning("saved search %s cannot run any more; skipped", saved_id, exc_info=True)
