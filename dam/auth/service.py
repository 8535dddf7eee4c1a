"""API keys: random, `dam_`-prefixed, stored as SHA-256 (they carry 256 bits of entropy, so a
slow password hash would add latency without adding safety), shown once, revocable, expiring."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.audit.service import record
from dam.config import SettingsInvalid
from dam.errors import Invalid, NotFound, Unauthorized
from dam.models import ApiKey, Role
from dam.principal import Principal

KEY_PREFIX = "dam_"
_BOOTSTRAP_NAME = "bootstrap-admin"


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_key(
    session: Session,
    *,
    role: Role,
    name: str,
    actor: Principal,
    now: datetime,
    expires_at: datetime | None = None,
    campaign_scope: list[str] | None = None,
) -> tuple[ApiKey, str]:
    """Returns the row and the plaintext; the plaintext is never stored or shown again."""
    if not name.strip():
        raise Invalid("a key needs a name", code="invalid_key")
    if expires_at is not None and expires_at <= now:
        raise Invalid("expires_at must be in the future", code="invalid_key")
    if campaign_scope is not None and role != Role.automation:
        raise Invalid("only automation keys can be restricted to campaigns", code="invalid_key")
    plaintext = generate_key()
    key = ApiKey(
        name=name.strip(),
        role=role,
        prefix=plaintext[:12],
        key_hash=hash_key(plaintext),
        expires_at=expires_at,
        campaign_scope=sorted(set(campaign_scope)) if campaign_scope is not None else None,
        created_by=actor.id if actor.kind == "key" else None,
        created_at=now,
    )
    session.add(key)
    session.flush()
    record(
        session,
        actor=actor,
        action="key.created",
        target=str(key.id),
        changes={"name": key.name, "role": key.role.value, "expires_at": _iso(expires_at)},
        now=now,
    )
    return key, plaintext


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(ApiKey.created_at)))  # type: ignore[arg-type]


def find_key(session: Session, ident: str) -> ApiKey:
    """Look a key up by id or by its displayed prefix."""
    key: ApiKey | None = None
    try:
        key = session.get(ApiKey, uuid.UUID(ident))
    except ValueError:
        matches = list(session.exec(select(ApiKey).where(ApiKey.prefix == ident)))
        key = matches[0] if len(matches) == 1 else None
    if key is None:
        raise NotFound(f"no API key {ident!r}", code="key_not_found")
    return key


def revoke_key(session: Session, *, key: ApiKey, actor: Principal, now: datetime) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = now
        session.add(key)
        record(
            session,
            actor=actor,
            action="key.revoked",
            target=str(key.id),
            changes={"name": key.name, "revoked_at": _iso(now)},
            now=now,
        )
    return key


# Every API request runs this; built once, and it reads the columns a check needs rather than
# an ORM object (the request's own session runs it, so nothing lands in its identity map).
_KEY_BY_HASH = sa.select(
    col(ApiKey.id),
    col(ApiKey.name),
    col(ApiKey.role),
    col(ApiKey.key_hash),
    col(ApiKey.revoked_at),
    col(ApiKey.expires_at),
    col(ApiKey.campaign_scope),
).where(col(ApiKey.key_hash) == sa.bindparam("digest"))


def authenticate(session: Session, *, token: str, now: datetime) -> Principal:
    """Every call reads the key's row: a revocation or expiry holds from the next request."""
    if not token.startswith(KEY_PREFIX):
        raise Unauthorized("the API key is not valid", code="invalid_key")
    digest = hash_key(token)
    key = session.execute(_KEY_BY_HASH, {"digest": digest}).first()
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        raise Unauthorized("the API key is not valid", code="invalid_key")
    if key.revoked_at is not None:
        raise Unauthorized("the API key has been revoked", code="key_revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthorized("the API key has expired", code="key_expired")
    return Principal(
        id=key.id,
        name=key.name,
        role=key.role,
        campaign_scope=tuple(key.campaign_scope) if key.campaign_scope is not None else None,
    )


def ensure_bootstrap_key(session: Session, *, plaintext: str, now: datetime) -> None:
    """Make `plaintext` a valid admin key (containers pass it in the environment)."""
    if not plaintext.startswith(KEY_PREFIX) or len(plaintext) < 24:
        raise SettingsInvalid(
            "DAM_BOOTSTRAP_ADMIN_KEY must start with 'dam_' and be at least 24 chars"
        )
    digest = hash_key(plaintext)
    if session.exec(select(ApiKey).where(ApiKey.key_hash == digest)).first() is not None:
        return
    session.add(
        ApiKey(
            name=_BOOTSTRAP_NAME,
            role=Role.admin,
            prefix=plaintext[:12],
            key_hash=digest,
            bootstrap=True,
            created_at=now,
        )
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
