from __future__ import annotations

import uuid

from fastapi import APIRouter

from dam.api.deps import Admin, ContextDep, PrincipalDep, SessionDep
from dam.assets.campaign_ids import normalize_campaign_id
from dam.auth import service
from dam.auth.schemas import KeyCreate, KeyCreated, KeyOut, Me
from dam.models import ApiKey

router = APIRouter(prefix="/api/v1", tags=["keys"])


def key_out(key: ApiKey) -> KeyOut:
    return KeyOut(
        id=key.id,
        name=key.name,
        role=key.role,
        prefix=key.prefix,
        campaign_ids=key.campaign_scope,
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
    )


@router.get("/me", response_model=Me)
def me(principal: PrincipalDep) -> Me:
    return Me(id=principal.id, name=principal.name, role=principal.role, kind=principal.kind)


@router.post("/keys", status_code=201, response_model=KeyCreated)
def create_key(body: KeyCreate, ctx: ContextDep, session: SessionDep, actor: Admin) -> KeyCreated:
    """Create an API key. The secret is in the response once and never again."""
    scope = (
        [normalize_campaign_id(c) for c in body.campaign_ids]
        if body.campaign_ids is not None
        else None
    )
    key, plaintext = service.create_key(
        session,
        role=body.role,
        name=body.name,
        actor=actor,
        now=ctx.now(),
        expires_at=body.expires_at,
        campaign_scope=scope,
    )
    return KeyCreated(**key_out(key).model_dump(), key=plaintext)


@router.get("/keys", response_model=list[KeyOut])
def list_keys(session: SessionDep, actor: Admin) -> list[KeyOut]:
    return [key_out(k) for k in service.list_keys(session)]


@router.delete("/keys/{key_id}", response_model=KeyOut)
def revoke_key(key_id: uuid.UUID, ctx: ContextDep, session: SessionDep, actor: Admin) -> KeyOut:
    key = service.find_key(session, str(key_id))
    return key_out(service.revoke_key(session, key=key, actor=actor, now=ctx.now()))
