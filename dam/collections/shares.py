"""Share links: a link for people outside to one asset or one collection.

The token is `<id>.<mac>` (base64url): the link's id and an HMAC-SHA256 of it under the
service secret, so the database holds nothing that opens a link, the people who manage a link
can copy it again, and a guessed or altered token fails the MAC before any row is read.
Rotating `DAM_SECRET_KEY` ends every share link (and every session) at once.

What a link shows is the published view only: published, live assets with the metadata
approved with them, previews of the published version, and (when the link allows downloads)
the delivered copy of the published file, made like every other delivery out of the building
(audience `delivery_link`: governed rights and credits written in, location stripped). A
revoked link stops at once (every request reads the row); an expired or revoked link answers
with a page that says so and never with the asset. Every view, preview, download and refused
password is recorded in `share_link_events` with the time, the client address and agent.
"""

from __future__ import annotations

import hmac
import io
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from PIL import Image, ImageDraw, ImageFont
from sqlmodel import Session, col, select

from dam import signing
from dam.assets import delivery, derivatives
from dam.assets.access import is_visible
from dam.audit.service import record
from dam.auth.passwords import hash_password, verify_password
from dam.collections import service as collections
from dam.collections.schemas import ShareEventOut, ShareLinkIn, ShareLinkOut
from dam.errors import Conflict, DamError, Forbidden, Invalid, NotFound, TooManyRequests
from dam.governance.pack import GovernancePack
from dam.models import (
    Asset,
    AssetVersion,
    Collection,
    CollectionItem,
    Role,
    ShareLink,
    ShareLinkEvent,
)
from dam.principal import Principal

_PURPOSE = b"dam.share.v1:"
AUDIENCE = delivery.DELIVERY_LINK_AUDIENCE
# What a download through a link sends: `original`, the published file as delivered (credits
# written in, location stripped), or a derivative preset of the governance pack, rendered from
# the published version (dam.collections.zips.serving_preset says for which assets).
ORIGINAL = "original"
PRESET_LABELS = {ORIGINAL: "The original (published file, as delivered)"}
PRESETS = tuple(PRESET_LABELS)
MIN_PASSWORD_LENGTH = 8
# Wrong passwords allowed per link in the window before it refuses for the rest of it.
MAX_WRONG_PASSWORDS = 10
WRONG_PASSWORD_WINDOW = timedelta(minutes=15)
CREATORS = collections.CURATORS


# Whom a share link shows things as: a reader of the published view only.
_OUTSIDER = Principal(id=uuid.UUID(int=0), name="share link", role=Role.marketer, kind="link")


class LinkUnavailable(DamError):
    """An expired, revoked or emptied link: 410, and the page says which."""

    status_code = 410
    code = "link_unavailable"


def _mac(secret: str, link_id: uuid.UUID) -> bytes:
    return signing.mac(secret, _PURPOSE, link_id.bytes)


def token_for(link_id: uuid.UUID, *, secret: str) -> str:
    return f"{signing.b64(link_id.bytes)}.{signing.b64(_mac(secret, link_id))}"


def _parse(token: str, *, secret: str) -> uuid.UUID | None:
    ident, _, mac = token.partition(".")
    if len(token) > 100 or not ident or not mac:
        return None
    try:
        link_id = uuid.UUID(bytes=signing.unb64(ident))
        given = signing.unb64(mac)
    except ValueError:
        return None
    return link_id if hmac.compare_digest(given, _mac(secret, link_id)) else None


def state_of(link: ShareLink, now: datetime) -> str:
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= now:
        return "expired"
    return "active"


def find(session: Session, token: str, *, secret: str) -> ShareLink:
    """The link a token names, whatever its state; 404 for a token that is not one."""
    link_id = _parse(token, secret=secret)
    link = session.get(ShareLink, link_id) if link_id else None
    if link is None:
        raise NotFound(
            "this share link does not exist; check that it was copied whole", code="link_not_found"
        )
    return link


def usable(session: Session, token: str, *, secret: str, now: datetime) -> ShareLink:
    """The link, or 410 saying it was revoked or has expired (404 when it never existed)."""
    link = find(session, token, secret=secret)
    state = state_of(link, now)
    if state == "revoked":
        raise LinkUnavailable(
            "this share link was withdrawn by the person who shared it", code="link_revoked"
        )
    if state == "expired":
        raise LinkUnavailable(
            f"this share link expired on {link.expires_at:%d %B %Y at %H:%M} UTC; ask the "
            "person who shared it for a new one",
            code="link_expired",
        )
    return link


