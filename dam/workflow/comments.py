"""Comments on a version, optionally pinned to a point or a box of its preview (fractions of
its width and height, so the pin holds at any rendition size), a page of a PDF or a time in a
video; resolved or not; mentioned users are told (the `comment.created` event carries them
to dam.notifications)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from dam.assets.service import get_version
from dam.audit.service import record
from dam.errors import Invalid, NotFound
from dam.events import emit
from dam.models import Asset, AssetVersion, Comment, User
from dam.principal import Principal
from dam.workflow.schemas import CommentIn, CommentOut, PinIn

_MENTION = re.compile(r"(?<![\w.])@([\w.+-]+@[\w-]+(?:\.[\w-]+)+)")


def add_comment(
    session: Session,
    *,
    asset: Asset,
    number: int,
    actor: Principal,
    body: CommentIn,
    now: datetime,
) -> Comment:
    text = body.body.strip()
    if not text:
        raise Invalid("a comment needs some text", code="comment_empty")
    version = get_version(session, asset, number)
    pin = None if body.pin is None else _checked_pin(body.pin, version)
    mentioned = _mentions(session, [*body.mentions, *_MENTION.findall(text)])
    comment = Comment(
        asset_id=asset.id,
        version=version.number,
        author_id=actor.id,
        author_name=actor.name,
        body=text,
        pin=pin,
        mentions=[str(user.id) for user in mentioned],
        created_at=now,
    )
    session.add(comment)
    session.flush()
    record(
        session,
        actor=actor,
        action="comment.created",
        asset_id=asset.id,
        version=version.number,
        target=str(comment.id),
        changes={"pin": pin, "mentions": [u.email for u in mentioned]},
        now=now,
    )
    emit(
        session,
        "comment.created",
        asset=asset,
        version=version.number,
        now=now,
        data={
            "comment_id": str(comment.id),
            "author": {"id": str(actor.id), "name": actor.name},
            "body": text[:500],
            "pin": pin,
            "mentions": comment.mentions,
        },
    )
    return comment


def _checked_pin(pin: PinIn, version: AssetVersion) -> dict[str, Any]:
    """Where on the version the comment points; refuses a place the version does not have."""
    if (pin.w is None) != (pin.h is None):
        raise Invalid("a box needs both w and h (or neither, for a point)", code="invalid_pin")
    if pin.w is not None and pin.h is not None and (pin.x + pin.w > 1 or pin.y + pin.h > 1):
        raise Invalid("the box reaches past the edge of the preview", code="invalid_pin")
    media = version.media or {}
    if pin.page is not None:
        pages = media.get("pages")
        if version.kind != "document" or not isinstance(pages, int):
            raise Invalid("only a document's comments may name a page", code="invalid_pin")
        if pin.page > pages:
            raise Invalid(
                f"version {version.number} has {pages} pages, not {pin.page}", code="invalid_pin"
            )
    if pin.time is not None:
        duration = media.get("duration")
        if version.kind not in ("video", "audio") or not isinstance(duration, (int, float)):
            raise Invalid("only a video's comments may name a time", code="invalid_pin")
        if pin.time > duration:
            raise Invalid(
                f"version {version.number} lasts {duration:g} s, not {pin.time:g}",
                code="invalid_pin",
            )
    return pin.model_dump(exclude_none=True)


def _mentions(session: Session, emails: list[str]) -> list[User]:
    wanted = list(dict.fromkeys(e.strip().casefold() for e in emails if e.strip()))
    if not wanted:
        return []
    users = {
        u.email: u
        for u in session.exec(
            select(User).where(col(User.email).in_(wanted), col(User.disabled).is_(False))
        )
    }
    unknown = [e for e in wanted if e not in users]
    if unknown:
        raise Invalid(
            f"no user to mention with the email {', '.join(unknown)}",
            code="unknown_mention",
            mentions=unknown,
        )
    return [users[e] for e in wanted]


def list_comments(
    session: Session, *, asset: Asset, version: int | None, resolved: bool | None
) -> list[CommentOut]:
    query = select(Comment).where(col(Comment.asset_id) == asset.id)
    if version is not None:
        query = query.where(col(Comment.version) == version)
    if resolved is not None:
        query = query.where(col(Comment.resolved).is_(resolved))
    return [comment_out(c) for c in session.exec(query.order_by(col(Comment.id)))]


def get_comment(session: Session, *, asset: Asset, comment_id: uuid.UUID) -> Comment:
    comment = session.get(Comment, comment_id)
    if comment is None or comment.asset_id != asset.id:
        raise NotFound(f"no comment {comment_id} on asset {asset.id}", code="comment_not_found")
    return comment


def set_resolved(
    session: Session, *, comment: Comment, resolved: bool, actor: Principal, now: datetime
) -> Comment:
    if comment.resolved == resolved:
        return comment
    comment.resolved = resolved
    comment.resolved_by = actor.id if resolved else None
    comment.resolved_at = now if resolved else None
    session.add(comment)
    record(
        session,
        actor=actor,
        action="comment.resolved" if resolved else "comment.reopened",
        asset_id=comment.asset_id,
        version=comment.version,
        target=str(comment.id),
        now=now,
    )
    return comment


def comment_out(comment: Comment) -> CommentOut:
    return CommentOut(
        id=comment.id,
        version=comment.version,
        author_id=comment.author_id,
        author_name=comment.author_name,
        body=comment.body,
        pin=comment.pin,
        mentions=[uuid.UUID(m) for m in comment.mentions],
        resolved=comment.resolved,
        resolved_by=comment.resolved_by,
        resolved_at=comment.resolved_at,
        created_at=comment.created_at,
    )
