"""`Idempotency-Key`: a retried POST returns the first response instead of acting twice."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlmodel import Session, select

from dam.errors import Invalid
from dam.models import IdempotencyRecord
from dam.models.types import utcnow
from dam.principal import Principal

MAX_KEY_LENGTH = 200


def request_fingerprint(*parts: str | None) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update((part or "").encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def replay(
    session: Session, *, principal: Principal, key: str | None, fingerprint: str
) -> IdempotencyRecord | None:
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Invalid(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters", code="invalid_idempotency_key"
        )
    found = session.exec(
        select(IdempotencyRecord).where(
            IdempotencyRecord.principal_id == principal.id, IdempotencyRecord.key == key
        )
    ).first()
    if found is not None and found.request_hash != fingerprint:
        raise Invalid(
            "this Idempotency-Key was already used for a different request",
            code="idempotency_key_reused",
        )
    return found


def remember(
    session: Session,
    *,
    principal: Principal,
    key: str | None,
    fingerprint: str,
    status_code: int,
    body: dict[str, Any],
) -> None:
    if key is None:
        return
    session.add(
        IdempotencyRecord(
            principal_id=principal.id,
            key=key,
            request_hash=fingerprint,
            status_code=status_code,
            response=body,
            created_at=utcnow(),
        )
    )
