from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from dam.api.deps import Admin, ContextDep, SessionDep
from dam.models import Webhook
from dam.webhooks import service
from dam.webhooks.schemas import DeliveryPage, WebhookIn, WebhookOut

router = APIRouter(prefix="/api/v1", tags=["webhooks"])


def webhook_out(webhook: Webhook) -> WebhookOut:
    return WebhookOut.model_validate(webhook, from_attributes=True)


@router.post("/webhooks", status_code=201, response_model=WebhookOut)
def create_webhook(
    body: WebhookIn, actor: Admin, ctx: ContextDep, session: SessionDep
) -> WebhookOut:
    """Subscribe a URL to event types. Each delivery is a JSON POST signed with
    `X-DAM-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>`."""
    return webhook_out(
        service.create_webhook(
            session,
            url=body.url,
            events=body.events,
            secret=body.secret,
            actor=actor,
            now=ctx.now(),
            allow_private=ctx.settings.webhook_allow_private_networks,
        )
    )


@router.get("/webhooks", response_model=list[WebhookOut])
def list_webhooks(actor: Admin, session: SessionDep) -> list[WebhookOut]:
    return [webhook_out(w) for w in service.list_webhooks(session)]


@router.delete("/webhooks/{webhook_id}", status_code=204)
def delete_webhook(
    webhook_id: uuid.UUID, actor: Admin, ctx: ContextDep, session: SessionDep
) -> Response:
    """Stop deliveries; the subscription's delivery history stays readable."""
    service.delete_webhook(session, webhook_id=webhook_id, actor=actor, now=ctx.now())
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryPage)
def list_deliveries(
    webhook_id: uuid.UUID,
    actor: Admin,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryPage:
    """Every delivery attempt, newest first: status code, error, duration, next retry."""
    return service.list_deliveries(session, webhook_id=webhook_id, page=page, page_size=page_size)
