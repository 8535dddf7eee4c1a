"""Webhook subscriptions, fan-out of domain events to them, and signed delivery.

Delivery runs only in the worker (never in a request), so a slow or dead receiver delays
nothing but its own deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.audit.service import record
from dam.errors import Invalid, NotFound
from dam.events import EVENT_TYPES
from dam.jobs.outbox import backoff, enqueue
from dam.models import Asset, OutboxJob, Webhook, WebhookDelivery
from dam.principal import Principal
from dam.views.assets import present_asset
from dam.webhooks import egress
from dam.webhooks.schemas import DeliveryOut, DeliveryPage

ALL_EVENTS = "*"
DELIVER_JOB = "webhook.deliver"
MIN_SECRET_LENGTH = 16
USER_AGENT = "dam-webhooks/0.1"
# Delivery ids are derived from (event, subscription) so that re-running a fan-out finds the
# delivery it already queued instead of queueing a second one.
_DELIVERY_NAMESPACE = uuid.UUID("5b0f7c1e-3d2a-4f7e-9a51-0c8d6e2b4a90")


def create_webhook(
    session: Session,
    *,
    url: str,
    events: list[str],
    secret: str,
    actor: Principal,
    now: datetime,
    allow_private: bool = False,
) -> Webhook:
    url = _valid_url(url)
    try:
        egress.check_url_host(url, allow_private=allow_private)
    except egress.BlockedDestination as exc:
        raise Invalid(
            f"webhooks may not be sent there: {exc}", code="invalid_webhook", field="url"
        ) from exc
    events = _valid_events(events)
    if len(secret) < MIN_SECRET_LENGTH:
        raise Invalid(
            f"the secret must be at least {MIN_SECRET_LENGTH} characters",
            code="invalid_webhook",
            field="secret",
        )
    webhook = Webhook(
        url=url,
        events=events,
        secret=secret,
        created_by=actor.id,
        created_at=now,
    )
    session.add(webhook)
    session.flush()
    record(
        session,
        actor=actor,
        action="webhook.created",
        target=str(webhook.id),
        changes={"url": url, "events": events},
        now=now,
    )
    return webhook


def list_webhooks(session: Session) -> list[Webhook]:
    return list(
        session.exec(select(Webhook).where(col(Webhook.active)).order_by(col(Webhook.created_at)))
    )


def get_webhook(session: Session, webhook_id: uuid.UUID) -> Webhook:
    """Deleted subscriptions are still found: their delivery history stays readable."""
    webhook = session.get(Webhook, webhook_id)
    if webhook is None:
        raise NotFound(f"no webhook {webhook_id}", code="webhook_not_found")
    return webhook


def delete_webhook(
    session: Session, *, webhook_id: uuid.UUID, actor: Principal, now: datetime
) -> Webhook:
    """Deactivates the subscription: queued deliveries are dropped, past ones stay visible."""
    webhook = get_webhook(session, webhook_id)
    if not webhook.active:
        raise NotFound(f"no webhook {webhook_id}", code="webhook_not_found")
    webhook.active = False
    session.add(webhook)
    record(
        session,
        actor=actor,
        action="webhook.deleted",
        target=str(webhook.id),
        changes={"url": webhook.url, "events": list(webhook.events)},
        now=now,
    )
    return webhook


def list_deliveries(
    session: Session, *, webhook_id: uuid.UUID, page: int = 1, page_size: int = 50
) -> DeliveryPage:
    webhook = get_webhook(session, webhook_id)
    query = select(WebhookDelivery).where(col(WebhookDelivery.webhook_id) == webhook.id)
    total = session.exec(select(sa.func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(
            col(WebhookDelivery.at).desc(),
            col(WebhookDelivery.attempt).desc(),
            col(WebhookDelivery.id),
        )
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return DeliveryPage(
        total=total,
        page=page,
        page_size=page_size,
        items=[DeliveryOut.model_validate(row, from_attributes=True) for row in rows],
    )


def delivery_id(event_id: str, webhook_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_DELIVERY_NAMESPACE, f"{event_id}:{webhook_id}")


def fan_out(
    session: Session, *, event: dict[str, Any], now: datetime, max_attempts: int
) -> list[uuid.UUID]:
    """Queue one delivery job per active subscription to the event's type. Idempotent: a
    delivery already queued for this event and subscription is not queued again."""
    queued: list[uuid.UUID] = []
    for webhook in list_webhooks(session):
        if event["type"] not in webhook.events and ALL_EVENTS not in webhook.events:
            continue
        job_id = delivery_id(event["event_id"], webhook.id)
        if session.get(OutboxJob, job_id) is not None:
            continue
        job = enqueue(
            session,
            DELIVER_JOB,
            {**event, "webhook_id": str(webhook.id), "delivery_id": str(job_id)},
            now=now,
            max_attempts=max_attempts,
        )
        job.id = job_id  # still pending, so the deterministic id is what gets inserted
        queued.append(job_id)
    return queued


def build_body(session: Session, *, event: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and sent. The asset is as it is at delivery time, in
    the published view (receivers are integrations: nothing unreviewed goes out); an asset
    with nothing published yet is named by id and status only."""
    asset = session.get(Asset, uuid.UUID(event["asset_id"])) if event.get("asset_id") else None
    shown: dict[str, Any] | None = None
    if asset is not None and asset.published_version is not None:
        shown = present_asset(session, asset, published=True).model_dump(mode="json")
    elif asset is not None:
        shown = {"id": str(asset.id), "status": asset.status.value, "published_version": None}
    body = {
        "id": event["event_id"],
        "type": event["type"],
        "time": event["time"],
        "view": "published",
        "asset": shown,
        "version": event.get("version"),
        "data": event.get("data") or {},
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_headers(*, secret: str, body: bytes, event_type: str, delivery: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-DAM-Event": event_type,
        "X-DAM-Delivery": delivery,
        "X-DAM-Signature": sign(secret, body),
    }


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.error is None


def post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    allow_private: bool = False,
) -> Outcome:
    """One attempt, to the address checked by `egress.pin` (never resolved twice). Redirects
    are not followed: a receiver must answer at the URL it gave, and following one could
    carry a signed body somewhere nobody registered (or somewhere internal)."""
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    try:
        target = egress.pin(url, allow_private=allow_private)
        with (
            httpx.Client(timeout=timeout, follow_redirects=False) as client,
            # Streamed and never read: the receiver's body is of no use and could be huge.
            client.stream(
                "POST",
                target.url,
                content=body,
                headers={**headers, "Host": target.host_header},
                extensions={"sni_hostname": target.server_name},
            ) as response,
        ):
            status = response.status_code
    except egress.BlockedDestination as exc:
        error = f"refused: {exc}"
    except httpx.TimeoutException:
        error = f"timed out after {timeout:g} s"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
    if status is not None and not 200 <= status < 300:
        error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
    return Outcome(
        status_code=status, error=error, duration_ms=int((time.monotonic() - started) * 1000)
    )


