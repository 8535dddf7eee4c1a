"""Pages of creative operations: briefs (file one, its page with deliverables and what worked
before, uploads against it), the inbox, and the turnaround dashboard. The review queue's page
is in dam.web.router; its items carry due times and stages from dam.workflow."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from dam.api.deps import Analyst, ContextDep, Manager, SessionDep
from dam.bounds import SafeDate
from dam.briefs import service as briefs
from dam.briefs.schemas import BriefIn, DeliverableIn
from dam.errors import DamError, Invalid
from dam.notifications import service as notifications
from dam.views.briefs import brief_page
from dam.views.inbox import inbox_for
from dam.views.turnaround import turnaround_report
from dam.web import pages
from dam.web import service as web
from dam.web.router import WebPrincipal

router = APIRouter(include_in_schema=False, dependencies=[Depends(pages.verify_csrf)])

# "3 x", "3 * " or "3 \u00d7" (the multiplication sign) before the label.
_QUANTITY = re.compile("^\\s*(\\d{1,3})\\s*[x*\u00d7]\\s*(.+)$", re.IGNORECASE)


def parse_deliverables(text: str) -> list[DeliverableIn]:
    """One per line: "3 x Instagram 4:5" (or with the multiplication sign), "Email hero"."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _QUANTITY.match(line)
        quantity, label = (int(match[1]), match[2].strip()) if match else (1, line.strip())
        out.append(DeliverableIn(label=label, quantity=quantity))
    return out


def parse_terms(text: str) -> dict[str, list[str]]:
    """ "channel: instagram, email; audience: women" → {facet: [terms]}."""
    out: dict[str, list[str]] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        facet, sep, values = part.partition(":")
        if not sep or not facet.strip():
            raise Invalid(
                f"terms: write {part.strip()!r} as facet: term, term", code="invalid_terms"
            )
        out.setdefault(facet.strip(), []).extend(v.strip() for v in values.split(",") if v.strip())
    return out


@router.get("/briefs")
def briefs_page(request: Request, ctx: ContextDep, session: SessionDep, actor: Analyst) -> Response:
    page = briefs.list_briefs(session)
    return pages.render(
        request,
        "briefs.html",
        actor,
        {"briefs": page.items, "total": page.total, "may_file": actor.role.value != "designer"},
    )


@router.post("/briefs")
def file_brief(
    ctx: ContextDep,
    session: SessionDep,
    actor: Manager,
    title: Annotated[str, Form(max_length=300)] = "",
    objective: Annotated[str, Form(max_length=5000)] = "",
    campaign_id: Annotated[str, Form(max_length=64)] = "",
    terms: Annotated[str, Form(max_length=2000)] = "",
    deliverables: Annotated[str, Form(max_length=5000)] = "",
    due: Annotated[str, Form(max_length=10)] = "",
    notes: Annotated[str, Form(max_length=20_000)] = "",
    kpi: Annotated[str, Form(max_length=32)] = "roas",
) -> Response:
    secret = ctx.settings.secret_key
    try:
        due_at = (
            datetime.combine(datetime.fromisoformat(due).date(), time(17), tzinfo=UTC)
            if due
            else None
        )
        body = BriefIn(
            title=title,
            objective=objective,
            campaign_id=campaign_id or None,
            terms=parse_terms(terms),
            deliverables=parse_deliverables(deliverables),
            due_at=due_at,
            notes=notes,
            kpi=kpi,
        )
        brief = briefs.create_brief(session, ctx=ctx, body=body, actor=actor)
    except (ValidationError, ValueError) as exc:
        session.rollback()
        problems = (
            [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            if isinstance(exc, ValidationError)
            else [str(exc)]
        )
        return pages.redirect_with(
            "/briefs", kind="error", text="The brief was not filed", details=problems, secret=secret
        )
    except DamError as exc:
        session.rollback()
        return pages.redirect_with("/briefs", kind="error", text=str(exc.detail), secret=secret)
    session.commit()
    return pages.redirect_with(
        f"/briefs/{brief.id}", kind="ok", text=f"Filed the brief “{brief.title}”.", secret=secret
    )


@router.get("/briefs/{brief_id}")
def brief_detail(
    brief_id: uuid.UUID,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    actor: Analyst,
) -> Response:
    brief = briefs.get_brief(session, brief_id)
    data = brief_page(session, brief=brief, pack=ctx.governance.pack)
    return pages.render(
        request,
        "brief.html",
        actor,
        {
            "page": data,
            "brief": data.brief,
            "worked": data.worked_before,
            "may_upload": web.may_upload(actor),
            "terms": web.term_labels(ctx.governance.pack, data.brief.terms),
            "facets": ctx.governance.pack.facets,
        },
    )


@router.get("/inbox")
def inbox_page(
    request: Request, ctx: ContextDep, session: SessionDep, actor: WebPrincipal
) -> Response:
    inbox = inbox_for(session, principal=actor, now=ctx.now())
    return pages.render(request, "inbox.html", actor, {"inbox": inbox})


@router.post("/inbox/read")
def inbox_read(ctx: ContextDep, session: SessionDep, actor: WebPrincipal) -> Response:
    return pages.act(
        session,
        ctx,
        lambda: notifications.mark_read(session, principal=actor, ids=None, now=ctx.now()),
        done="Marked everything read.",
        to="/inbox",
    )


@router.get("/turnaround")
def turnaround_page(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    actor: Analyst,
    date_from: Annotated[SafeDate | None, Query(alias="from")] = None,
    date_to: Annotated[SafeDate | None, Query(alias="to")] = None,
    term: Annotated[str, Query(max_length=200)] = "",
    group_by: Annotated[str, Query(max_length=64)] = "channel",
) -> Response:
    report = turnaround_report(
        session,
        pack=ctx.governance.pack,
        now=ctx.now(),
        date_from=date_from,
        date_to=date_to,
        terms=parse_terms(term),
        group_by=group_by,
    )
    longest = max(
        [s.cycle_time.p90_hours or 0 for s in report.stages]
        + [g.cycle_time.p90_hours or 0 for g in report.groups]
        + [1.0]
    )
    return pages.render(
        request,
        "turnaround.html",
        actor,
        {
            "report": report,
            "longest": longest,
            "term": term,
            "facets": ctx.governance.pack.facets,
            "query": {"from": date_from, "to": date_to},
        },
    )
