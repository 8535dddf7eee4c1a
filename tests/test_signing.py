"""dam.signing: the tokens behind delivery, derivative and share links."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from dam import signing


def test_a_sealed_body_comes_back_unchanged() -> None:
    token = signing.seal({"a": "x", "n": 3}, purpose=b"p1:", secret="s")
    assert signing.unseal(token, purpose=b"p1:", secret="s") == {"a": "x", "n": 3}


@pytest.mark.parametrize(
    ("purpose", "secret"), [(b"p2:", "s"), (b"p1:", "other secret")], ids=["purpose", "secret"]
)
def test_a_token_is_refused_for_another_purpose_or_secret(purpose: bytes, secret: str) -> None:
    token = signing.seal({"a": "x"}, purpose=b"p1:", secret="s")
    with pytest.raises(ValueError, match="signature mismatch"):
        signing.unseal(token, purpose=purpose, secret=secret)


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.", "!!!.***", "e30.", "é.é"])
def test_malformed_tokens_raise_value_error(token: str) -> None:
    with pytest.raises(ValueError):
        signing.unseal(token, purpose=b"p1:", secret="s")


def test_a_changed_payload_is_refused() -> None:
    _, _, signature = signing.seal({"v": 1}, purpose=b"p:", secret="s").partition(".")
    forged = signing.b64(b'{"v":2}') + "." + signature
    with pytest.raises(ValueError, match="signature mismatch"):
        signing.unseal(forged, purpose=b"p:", secret="s")


@pytest.mark.parametrize("secret", ["s", "x" * 64, "y" * 65, "ünïcode secret"])
@pytest.mark.parametrize("payload", [b"", b"abc", b"x" * 300])
def test_mac_is_hmac_sha256_over_the_purpose_and_payload(secret: str, payload: bytes) -> None:
    expected = hmac.new(secret.encode(), b"p:" + payload, hashlib.sha256).digest()
    assert signing.mac(secret, b"p:", payload) == expected
    assert signing.mac(secret, b"p:", payload) == expected  # the cached keys are not consumed


def test_seal_text_is_seal_of_the_compact_json() -> None:
    body = {"b": [1, "é"], "a": None}
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    assert signing.seal_text(text, purpose=b"p:", secret="s") == signing.seal(
        body, purpose=b"p:", secret="s"
    )
