"""The `search.index` outbox job: written with every asset change (see dam.events.emit)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session

from dam.context import Context
from dam.jobs.registry import handler
from dam.search.service import JOB_KIND, index_assets


@handler(JOB_KIND)
def index_asset(ctx: Context, session: Session, payload: dict[str, Any]) -> None:
    index_assets(session, ctx=ctx, asset_ids=[uuid.UUID(str(payload["asset_id"]))])
