"""Rights expiry: a sweep the worker runs. (Renewal when `rights_expire_at` is edited is part of
the edit itself: `dam.assets.service.renew_rights`.)"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, or_, select

from dam.assets.service import bump_revision
from dam.audit.service import record
from dam.context import Context
from dam.db import session_scope
from dam.events import emit
from dam.models import Asset, AssetStatus
from dam.principal import SYSTEM

# The worker loop polls every second; sweeping every 20 s still expires assets well within the
# promised minute while keeping the query off the database most of the time.
SWEEP_INTERVAL = timedelta(seconds=20)
# Bounded so one sweep's transaction stays short; anything left is taken on the next sweep.
SWEEP_BATCH = 500
_NEXT_SWEEP = "workflow.rights_sweep.next"


@dataclass
class SweepResult:
    expired: list[uuid.UUID] = field(default_factory=list)
    warned: list[uuid.UUID] = field(default_factory=list)


def sweep_rights(
    session: Session, *, now: datetime, warn_before: timedelta, limit: int = SWEEP_BATCH
) -> SweepResult:
    """Expire active assets whose rights have run out, and warn once about those that will
    within `warn_before`. One query on the `rights_expire_at` index finds both."""
    query = (
        select(Asset)
        .where(
            col(Asset.status) == AssetStatus.active,
            col(Asset.rights_expire_at) <= now + warn_before,
            or_(col(Asset.rights_expire_at) <= now, col(Asset.rights_warned_at).is_(None)),
        )
        .order_by(col(Asset.rights_expire_at))
        .limit(limit)
        # Several workers may sweep at once on PostgreSQL: each takes different rows, so no
        # asset is expired (and announced) twice. SQLite serialises writers anyway.
        .with_for_update(skip_locked=True)
    )
    result = SweepResult()
    for asset in session.exec(query):
        expires_at = asset.rights_expire_at
        assert expires_at is not None  # the query only selects assets with a date
        if expires_at <= now:
            bump_revision(session, asset, now=now)
            asset.status = AssetStatus.expired
            session.add(asset)
            record(
                session,
                actor=SYSTEM,
                action="asset.expired",
                asset_id=asset.id,
                version=asset.current_version,
                changes={
                    "status": {"before": AssetStatus.active.value, "after": asset.status.value},
                    "rights_expire_at": expires_at.isoformat(),
                },
                now=now,
                published=True,
            )
            emit(
                session,
                "asset.expired",
                asset=asset,
                version=asset.current_version,
                now=now,
                data={"rights_expire_at": expires_at.isoformat()},
            )
            result.expired.append(asset.id)
        else:
            # Only bookkeeping for the once-only warning: the asset's JSON and ETag do not change.
            asset.rights_warned_at = now
            session.add(asset)
            record(
                session,
                actor=SYSTEM,
                action="asset.expiring",
                asset_id=asset.id,
                version=asset.current_version,
                changes={"rights_expire_at": expires_at.isoformat()},
                now=now,
                published=True,
            )
            emit(
                session,
                "asset.expiring",
                asset=asset,
                version=asset.current_version,
                now=now,
                data={"rights_expire_at": expires_at.isoformat()},
            )
            result.warned.append(asset.id)
    return result


def rights_sweep(ctx: Context) -> None:
    now = ctx.now()
    due: datetime | None = ctx.extras.get(_NEXT_SWEEP)
    if due is not None and now < due:
        return
    ctx.extras[_NEXT_SWEEP] = now + SWEEP_INTERVAL
    with session_scope(ctx.engine) as session:
        sweep_rights(session, now=now, warn_before=timedelta(days=ctx.settings.rights_warning_days))
