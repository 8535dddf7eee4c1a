"""Helpers for the web UI tests: users, signing in, and assets made through the API."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from dam.context import Context
from dam.db import session_scope
from dam.models import Role
from dam.principal import SYSTEM
from dam.web import auth
from tests.factories import GOOD_METADATA, image_bytes, upload

PASSWORD = "correct horse battery"
# A small graphic that passes every brand rule (quick to upload, compliance "pass").
GRAPHIC: dict[str, Any] = {
    **GOOD_METADATA,
    "terms": {"asset_type": ["graphic"], "usage_rights": ["owned"], "brand": ["halden"]},
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Users:
    ctx: Context

    def create(self, role: Role, *, email: str | None = None, name: str = "") -> str:
        email = email or f"{role.value}@example.com"
        with session_scope(self.ctx.engine) as session:
            auth.create_user(
                session,
                email=email,
                password=PASSWORD,
                role=role,
                name=name or role.value.replace("_", " ").title(),
                actor=SYSTEM,
                now=self.ctx.now(),
            )
        return email


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Signs in through the form; returns the session's CSRF token."""
    page = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/governance").text)


def new_asset(
    client: TestClient, headers: dict[str, str], *, seed: int = 1, **metadata: Any
) -> str:
    response = upload(
        client, headers, image_bytes(size=(64, 48), seed=seed), metadata={**GRAPHIC, **metadata}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