# --- managing ------------------------------------------------------------------------------


def _published_kind(session: Session, asset: Asset) -> str | None:
    return session.exec(
        select(AssetVersion.kind).where(
            col(AssetVersion.asset_id) == asset.id,
            col(AssetVersion.number) == asset.published_version,
        )
    ).first()


def preset_choices(
    session: Session, *, pack: GovernancePack, asset: Asset | None = None
) -> list[tuple[str, str]]:
    """What a link's downloads may be, as (value, label): the original, then the pack's
    presets: for an asset, those that serve it (its published image's channels and its
    campaigns' channels); for a collection, every preset (each file gets it where it serves,
    else its original)."""
    choices = list(PRESET_LABELS.items())
    if asset is None:
        offered = list(pack.presets)
    elif asset.published_version is None or _published_kind(session, asset) != "image":
        offered = []
    else:
        channels = derivatives.campaign_channels(session, asset.id)
        offered = derivatives.presets_for(pack, asset.terms or {}, channels)
    return choices + [(p.id, f"{p.label} ({p.id})") for p in offered]


def create_link(
    session: Session,
    *,
    data: ShareLinkIn,
    actor: Principal,
    now: datetime,
    pack: GovernancePack,
) -> ShareLink:
    if actor.role not in CREATORS:
        raise Forbidden(f"the {actor.role.value} role may not share links", code="forbidden")
    if (data.asset_id is None) == (data.collection_id is None):
        raise Invalid(
            "a share link is for one asset or one collection: send asset_id or collection_id",
            code="invalid_share_link",
        )
    if data.preset != ORIGINAL and pack.preset(data.preset) is None:
        known = ", ".join([ORIGINAL, *(p.id for p in pack.presets)])
        raise Invalid(
            f"preset {data.preset!r} is not offered; presets: {known}",
            code="invalid_preset",
            field="preset",
        )
    if data.password is not None and len(data.password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"a share link's password needs at least {MIN_PASSWORD_LENGTH} characters",
            code="weak_password",
            field="password",
        )
    target: str
    if data.asset_id is not None:
        asset = session.get(Asset, data.asset_id)
        if asset is None or not is_visible(actor, asset):
            raise NotFound(f"no asset {data.asset_id}", code="asset_not_found")
        if not is_visible(_OUTSIDER, asset):
            raise Conflict(
                "only a published, live asset can be shared: people outside see the "
                "published view, and this asset has none",
                code="not_published",
            )
        offered = [value for value, _ in preset_choices(session, pack=pack, asset=asset)]
        if data.preset not in offered:
            raise Invalid(
                f"preset {data.preset!r} does not serve this asset; presets for it: "
                f"{', '.join(offered)}",
                code="invalid_preset",
                field="preset",
            )
        target = f"asset:{asset.id}"
    else:
        assert data.collection_id is not None
        collection = collections.get_collection(session, data.collection_id, principal=actor)
        if not collections.rights_of(session, actor, collection).edit:
            raise Forbidden(
                "sharing a collection outside needs edit rights on it", code="forbidden"
            )
        target = f"collection:{collection.id}"
    link = ShareLink(
        asset_id=data.asset_id,
        collection_id=data.collection_id,
        label=data.label,
        created_by=actor.id,
        created_by_name=actor.name,
        created_at=now,
        expires_at=now + timedelta(hours=data.expires_in_hours),
        password_hash=hash_password(data.password) if data.password else None,
        allow_download=data.allow_download,
        preset=data.preset,
        watermark=data.watermark,
    )
    session.add(link)
    session.flush()
    record(
        session,
        actor=actor,
        action="share_link.created",
        now=now,
        asset_id=data.asset_id,
        target=target,
        changes={
            "link": str(link.id),
            "expires_at": link.expires_at.isoformat(),
            "password": link.password_hash is not None,
            "allow_download": link.allow_download,
            "watermark": link.watermark,
            "preset": link.preset,
        },
    )
    return link


def may_manage(session: Session, principal: Principal, link: ShareLink) -> bool:
    if principal.role == Role.admin or link.created_by == principal.id:
        return True
    if link.collection_id is not None:
        collection = session.get(Collection, link.collection_id)
        return (
            collection is not None and collections.rights_of(session, principal, collection).manage
        )
    return False


