"""Delivery links are signed by `dam.signing.seal`, whose keyed HMAC is set up once per secret
and purpose and copied per token: the tokens must be those of a plain HMAC-SHA256 over the
purpose and the compact JSON payload (links made before stay valid), and verify back to the
same link."""

from __future__ import annotations

import hashlib
import hmac
import json
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
        payload = signing.b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        plain = hmac.new(secret.encode(), links._PURPOSE + payload.encode(), hashlib.sha256)
        assert token == f"{payload}.{signing.b64(plain.digest())}"
        assert links.verify(token, secret=secret, now=datetime(2026, 1, 1, tzinfo=UTC)) == link
    with pytest.raises(Forbidden):
        links.verify(
            links.sign(link, secret="one secret"),
            secret="another secret",
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )


@pytest.mark.parametrize("channel", [None, "email", 'näme "quoted"'])
@pytest.mark.parametrize("consumer", [None, uuid.UUID(int=7)])
@pytest.mark.parametrize("preset", [None, "instagram-feed"])
def test_a_page_signer_makes_the_tokens_of_sign(
    channel: str | None, consumer: uuid.UUID | None, preset: str | None
) -> None:
    expires = datetime(2027, 1, 1, 12, 30, 15, 999, tzinfo=UTC)
    sign = links.signer(
        campaign_id="SPRING26-ÉMAIL",
        consumer_id=consumer,
        channel=channel,
        expires_at=expires,
        secret="one secret",
    )
    for _ in range(2):  # the second time from the signer's memory of the preset
        asset_id = uuid.uuid4()
        link = links.DeliveryLink(
            campaign_id="SPRING26-ÉMAIL",
            asset_id=asset_id,
            version=12,
            consumer_id=consumer,
            channel=channel,
            expires_at=expires,
            preset=preset,
        )
        assert sign(asset_id, 12, preset) == links.sign(link, secret="one secret")
