"""Users, the session cookie, CSRF and role gating of the web UI."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from dam.context import Context
from dam.models import Asset, AssetVersion, AuditEvent, ReviewState, Role, User
from dam.web import auth
from tests.conftest import Clock, Keys
from tests.web.support import PASSWORD, Users, csrf_of, new_asset, sign_in


def _version(ctx: Context, asset_id: str) -> AssetVersion:
    with Session(ctx.engine) as session:
        asset = session.get(Asset, uuid.UUID(asset_id))
        assert asset is not None
        return session.exec(
            select(AssetVersion).where(
                AssetVersion.asset_id == asset.id, AssetVersion.number == asset.current_version
            )
        ).one()


def test_password_is_stored_as_argon2id_and_verifies() -> None:
    hashed = auth.hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert auth.verify_password(hashed, PASSWORD)
    assert not auth.verify_password(hashed, PASSWORD + "x")
    assert not auth.verify_password("not a hash", PASSWORD)


def test_create_user_refuses_short_password_and_duplicate_email(users: Users) -> None:
    from dam.db import session_scope
    from dam.errors import Conflict, Invalid
    from dam.principal import SYSTEM

    users.create(Role.designer, email="Dana@Example.com")
    with pytest.raises(Conflict), session_scope(users.ctx.engine) as session:
        auth.create_user(
            session,
            email="dana@example.com",
            password=PASSWORD,
            role=Role.marketer,
            actor=SYSTEM,
            now=users.ctx.now(),
        )
    with pytest.raises(Invalid), session_scope(users.ctx.engine) as session:
        auth.create_user(
            session,
            email="x@example.com",
            password="short",
            role=Role.marketer,
            actor=SYSTEM,
            now=users.ctx.now(),
        )


def test_sign_in_sets_signed_http_only_samesite_cookie_with_expiry(
    client: TestClient, users: Users
) -> None:
    email = users.create(Role.designer)
    page = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/library"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("dam_session=")
    )
    lowered = cookie.lower()
    assert "httponly" in lowered
    assert "samesite=lax" in lowered
    assert f"max-age={auth.SESSION_MAX_AGE}" in lowered
    with Session(users.ctx.engine) as session:
        user = session.exec(select(User).where(User.email == email)).one()
        assert user.last_login_at is not None


def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: TestClient, users: Users
) -> None:
    email = users.create(Role.designer)
    answers = []
    for who, password in ((email, "wrong password!"), ("nobody@example.com", PASSWORD)):
        page = client.get("/sign-in")
        response = client.post(
            "/sign-in",
            data={"email": who, "password": password, "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert response.status_code == 400
        assert "dam_session" not in response.headers.get("set-cookie", "")
        answers.append("wrong email or password" in response.text)
    assert answers == [True, True]


def _try_sign_in(client: TestClient, email: str, password: str) -> httpx.Response:
    page = client.get("/sign-in")
    return client.post(
        "/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def test_repeated_failures_lock_the_email_out_for_a_while(
    client: TestClient, users: Users, clock: Clock
) -> None:
    email = users.create(Role.designer)
    for _ in range(auth.FREE_FAILURES):
        assert _try_sign_in(client, email, "wrong password!").status_code == 400
    # Locked: even the right password is not checked now.
    locked = _try_sign_in(client, email, PASSWORD)
    assert locked.status_code == 429
    assert "too many failed sign-ins for this email; try again in 1 minute" in locked.text
    assert locked.headers["Retry-After"] == "60"
    assert "dam_session" not in locked.headers.get("set-cookie", "")
    # A failure right after the lockout doubles it.
    clock.advance(seconds=61)
    assert _try_sign_in(client, email, "wrong again!!").status_code == 400
    assert "try again in 2 minutes" in _try_sign_in(client, email, PASSWORD).text
    clock.advance(minutes=2, seconds=1)
    assert _try_sign_in(client, email, PASSWORD).status_code == 303
    # A success clears the count: the next mistakes start from zero.
    client.cookies.clear()
    for _ in range(auth.FREE_FAILURES):
        assert _try_sign_in(client, email, "wrong password!").status_code == 400


def test_unknown_email_is_locked_out_the_same_way(client: TestClient, clock: Clock) -> None:
    for _ in range(auth.FREE_FAILURES):
        assert _try_sign_in(client, "nobody@example.com", PASSWORD).status_code == 400
    locked = _try_sign_in(client, "Nobody@Example.com ", PASSWORD)
    assert locked.status_code == 429
    assert "too many failed sign-ins" in locked.text


def test_disabled_user_cannot_sign_in_and_loses_an_open_session(
    client: TestClient, users: Users
) -> None:
    email = users.create(Role.designer)
    sign_in(client, email)
    with Session(users.ctx.engine) as session:
        user = session.exec(select(User).where(User.email == email)).one()
        user.disabled = True
        session.add(user)
        session.commit()
    assert client.get("/governance", follow_redirects=False).status_code == 303
    page = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 400


def test_sign_in_form_without_its_token_is_refused(client: TestClient, users: Users) -> None:
    email = users.create(Role.designer)
    client.get("/sign-in")
    response = client.post(
        "/sign-in", data={"email": email, "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "dam_session" not in response.headers.get("set-cookie", "")


def test_pages_send_signed_out_visitors_to_sign_in_and_back(client: TestClient) -> None:
    response = client.get("/governance?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fgovernance%3Fx%3D1"
    assert client.get("/", follow_redirects=False).headers["location"] == "/sign-in"


def test_sign_in_never_redirects_off_site(client: TestClient, users: Users) -> None:
    email = users.create(Role.designer)
    page = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={
            "email": email,
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "//evil.example/phish",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/library"


def test_tampered_or_expired_session_cookie_is_ignored(
    client: TestClient, users: Users, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = users.create(Role.designer)
    sign_in(client, email)
    value = client.cookies["dam_session"]
    client.cookies.set("dam_session", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    assert client.get("/governance", follow_redirects=False).status_code == 303

    client.cookies.set("dam_session", value)
    assert client.get("/governance", follow_redirects=False).status_code == 200
    later = time.time() + auth.SESSION_MAX_AGE + 60
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: later)
    assert client.get("/governance", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(client: TestClient, users: Users) -> None:
    email = users.create(Role.designer)
    csrf = sign_in(client, email)
    response = client.post("/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert 'dam_session=""' in response.headers["set-cookie"]
    assert client.get("/governance", follow_redirects=False).status_code == 303


def test_json_api_accepts_the_session_cookie_and_requires_csrf_header_for_changes(
    client: TestClient, users: Users, admin: dict[str, str]
) -> None:
    asset_id = new_asset(client, admin)
    csrf = sign_in(client, users.create(Role.designer))
    assert client.get(f"/api/v1/assets/{asset_id}").status_code == 200

    refused = client.post(f"/api/v1/assets/{asset_id}/submit")
    assert refused.status_code == 403
    assert refused.json()["error"] == "csrf_failed"
    wrong = client.post(f"/api/v1/assets/{asset_id}/submit", headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    assert _version(users.ctx, asset_id).review_state == ReviewState.draft

    ok = client.post(f"/api/v1/assets/{asset_id}/submit", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    assert _version(users.ctx, asset_id).review_state == ReviewState.in_review


def test_api_keys_need_no_csrf_token_even_with_a_session_cookie(
    client: TestClient, users: Users, admin: dict[str, str]
) -> None:
    asset_id = new_asset(client, admin)
    sign_in(client, users.create(Role.designer))
    response = client.post(f"/api/v1/assets/{asset_id}/submit", headers=admin)
    assert response.status_code == 200


def test_form_post_without_csrf_token_changes_nothing(
    client: TestClient, users: Users, admin: dict[str, str]
) -> None:
    asset_id = new_asset(client, admin)
    sign_in(client, users.create(Role.designer))
    response = client.post(f"/assets/{asset_id}/submit", data={}, follow_redirects=False)
    assert response.status_code == 403
    assert "form expired" in response.text
    assert _version(users.ctx, asset_id).review_state == ReviewState.draft


# Campaigns and the creative-operations pages (briefs, turnaround), collections, the inbox.
CREATIVE_OPS = ["/campaigns", "/briefs", "/turnaround", "/collections", "/inbox"]


@pytest.mark.parametrize(
    ("role", "links"),
    [
        (Role.designer, ["/library", "/upload", *CREATIVE_OPS, "/governance"]),
        (Role.brand_manager, ["/library", "/upload", "/review", *CREATIVE_OPS, "/governance"]),
        (Role.marketer, ["/library", *CREATIVE_OPS, "/governance"]),
        (Role.admin, ["/library", "/upload", "/review", *CREATIVE_OPS, "/governance", "/admin"]),
    ],
)
def test_navigation_offers_only_the_pages_the_role_may_use(
    client: TestClient, users: Users, role: Role, links: list[str]
) -> None:
    import re

    sign_in(client, users.create(role))
    html = client.get("/governance").text
    nav = html.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    assert re.findall(r'href="([^"]+)"', nav) == links
    for path in ("/upload", "/review"):
        expected = 200 if path in links else 403
        assert client.get(path).status_code == expected, path


def test_designer_sees_no_review_buttons_and_cannot_approve_by_form(
    client: TestClient, users: Users, keys: Keys
) -> None:
    uploader = keys.headers(Role.designer)
    asset_id = new_asset(client, uploader)
    assert client.post(f"/api/v1/assets/{asset_id}/submit", headers=uploader).status_code == 200
    csrf = sign_in(client, users.create(Role.designer, email="other@example.com"))
    page = client.get(f"/assets/{asset_id}").text
    assert f'action="/assets/{asset_id}/approve"' not in page
    assert f'action="/assets/{asset_id}/reject"' not in page
    response = client.post(f"/assets/{asset_id}/approve", data={"csrf_token": csrf})
    assert response.status_code == 403
    assert _version(users.ctx, asset_id).review_state == ReviewState.in_review


def test_marketer_gets_not_found_for_an_unpublished_asset(
    client: TestClient, users: Users, admin: dict[str, str]
) -> None:
    asset_id = new_asset(client, admin)
    sign_in(client, users.create(Role.marketer))
    response = client.get(f"/assets/{asset_id}")
    assert response.status_code == 404
    assert "Not found" in response.text


def test_cli_creates_a_user_from_stdin(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from dam.cli import app

    monkeypatch.setenv("DAM_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setenv("DAM_TAXONOMY_DIR", str(ctx.settings.taxonomy_dir))
    monkeypatch.setenv("DAM_DATABASE_URL", str(ctx.engine.url.render_as_string(False)))
    from dam.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app,
            ["users", "create", "Ops@Example.com", "--role", "brand_manager", "--password-stdin"],
            input=PASSWORD + "\n",
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    with Session(ctx.engine) as session:
        user = session.exec(select(User).where(User.email == "ops@example.com")).one()
    assert user.role == Role.brand_manager
    assert auth.verify_password(user.password_hash, PASSWORD)


def _cli(ctx: Context, monkeypatch: pytest.MonkeyPatch, args: list[str], stdin: str = "") -> str:
    from dam.cli import app
    from dam.config import get_settings

    monkeypatch.setenv("DAM_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setenv("DAM_TAXONOMY_DIR", str(ctx.settings.taxonomy_dir))
    monkeypatch.setenv("DAM_DATABASE_URL", str(ctx.engine.url.render_as_string(False)))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, args, input=stdin)
    finally:
        get_settings.cache_clear()
    return f"{result.exit_code}:{result.output}"


def test_cli_disables_re_enables_and_changes_role_and_password(
    client: TestClient, ctx: Context, users: Users, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = users.create(Role.designer)
    sign_in(client, email)
    assert client.get("/upload").status_code == 200

    out = _cli(ctx, monkeypatch, ["users", "update", email, "--disable"])
    assert out.startswith("0:"), out
    # Offboarded: the open session stops working at once, and sign-in is refused.
    assert client.get("/upload", follow_redirects=False).status_code in (303, 401)
    client.cookies.clear()
    assert _try_sign_in(client, email, PASSWORD).status_code == 400

    out = _cli(
        ctx,
        monkeypatch,
        ["users", "update", email, "--enable", "--role", "marketer", "--password-stdin"],
        stdin="a brand new passphrase\n",
    )
    assert out.startswith("0:"), out
    assert _try_sign_in(client, email, PASSWORD).status_code == 400  # the old password is gone
    assert _try_sign_in(client, email, "a brand new passphrase").status_code == 303
    with Session(ctx.engine) as session:
        user = session.exec(select(User).where(User.email == email)).one()
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "user.updated")).all()
    assert (user.role, user.disabled) == (Role.marketer, False)
    assert [e.changes for e in events][-1] == {
        "role": {"before": "designer", "after": "marketer"},
        "disabled": {"before": True, "after": False},
        "password": "changed",
    }
    listed = _cli(ctx, monkeypatch, ["users", "list"])
    assert f"{email}\tmarketer\tactive" in listed
    assert _cli(ctx, monkeypatch, ["users", "update", "ghost@example.com", "--disable"]).startswith(
        "1:"
    )
    weak = _cli(ctx, monkeypatch, ["users", "update", email, "--password-stdin"], stdin="short\n")
    assert weak.startswith("1:") and "at least 10 characters" in weak
