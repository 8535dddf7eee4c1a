"""Worker side of webhooks: fan an event out to its subscriptions, then deliver each one."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session

from dam.context import Context
from dam.jobs.registry import RetryLater
from dam.models import OutboxJob, Webhook
from dam.webhooks import service
from dam.webhooks.service import DELIVER_JOB

__all__ = ["DELIVER_JOB", "deliver", "fan_out_event"]


def fan_out_event(ctx: Context, session: Session, payload: dict[str, Any]) -> None:
    service.fan_out(
        session, event=payload, now=ctx.now(), max_attempts=ctx.settings.webhook_max_attempts
    )


def deliver(ctx: Context, session: Session, payload: dict[str, Any]) -> None:
    """One signed POST per run; a failure is recorded and retried by the worker with backoff
    until the job's attempts run out."""
    webhook = session.get(Webhook, uuid.UUID(payload["webhook_id"]))
    if webhook is None or not webhook.active:
        return
    # The worker counted this run on the job before calling us; fall back to counting recorded
    # attempts when the handler is run without its job.
    job = session.get(OutboxJob, uuid.UUID(payload["delivery_id"]))
    if job is not None:
        attempt, max_attempts = job.attempts, job.max_attempts
    else:
        attempt = 1 + service.attempts_recorded(
            session, webhook_id=webhook.id, event_id=uuid.UUID(payload["event_id"])
        )
        max_attempts = ctx.settings.webhook_max_attempts
    body = service.build_body(session, event=payload)
    headers = service.delivery_headers(
        secret=webhook.secret,
        body=body,
        event_type=payload["type"],
        delivery=payload["delivery_id"],
    )
    url = webhook.url
    # End the read transaction before the network call: on SQLite it holds the write lock, and
    # a slow receiver must not hold up requests.
    session.commit()
    outcome = service.post(
        url,
        body=body,
        headers=headers,
        timeout=ctx.settings.webhook_timeout_seconds,
        allow_private=ctx.settings.webhook_allow_private_networks,
    )
    service.record_attempt(
        session,
        event=payload,
        attempt=attempt,
        max_attempts=max_attempts,
        outcome=outcome,
        now=ctx.now(),
    )
    if outcome.error is not None:
        # The worker rolls a failed handler's session back; the attempt must stay recorded.
        session.commit()
        raise RetryLater(outcome.error)
