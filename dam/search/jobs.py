"""Keeping the index in step: every domain event re-indexes its asset (the worker calls
`index_event` for each `event` job), and `search.index` jobs re-index one asset on request."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session

from dam.context import Context
from dam.search.service import index_assets, reindex

# A full online rebuild, queued by migrations that change what documents hold.
REBUILD_JOB = "search.rebuild"


def index_asset(ctx: Context, session: Session, payload: dict[str, Any]) -> None:
    index_assets(session, ctx=ctx, asset_ids=[uuid.UUID(str(payload["asset_id"]))])


def index_event(ctx: Context, session: Session, event: dict[str, Any]) -> None:
    if event.get("asset_id"):
        index_assets(session, ctx=ctx, asset_ids=[uuid.UUID(str(event["asset_id"]))])


def rebuild_index(ctx: Context, session: Session, payload: dict[str, Any]) -> None:
    reindex(session, ctx=ctx)