def record_attempt(
    session: Session,
    *,
    event: dict[str, Any],
    attempt: int,
    max_attempts: int,
    outcome: Outcome,
    now: datetime,
) -> WebhookDelivery:
    """`next_attempt_at` mirrors the worker's backoff for the job; none after success or the
    last attempt."""
    final = attempt >= max_attempts
    error = outcome.error
    if error is not None and final:
        error = f"{error}; gave up after {attempt} attempts"
    delivery = WebhookDelivery(
        webhook_id=uuid.UUID(event["webhook_id"]),
        event_id=uuid.UUID(event["event_id"]),
        event_type=event["type"],
        attempt=attempt,
        succeeded=outcome.succeeded,
        status_code=outcome.status_code,
        error=error,
        duration_ms=outcome.duration_ms,
        at=now,
        next_attempt_at=None if outcome.succeeded or final else now + backoff(attempt),
    )
    session.add(delivery)
    return delivery


def attempts_recorded(session: Session, *, webhook_id: uuid.UUID, event_id: uuid.UUID) -> int:
    count: int = session.exec(
        select(sa.func.count())
        .select_from(WebhookDelivery)
        .where(
            col(WebhookDelivery.webhook_id) == webhook_id,
            col(WebhookDelivery.event_id) == event_id,
        )
    ).one()
    return count


def _valid_url(url: str) -> str:
    url = url.strip()
    problem: str | None = None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in range
    except ValueError as exc:
        problem = str(exc)
    else:
        if parts.scheme.lower() not in {"http", "https"}:
            problem = "it must start with http:// or https://"
        elif not parts.hostname:
            problem = "it has no host"
        elif any(ch.isspace() or ord(ch) < 32 for ch in url):
            problem = "it contains whitespace or control characters"
    if problem:
        raise Invalid(
            f"the webhook URL is not valid: {problem}", code="invalid_webhook", field="url"
        )
    return url


def _valid_events(events: list[str]) -> list[str]:
    if not events:
        raise Invalid(
            "subscribe to at least one event type (or '*')", code="invalid_webhook", field="events"
        )
    unknown = sorted({e for e in events if e != ALL_EVENTS and e not in EVENT_TYPES})
    if unknown:
        raise Invalid(
            f"unknown event types: {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)} or '*'",
            code="invalid_webhook",
            field="events",
        )
    return sorted(set(events))
