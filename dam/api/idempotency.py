"""`Idempotency-Key`: a retried POST returns the first response instead of acting twice."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.db import insert_new
from dam.errors import Invalid
from dam.models import IdempotencyRecord
from dam.principal import Principal

MAX_KEY_LENGTH = 200


def request_fingerprint(*parts: str | None) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update((part or "").encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def claim(
    session: Session, *, principal: Principal, key: str | None, fingerprint: str, now: datetime
) -> IdempotencyRecord | None:
    """Take the key for this request, or return the response stored under it to replay.

    The key is claimed with an insert that waits for a concurrent request holding the same key
    (PostgreSQL) and then sees its committed response, so simultaneous retries act once and the
    others replay; a claim whose request failed was rolled back with it and is free again."""
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Invalid(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters", code="invalid_idempotency_key"
        )
    claimed = insert_new(
        session,
        IdempotencyRecord,
        {
            "id": uuid.uuid4(),
            "principal_id": principal.id,
            "key": key,
            "request_hash": fingerprint,
            "status_code": 0,  # not answered yet: `remember` stores the response
            "response": {},
            "created_at": now,
        },
        unique=("principal_id", "key"),
    )
    if claimed:
        return None
    found = session.exec(
        select(IdempotencyRecord).where(
            IdempotencyRecord.principal_id == principal.id, IdempotencyRecord.key == key
        )
    ).one()
    if found.request_hash != fingerprint:
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
    status_code: int,
    body: dict[str, Any],
) -> None:
    """Store the response under the key `claim` took, in the transaction of the change."""
    if key is None:
        return
    session.execute(
        sa.update(IdempotencyRecord)
        .where(
            col(IdempotencyRecord.principal_id) == principal.id,
            col(IdempotencyRecord.key) == key,
        )
        .values(status_code=status_code, response=body)
    )