def get_link(session: Session, link_id: uuid.UUID, *, principal: Principal) -> ShareLink:
    link = session.get(ShareLink, link_id)
    if link is None or not may_manage(session, principal, link):
        raise NotFound(f"no share link {link_id}", code="share_link_not_found")
    return link


def list_links(
    session: Session,
    *,
    principal: Principal,
    asset_id: uuid.UUID | None = None,
    collection_id: uuid.UUID | None = None,
    limit: int = 200,
) -> list[ShareLink]:
    query = select(ShareLink)
    if asset_id is not None:
        query = query.where(col(ShareLink.asset_id) == asset_id)
    if collection_id is not None:
        query = query.where(col(ShareLink.collection_id) == collection_id)
    if principal.role != Role.admin and collection_id is None:
        query = query.where(col(ShareLink.created_by) == principal.id)
    rows = session.exec(query.order_by(col(ShareLink.created_at).desc()).limit(limit))
    return [link for link in rows if may_manage(session, principal, link)]


def revoke_link(session: Session, *, link: ShareLink, actor: Principal, now: datetime) -> None:
    """Stops the link at once: every request through it reads this row."""
    if link.revoked_at is not None:
        return
    link.revoked_at = now
    link.revoked_by = actor.id
    session.add(link)
    record(
        session,
        actor=actor,
        action="share_link.revoked",
        now=now,
        asset_id=link.asset_id,
        target=f"share_link:{link.id}",
    )


def _counts(session: Session, link_id: uuid.UUID) -> dict[str, int]:
    rows = session.exec(
        select(ShareLinkEvent.action, sa.func.count())
        .where(col(ShareLinkEvent.link_id) == link_id)
        .group_by(col(ShareLinkEvent.action))
    )
    return {action: int(n) for action, n in rows}


def link_out(
    session: Session, link: ShareLink, *, secret: str, base_url: str, now: datetime
) -> ShareLinkOut:
    token = token_for(link.id, secret=secret)
    counts = _counts(session, link.id)
    return ShareLinkOut(
        id=link.id,
        url=f"{base_url.rstrip('/')}/s/{token}",
        token=token,
        asset_id=link.asset_id,
        collection_id=link.collection_id,
        label=link.label,
        created_by_name=link.created_by_name,
        created_at=link.created_at,
        expires_at=link.expires_at,
        revoked_at=link.revoked_at,
        state=state_of(link, now),
        has_password=link.password_hash is not None,
        allow_download=link.allow_download,
        preset=link.preset,
        watermark=link.watermark,
        views=counts.get("view", 0),
        downloads=counts.get("download", 0) + counts.get("zip", 0),
    )


def events(
    session: Session, *, link: ShareLink, limit: int = 500
) -> tuple[int, list[ShareEventOut]]:
    total = session.exec(
        select(sa.func.count())
        .select_from(ShareLinkEvent)
        .where(col(ShareLinkEvent.link_id) == link.id)
    ).one()
    rows = session.exec(
        select(ShareLinkEvent)
        .where(col(ShareLinkEvent.link_id) == link.id)
        .order_by(col(ShareLinkEvent.id).desc())
        .limit(limit)
    )
    return total, [
        ShareEventOut(
            at=e.at,
            action=e.action,
            asset_id=e.asset_id,
            version=e.version,
            client=e.client,
            user_agent=e.user_agent,
            detail=e.detail,
        )
        for e in rows
    ]


# --- the outside view ----------------------------------------------------------------------


def note(
    session: Session,
    *,
    link: ShareLink,
    action: str,
    now: datetime,
    client: str | None,
    user_agent: str | None,
    asset_id: uuid.UUID | None = None,
    version: int | None = None,
    detail: str | None = None,
) -> None:
    session.add(
        ShareLinkEvent(
            link_id=link.id,
            at=now,
            action=action,
            asset_id=asset_id,
            version=version,
            client=(client or "")[:64] or None,
            user_agent=(user_agent or "")[:300] or None,
            detail=(detail or "")[:200] or None,
        )
    )


