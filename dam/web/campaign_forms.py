"""Campaign forms for the people who manage campaigns (admins, brand managers, marketers):
create one on the campaigns page, edit it from its page. They call the same service as
`POST /api/v1/campaigns` and `PATCH /api/v1/campaigns/{id}`. A refused form is shown again
with what was typed and the problem, not a blank form."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session

from dam.api.deps import ContextDep, Manager, SessionDep
from dam.campaigns import service as campaign_service
from dam.campaigns.schemas import CampaignIn, CampaignPatch
from dam.errors import DamError, Invalid
from dam.governance.pack import GovernancePack
from dam.principal import Principal
from dam.web import pages

router = APIRouter(include_in_schema=False, dependencies=[Depends(pages.verify_csrf)])
Text = Annotated[str, Form(max_length=300)]
FIELD_LABELS = {
    "id": "Id",
    "name": "Name",
    "channel": "Channel",
    "objective": "Objective",
    "starts_on": "Starts on",
    "ends_on": "Ends on",
    "timezone": "Time zone",
}


def channel_choices(pack: GovernancePack) -> list[tuple[str, str]]:
    if not pack.has_facet(campaign_service.CHANNEL_FACET):
        return []
    facet = pack.facet(campaign_service.CHANNEL_FACET)
    return [(t.id, t.label) for t in facet.terms.values() if not t.deprecated]


def _date(value: str, field: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(
            f"{FIELD_LABELS[field]} {value!r} is not a date (YYYY-MM-DD)", code="invalid_campaign"
        ) from None


def _problem(exc: ValidationError) -> str:
    """Every problem at once, with the form's labels, not field ids."""
    parts = []
    for err in exc.errors():
        message = str(err["msg"]).removeprefix("Value error, ")
        for field, label in FIELD_LABELS.items():
            message = message.replace(field, label)
        field = str(err["loc"][0]) if err.get("loc") else ""
        parts.append(f"{FIELD_LABELS[field]}: {message}" if field in FIELD_LABELS else message)
    return "; ".join(parts)


def _form_page(
    request: Request,
    session: Session,
    pack: GovernancePack,
    principal: Principal,
    *,
    values: dict[str, Any],
    editing: str | None,
    error: str | None = None,
) -> Response:
    return pages.render(
        request,
        "campaigns/form.html",
        principal,
        {
            "values": values,
            "editing": editing,
            "error": error,
            "channels": channel_choices(pack),
        },
        status_code=400 if error else 200,
    )


@router.get("/campaigns/new/form")
def new_campaign_page(
    request: Request, ctx: ContextDep, session: SessionDep, actor: Manager
) -> Response:
    return _form_page(
        request, session, ctx.governance.pack, actor, values={"timezone": "UTC"}, editing=None
    )


@router.post("/campaigns")
def create_campaign(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    actor: Manager,
    id: Annotated[str, Form(max_length=64)],
    name: Text,
    channel: Annotated[str, Form(max_length=64)] = "",
    objective: Text = "",
    starts_on: Annotated[str, Form(max_length=32)] = "",
    ends_on: Annotated[str, Form(max_length=32)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "UTC",
) -> Response:
    typed = {
        "id": id,
        "name": name,
        "channel": channel,
        "objective": objective,
        "starts_on": starts_on,
        "ends_on": ends_on,
        "timezone": timezone,
    }
    try:
        data = CampaignIn(
            id=id,
            name=name,
            channel=channel or None,
            objective=objective or None,
            starts_on=_date(starts_on, "starts_on"),
            ends_on=_date(ends_on, "ends_on"),
            timezone=timezone or "UTC",
        )
        if data.starts_on and data.ends_on and data.ends_on < data.starts_on:
            raise Invalid("Ends on must not be before Starts on", code="invalid_campaign")
        campaign = campaign_service.create_campaign(session, ctx=ctx, data=data, actor=actor)
    except (DamError, ValidationError) as exc:
        session.rollback()
        text = _problem(exc) if isinstance(exc, ValidationError) else str(exc.detail)
        return _form_page(
            request, session, ctx.governance.pack, actor, values=typed, editing=None, error=text
        )
    return pages.redirect_with(
        f"/campaigns/{campaign.id}",
        kind="ok",
        text=f"Campaign {campaign.id} created.",
        secret=ctx.settings.secret_key,
    )


@router.get("/campaigns/{campaign_id}/edit")
def edit_campaign_page(
    campaign_id: str, request: Request, ctx: ContextDep, session: SessionDep, actor: Manager
) -> Response:
    campaign = campaign_service.get_campaign(session, campaign_id, principal=actor)
    values = {
        "id": campaign.id,
        "name": campaign.name,
        "channel": campaign.channel or "",
        "objective": campaign.objective or "",
        "starts_on": campaign.starts_on.isoformat() if campaign.starts_on else "",
        "ends_on": campaign.ends_on.isoformat() if campaign.ends_on else "",
        "timezone": campaign.timezone,
    }
    return _form_page(
        request, session, ctx.governance.pack, actor, values=values, editing=campaign.id
    )


@router.post("/campaigns/{campaign_id}/edit")
def edit_campaign(
    campaign_id: str,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    actor: Manager,
    name: Text,
    channel: Annotated[str, Form(max_length=64)] = "",
    objective: Text = "",
    starts_on: Annotated[str, Form(max_length=32)] = "",
    ends_on: Annotated[str, Form(max_length=32)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "UTC",
) -> Response:
    campaign = campaign_service.get_campaign(session, campaign_id, principal=actor)
    typed = {
        "id": campaign.id,
        "name": name,
        "channel": channel,
        "objective": objective,
        "starts_on": starts_on,
        "ends_on": ends_on,
        "timezone": timezone,
    }
    try:
        patch = CampaignPatch(
            name=name,
            channel=channel or None,
            objective=objective or None,
            starts_on=_date(starts_on, "starts_on"),
            ends_on=_date(ends_on, "ends_on"),
            timezone=timezone or "UTC",
        )
        campaign_service.update_campaign(
            session, ctx=ctx, campaign=campaign, patch=patch, actor=actor
        )
    except (DamError, ValidationError) as exc:
        session.rollback()
        text = _problem(exc) if isinstance(exc, ValidationError) else str(exc.detail)
        return _form_page(
            request,
            session,
            ctx.governance.pack,
            actor,
            values=typed,
            editing=campaign_id,
            error=text,
        )
    return pages.redirect_with(
        f"/campaigns/{campaign_id}",
        kind="ok",
        text=f"Campaign {campaign_id} saved.",
        secret=ctx.settings.secret_key,
    )


__all__ = ["router"]
