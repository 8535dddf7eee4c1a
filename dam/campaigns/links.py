"""Signed, expiring delivery links.

A link is `<payload>.<signature>`, both base64url: the payload is compact JSON naming the
campaign, asset, version, consumer (the key that fetched the feed), channel and expiry; the
signature is HMAC-SHA256 over the payload with the service secret. The link itself is the
credential, like a presigned URL, because automation platforms hand it to fetchers (ad servers,
email renderers) that do not hold the API key; what it can fetch is fixed by the signature.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dam import signing
from dam.errors import Forbidden

# Domain separation: a signature made for a delivery link is never valid for anything else
# signed with the same secret (sessions, webhooks).
_PURPOSE = b"dam.delivery.v1:"


@dataclass(frozen=True)
class DeliveryLink:
    campaign_id: str
    asset_id: uuid.UUID
    version: int
    consumer_id: uuid.UUID | None
    channel: str | None
    expires_at: datetime
    preset: str | None = None  # a derivative preset; None: the delivered copy of the original


def sign(link: DeliveryLink, *, secret: str) -> str:
    body = {
        "c": link.campaign_id,
        "a": link.asset_id.hex,
        "v": link.version,
        "k": link.consumer_id.hex if link.consumer_id else None,
        "ch": link.channel,
        "e": int(link.expires_at.timestamp()),
    }
    if link.preset is not None:
        body["p"] = link.preset  # only when set: links without one stay as they were
    return signing.seal(body, purpose=_PURPOSE, secret=secret)


def signer(
    *,
    campaign_id: str,
    consumer_id: uuid.UUID | None,
    channel: str | None,
    expires_at: datetime,
    secret: str,
) -> Callable[[uuid.UUID, int, str | None], str]:
    """`sign` for the links of one feed page, which differ only in asset, version and preset:
    the body's JSON is written from a template with the shared values encoded once. The same
    text as `sign` writes (compact, keys sorted), so the same tokens."""
    head = (
        f',"c":{json.dumps(campaign_id)},"ch":{json.dumps(channel)},'
        f'"e":{int(expires_at.timestamp())},'
        f'"k":{json.dumps(consumer_id.hex if consumer_id else None)}'
    )

    presets: dict[str, str] = {}  # preset id -> its JSON

    def sign_one(asset_id: uuid.UUID, version: int, preset: str | None = None) -> str:
        # `"a"` first and `"v"` last: the sorted order of the keys (a, c, ch, e, k, p, v).
        if preset is None:
            tail = f',"v":{int(version)}}}'
        else:
            encoded = presets.get(preset)
            if encoded is None:
                encoded = presets[preset] = json.dumps(preset)
            tail = f',"p":{encoded},"v":{int(version)}}}'
        return signing.seal_text(
            f'{{"a":"{asset_id.hex}"{head}{tail}', purpose=_PURPOSE, secret=secret
        )

    return sign_one


def verify(token: str, *, secret: str, now: datetime) -> DeliveryLink:
    """The link's contents, or 403 when the signature does not match or the link expired."""
    try:
        body = signing.unseal(token, purpose=_PURPOSE, secret=secret)
        link = DeliveryLink(
            campaign_id=str(body["c"]),
            asset_id=uuid.UUID(hex=body["a"]),
            version=int(body["v"]),
            consumer_id=uuid.UUID(hex=body["k"]) if body["k"] else None,
            channel=body["ch"],
            expires_at=datetime.fromtimestamp(int(body["e"]), tz=UTC),
            preset=str(body["p"]) if body.get("p") is not None else None,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise Forbidden("this delivery link is not valid", code="invalid_link") from exc
    if link.expires_at <= now:
        raise Forbidden(
            f"this delivery link expired at {link.expires_at.isoformat()}; "
            "fetch the campaign feed again for a fresh one",
            code="link_expired",
        )
    return link
