"""Signed, expiring delivery links.

A link is `<payload>.<signature>`, both base64url: the payload is compact JSON naming the
campaign, asset, version, consumer (the key that fetched the feed), channel and expiry; the
signature is HMAC-SHA256 over the payload with the service secret. The link itself is the
credential, like a presigned URL, because automation platforms hand it to fetchers (ad servers,
email renderers) that do not hold the API key; what it can fetch is fixed by the signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE + payload.encode("ascii"), hashlib.sha256).digest()


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
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_b64(_mac(secret, payload))}"


def verify(token: str, *, secret: str, now: datetime) -> DeliveryLink:
    """The link's contents, or 403 when the signature does not match or the link expired."""
    payload, _, signature = token.partition(".")
    try:
        given = _unb64(signature)
        if not payload or not hmac.compare_digest(given, _mac(secret, payload)):
            raise ValueError("signature mismatch")
        body = json.loads(_unb64(payload))
        link = DeliveryLink(
            campaign_id=str(body["c"]),
            asset_id=uuid.UUID(hex=body["a"]),
            version=int(body["v"]),
            consumer_id=uuid.UUID(hex=body["k"]) if body["k"] else None,
            channel=body["ch"],
            expires_at=datetime.fromtimestamp(int(body["e"]), tz=UTC),
            preset=str(body["p"]) if body.get("p") is not None else None,
        )
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError) as exc:
        raise Forbidden("this delivery link is not valid", code="invalid_link") from exc
    if link.expires_at <= now:
        raise Forbidden(
            f"this delivery link expired at {link.expires_at.isoformat()}; "
            "fetch the campaign feed again for a fresh one",
            code="link_expired",
        )
    return link