def check_password(
    session: Session,
    *,
    link: ShareLink,
    password: str,
    now: datetime,
    client: str | None,
    user_agent: str | None,
) -> bool:
    """True when the password opens the link. Wrong ones are recorded and, past
    MAX_WRONG_PASSWORDS in WRONG_PASSWORD_WINDOW, refused without checking (429)."""
    if link.password_hash is None:
        return True
    recent = session.exec(
        select(sa.func.count())
        .select_from(ShareLinkEvent)
        .where(
            col(ShareLinkEvent.link_id) == link.id,
            col(ShareLinkEvent.action) == "wrong_password",
            col(ShareLinkEvent.at) > now - WRONG_PASSWORD_WINDOW,
        )
    ).one()
    if recent >= MAX_WRONG_PASSWORDS:
        raise TooManyRequests(
            "too many wrong passwords for this link; try again in 15 minutes",
            code="too_many_attempts",
            retry_after=int(WRONG_PASSWORD_WINDOW.total_seconds()),
        )
    ok = verify_password(link.password_hash, password)
    note(
        session,
        link=link,
        action="unlock" if ok else "wrong_password",
        now=now,
        client=client,
        user_agent=user_agent,
    )
    return ok


def shared_entries(
    session: Session, *, link: ShareLink, offset: int = 0, limit: int | None = None
) -> tuple[int, list[collections.Entry]]:
    """What the link shows, in order: published, live assets at their published version."""
    if link.asset_id is not None:
        asset = session.get(Asset, link.asset_id)
        if asset is None or not is_visible(_OUTSIDER, asset):
            return 0, []
        version = session.exec(
            select(AssetVersion).where(
                col(AssetVersion.asset_id) == asset.id,
                col(AssetVersion.number) == asset.published_version,
            )
        ).one()
        # A one-asset link has no collection rows; its one entry is made up here.
        item = CollectionItem(collection_id=link.id, asset_id=asset.id, position=0)
        shown = [collections.Entry(item=item, asset=asset, version=version)]
        return 1, shown[offset : offset + limit] if limit is not None else shown[offset:]
    assert link.collection_id is not None
    if session.get(Collection, link.collection_id) is None:
        return 0, []
    return collections.entries(
        session,
        collection_id=link.collection_id,
        published_only=True,
        offset=offset,
        limit=limit,
    )


def shared_entry(session: Session, *, link: ShareLink, asset_id: uuid.UUID) -> collections.Entry:
    """One asset the link shows, or 404 (an asset outside the link, or no longer published)."""
    if link.asset_id is not None:
        _, found = shared_entries(session, link=link)
        found = [e for e in found if e.asset.id == asset_id]
    else:
        assert link.collection_id is not None
        found = []
        item = session.get(CollectionItem, (link.collection_id, asset_id))
        asset = session.get(Asset, asset_id) if item else None
        if item is not None and asset is not None and is_visible(_OUTSIDER, asset):
            version = session.exec(
                select(AssetVersion).where(
                    col(AssetVersion.asset_id) == asset.id,
                    col(AssetVersion.number) == asset.published_version,
                )
            ).one()
            found = [collections.Entry(item=item, asset=asset, version=version)]
    if not found:
        raise NotFound("this link does not show that asset", code="asset_not_found")
    return found[0]


def collection_of(session: Session, link: ShareLink) -> Collection | None:
    return session.get(Collection, link.collection_id) if link.collection_id else None


def watermarked(webp: bytes, *, text: str) -> bytes:
    """The preview with `text` drawn across it, repeated on diagonal rows, half transparent."""
    with Image.open(io.BytesIO(webp)) as source:
        base = source.convert("RGBA")
    width, height = base.size
    size = max(14, min(width, height) // 14)
    font = ImageFont.load_default(size=size)
    tile = Image.new("RGBA", (width * 2, height * 2), (0, 0, 0, 0))
    draw = ImageDraw.Draw(tile)
    step_y = size * 4
    label = f"{text}   "
    line_width = int(draw.textlength(label, font=font)) or size
    for row, y in enumerate(range(0, height * 2, step_y)):
        shift = (row % 2) * line_width // 2
        for x in range(-shift, width * 2, line_width):
            draw.text((x, y), label, font=font, fill=(255, 255, 255, 110))
            draw.text((x + 1, y + 1), label, font=font, fill=(0, 0, 0, 70))
    rotated = tile.rotate(30, resample=Image.Resampling.BICUBIC)
    left, top = (rotated.width - width) // 2, (rotated.height - height) // 2
    overlay = rotated.crop((left, top, left + width, top + height))
    out = io.BytesIO()
    Image.alpha_composite(base, overlay).convert("RGB").save(out, "WEBP", quality=80)
    return out.getvalue()
