"""Campaign ids are external ids as marketing platforms use them, e.g. `SPRING26-EMAIL`."""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session, col, select

from dam.db import insert_new
from dam.errors import Invalid
from dam.models import Campaign

CAMPAIGN_ID = re.compile(r"^[A-Z0-9][A-Z0-9_.-]{1,63}$")


def normalize_campaign_id(raw: str) -> str:
    value = raw.strip().upper()
    if not CAMPAIGN_ID.match(value):
        raise Invalid(
            f"campaign id {raw!r} is not valid: use 2-64 letters, digits, '-', '_' or '.'",
            code="invalid_campaign_id",
        )
    return value


def check_campaigns(
    session: Session, raw_ids: list[str], *, auto_create: bool
) -> tuple[list[str], list[str]]:
    """The normalised ids and those not known yet; unknown ones refused unless the settings
    let an upload create them. Creates nothing."""
    ids = list(dict.fromkeys(normalize_campaign_id(raw) for raw in raw_ids))
    if not ids:
        return [], []
    known = set(session.exec(select(Campaign.id).where(col(Campaign.id).in_(ids))))
    unknown = [cid for cid in ids if cid not in known]
    if unknown and not auto_create:
        raise Invalid(
            f"unknown campaign ids: {', '.join(unknown)}; create them first "
            "(POST /api/v1/campaigns)",
            code="unknown_campaign",
            campaign_ids=unknown,
        )
    return ids, unknown


def resolve_campaigns(
    session: Session, raw_ids: list[str], *, auto_create: bool, now: datetime
) -> list[str]:
    """Normalise ids and check they exist (or create them when the settings allow)."""
    ids, unknown = check_campaigns(session, raw_ids, auto_create=auto_create)
    for cid in unknown:
        # Another upload may be creating the same campaign right now: either insert wins.
        insert_new(
            session,
            Campaign,
            {"id": cid, "name": cid, "created_at": now, "updated_at": now},
            unique=("id",),
        )
    return ids
