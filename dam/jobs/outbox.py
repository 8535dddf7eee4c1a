"""Outbox: jobs are rows written in the transaction of the change they follow from, so a crash
can never lose one; workers run them idempotently, with retries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from dam.jobs.wakeup import job_enqueued
from dam.models import OutboxJob


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    now: datetime,
    run_after: datetime | None = None,
    max_attempts: int = 8,
) -> OutboxJob:
    job = OutboxJob(
        kind=kind,
        payload=payload,
        run_after=run_after or now,
        created_at=now,
        max_attempts=max_attempts,
    )
    session.add(job)
    job_enqueued(session)  # the worker wakes when this commits, not at its next poll
    return job


def backoff(attempts: int) -> timedelta:
    """Delay before a failed job's next attempt: 2 s, 4 s, 8 s … capped at 30 minutes."""
    return timedelta(seconds=min(2**attempts, 1800))
