"""Delivery links are signed with a keyed HMAC set up once per secret: the token must be the
one `dam.signing.seal` makes, and verify back to the same link."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from dam import signing
from dam.campaigns import links
from dam.errors import Forbidden


@pytest.mark.parametrize("preset", [None, "instagram-feed"])
def test_a_link_is_what_seal_makes_and_verifies(preset: str | None) -> None:
    link = links.DeliveryLink(
        campaign_id="SPRING26-EMAIL",
        asset_id=uuid.uuid4(),
        version=3,
        consumer_id=uuid.uuid4(),
        channel="email",
        expires_at=datetime(2027, 1, 1, tzinfo=UTC),
        preset=preset,
    )
    body = {
        "c": link.campaign_id,
        "a": link.asset_id.hex,
        "v": link.version,
        "k": link.consumer_id.hex if link.consumer_id else None,
        "ch": link.channel,
        "e": int(link.expires_at.timestamp()),
    }
    if preset is not None:
        body["p"] = preset
    for secret in ("one secret", "another secret"):
        token = links.sign(link, secret=secret)
        assert token == signing.seal(body, purpose=links._PURPOSE, secret=secret)
        assert links.verify(token, secret=secret, now=datetime(2026, 1, 1, tzinfo=UTC)) == link
    with pytest.raises(Forbidden):
        links.verify(
            links.sign(link, secret="one secret"),
            secret="another secret",
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
