"""Sessions end everywhere at once: sign-out, a password change and disabling a user each end
every session of that user, copies of the cookie included. Cookies are Secure in production
and when a trusted TLS-terminating proxy says the client used https, never on its say-so
from anyone else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dam.app import create_app
from dam.context import Context, build_context
from dam.db import session_scope
from dam.models import Role
from dam.principal import SYSTEM
from dam.web import auth
from tests.web.support import PASSWORD, Users, csrf_of, sign_in

EMAIL = "dana@example.com"


@pytest.fixture
def signed_in(client: TestClient, users: Users) -> str:
    users.create(Role.designer, email=EMAIL)
    return sign_in(client, EMAIL)


@pytest.fixture
def copy(client: TestClient) -> Iterator[TestClient]:
    """A second browser holding a copy of the first one's session cookie."""
    stolen = client.cookies.get(auth.SESSION_COOKIE)
    assert stolen
    with TestClient(client.app, cookies={auth.SESSION_COOKIE: stolen}) as other:
        assert other.get("/library", follow_redirects=False).status_code == 200
        assert other.get("/api/v1/me").status_code == 200
        yield other


def _signed_out(other: TestClient) -> None:
    page = other.get("/library", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/sign-in")
    assert other.get("/api/v1/me").status_code == 401


def test_sign_out_ends_copies_of_the_cookie_too(
    client: TestClient, signed_in: str, copy: TestClient
) -> None:
    response = client.post("/sign-out", data={"csrf_token": signed_in}, follow_redirects=False)
    assert response.status_code == 303
    _signed_out(copy)
    _signed_out(client)


def test_a_password_change_ends_every_open_session(
    client: TestClient, ctx: Context, signed_in: str, copy: TestClient
) -> None:
    with session_scope(ctx.engine) as session:
        auth.update_user(
            session, email=EMAIL, actor=SYSTEM, now=ctx.now(), password="a new password 123"
        )
    _signed_out(copy)
    _signed_out(client)
    # The new password signs in again; the old one does not.
    assert sign_in(client, EMAIL, "a new password 123")
    page = client.get("/sign-in")
    refused = client.post(
        "/sign-in",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert refused.status_code == 400


def test_disabling_a_user_ends_their_sessions_and_enabling_does_not_revive_them(
    client: TestClient, ctx: Context, signed_in: str, copy: TestClient
) -> None:
    with session_scope(ctx.engine) as session:
        auth.update_user(session, email=EMAIL, actor=SYSTEM, now=ctx.now(), disabled=True)
    _signed_out(copy)
    with session_scope(ctx.engine) as session:
        auth.update_user(session, email=EMAIL, actor=SYSTEM, now=ctx.now(), disabled=False)
    _signed_out(copy)


def test_a_role_change_keeps_the_session(client: TestClient, ctx: Context, signed_in: str) -> None:
    with session_scope(ctx.engine) as session:
        auth.update_user(session, email=EMAIL, actor=SYSTEM, now=ctx.now(), role=Role.marketer)
    assert client.get("/api/v1/me").json()["role"] == "marketer"


def _with(ctx: Context, **settings: object) -> Context:
    other = build_context(ctx.settings.model_copy(update=settings), engine=ctx.engine)
    other.clock = ctx.clock
    return other


def _session_cookie(client: TestClient, **headers: str) -> str:
    token = csrf_of(client.get("/sign-in", headers=headers).text)
    # Sent by hand: the client keeps Secure cookies for https, and the test talks plain http.
    response = client.post(
        "/sign-in",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token},
        headers={**headers, "Cookie": f"dam_signin={token}"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    (cookie,) = [
        c for c in response.headers.get_list("set-cookie") if c.startswith(auth.SESSION_COOKIE)
    ]
    return cookie.lower()


def test_cookies_are_secure_behind_a_trusted_tls_proxy_only(ctx: Context, users: Users) -> None:
    users.create(Role.designer, email=EMAIL)
    app = create_app(ctx=_with(ctx, trusted_proxies="10.0.0.0/8"), run_worker=False)
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    with TestClient(app, client=("10.1.2.3", 4000)) as behind_proxy:
        assert "; secure" in _session_cookie(behind_proxy, **https)
    with TestClient(app, client=("198.51.100.7", 4000)) as stranger:
        assert "; secure" not in _session_cookie(stranger, **https)
    with TestClient(app, client=("10.1.2.3", 4000)) as plain:
        assert "; secure" not in _session_cookie(plain)


def test_production_cookies_are_always_secure(ctx: Context, users: Users) -> None:
    users.create(Role.designer, email=EMAIL)
    production = _with(ctx, env="production", secret_key="k" * 40)
    with TestClient(create_app(ctx=production, run_worker=False)) as client:
        assert "; secure" in _session_cookie(client)
