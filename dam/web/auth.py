"""Local users for the web UI: argon2 password hashes, a signed session cookie, CSRF tokens.

The cookie carries the user id, the user's session generation, a per-session CSRF token and
the time it was issued, signed with `Settings.secret_key`. Every request reloads the user, so a
disabled user or a changed role takes effect at once, and a cookie whose generation is not the
user's current one is refused: sign-out, a password change and disabling raise the generation,
which ends every session of that user at once, copies of the cookie included, on every replica
(the generation lives in the database).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from dam.audit.service import record
from dam.auth.passwords import hash_password, verify_password
from dam.auth.passwords import hasher as _hasher
from dam.context import Context
from dam.db import insert_new
from dam.errors import Conflict, Forbidden, Invalid, NotFound, TooManyRequests
from dam.models import Role, SignInThrottle, User
from dam.principal import Principal

SESSION_COOKIE = "dam_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE = 12 * 3600
MIN_PASSWORD_LENGTH = 10
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Failed sign-ins allowed per email before a lockout; each failure after that doubles it.
FREE_FAILURES = 5
FIRST_LOCKOUT = timedelta(minutes=1)
MAX_LOCKOUT = timedelta(minutes=15)

# Verifying against this when the email is unknown keeps sign-in time the same either way,
# so response time does not reveal which emails have accounts.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class WebSession:
    user_id: uuid.UUID
    csrf: str
    generation: int


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: Role,
    name: str = "",
    actor: Principal,
    now: datetime,
) -> User:
    email = normalize_email(email)
    if "@" not in email or len(email) > 320:
        raise Invalid(f"{email!r} is not an email address", code="invalid_user")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters", code="weak_password"
        )
    user_id = uuid.uuid4()
    values = {
        "id": user_id,
        "email": email,
        "name": name.strip(),
        "role": role,
        "password_hash": hash_password(password),
        "disabled": False,
        "created_at": now,
    }
    # One atomic insert: of two requests creating the same email at once, the second gets 409.
    if not insert_new(session, User, values, unique=("email",)):
        raise Conflict(f"a user {email} already exists", code="user_exists")
    user = session.get(User, user_id)
    assert user is not None
    record(
        session,
        actor=actor,
        action="user.created",
        target=str(user.id),
        changes={"email": email, "role": role.value},
        now=now,
    )
    return user


def update_user(
    session: Session,
    *,
    email: str,
    actor: Principal,
    now: datetime,
    role: Role | None = None,
    disabled: bool | None = None,
    password: str | None = None,
) -> User:
    """Change a user's role, access or password (audited; the password only as "changed").
    A disabled user's open sessions stop working at their next request."""
    user = session.exec(select(User).where(col(User.email) == normalize_email(email))).first()
    if user is None:
        raise NotFound(f"no user {normalize_email(email)}", code="user_not_found")
    changes: dict[str, object] = {}
    if role is not None and role != user.role:
        changes["role"] = {"before": user.role.value, "after": role.value}
        user.role = role
    if disabled is not None and disabled != user.disabled:
        changes["disabled"] = {"before": user.disabled, "after": disabled}
        user.disabled = disabled
    if password is not None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise Invalid(
                f"the password needs at least {MIN_PASSWORD_LENGTH} characters",
                code="weak_password",
            )
        user.password_hash = hash_password(password)
        changes["password"] = "changed"  # noqa: S105 (a note for the audit, not a secret)
    if "password" in changes or changes.get("disabled", {}) == {"before": False, "after": True}:
        # Whoever knew the old password, or the disabled user, is signed out everywhere.
        user.session_generation += 1
    if changes:
        session.add(user)
        record(
            session,
            actor=actor,
            action="user.updated",
            target=str(user.id),
            changes=changes,
            now=now,
        )
    return user


def authenticate_user(session: Session, *, email: str, password: str, now: datetime) -> User:
    """The user for these credentials; one message for every failure so accounts don't leak.

    After `FREE_FAILURES` failures in a row for an email, sign-in with it is refused without
    checking the password for a minute, doubling with each further failure up to 15 minutes;
    a success clears the count. Unknown emails are counted the same way, so a lockout says
    nothing about whether an account exists. The failure is recorded in `session`, which the
    caller commits even though sign-in failed."""
    throttle = _throttle(session, normalize_email(email), now)
    if throttle.locked_until is not None and throttle.locked_until > now:
        minutes = math.ceil((throttle.locked_until - now).total_seconds() / 60)
        raise TooManyRequests(
            f"too many failed sign-ins for this email; try again in {minutes} "
            f"minute{'s' if minutes > 1 else ''}",
            code="sign_in_locked",
            retry_after=minutes * 60,
        )
    user = session.exec(select(User).where(col(User.email) == normalize_email(email))).first()
    if user is None:
        verify_password(_DUMMY_HASH, password)
        _failed(session, throttle, now)
        raise Forbidden("wrong email or password", code="sign_in_failed")
    if not verify_password(user.password_hash, password) or user.disabled:
        _failed(session, throttle, now)
        raise Forbidden("wrong email or password", code="sign_in_failed")
    session.delete(throttle)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    session.add(user)
    return user


def _throttle(session: Session, email: str, now: datetime) -> SignInThrottle:
    """This email's failure count, created if missing and locked for this transaction, so
    concurrent attempts count one after the other."""
    key = hashlib.sha256(email.encode()).hexdigest()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(SignInThrottle)
        .values(key=key, failures=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return session.exec(
        select(SignInThrottle).where(SignInThrottle.key == key).with_for_update()
    ).one()


def _failed(session: Session, throttle: SignInThrottle, now: datetime) -> None:
    throttle.failures += 1
    throttle.updated_at = now
    over = throttle.failures - FREE_FAILURES
    if over >= 0:
        throttle.locked_until = now + min(FIRST_LOCKOUT * 2**over, MAX_LOCKOUT)
    session.add(throttle)


def principal_of(user: User) -> Principal:
    return Principal(id=user.id, name=user.name or user.email, role=user.role, kind="user")


def _serializer(ctx: Context) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx.settings.secret_key, salt="dam.web.session")


def issue_session(ctx: Context, user: User) -> tuple[str, WebSession]:
    """A new cookie value; a fresh CSRF token every sign-in."""
    web = WebSession(
        user_id=user.id, csrf=secrets.token_urlsafe(32), generation=user.session_generation
    )
    payload = {"u": str(user.id), "c": web.csrf, "g": web.generation}
    return _serializer(ctx).dumps(payload), web


def read_session(ctx: Context, cookie: str | None) -> WebSession | None:
    if not cookie:
        return None
    try:
        data = _serializer(ctx).loads(cookie, max_age=SESSION_MAX_AGE)
        return WebSession(
            user_id=uuid.UUID(data["u"]), csrf=str(data["c"]), generation=int(data["g"])
        )
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def end_sessions(session: Session, *, user_id: uuid.UUID) -> None:
    """Sign-out: every session of this user ends, this cookie and any copy of it."""
    session.execute(
        sa.update(User)
        .where(col(User.id) == user_id)
        .values(session_generation=User.session_generation + 1)
    )


def csrf_matches(web: WebSession, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(web.csrf.encode(), (token or "").encode())


def session_user(ctx: Context, request: Request) -> tuple[User, WebSession] | None:
    """The signed-in, enabled user of this request, cached on the request."""
    cached: tuple[User, WebSession] | None = getattr(request.state, "web_user", None)
    if cached is not None:
        return cached
    web = read_session(ctx, request.cookies.get(SESSION_COOKIE))
    if web is None:
        return None
    with Session(ctx.engine, expire_on_commit=False) as session:
        user = session.get(User, web.user_id)
    if user is None or user.disabled or user.session_generation != web.generation:
        return None
    request.state.web_user = (user, web)
    return user, web


def session_principal(request: Request) -> Principal | None:
    """Lets the JSON API accept the session cookie. Cookies ride along on cross-site requests,
    so a cookie-authenticated change must also carry the CSRF token in a header."""
    ctx: Context = request.app.state.ctx
    found = session_user(ctx, request)
    if found is None:
        return None
    user, web = found
    # Web forms had their token checked from the form body by `pages.verify_csrf`.
    form_checked = getattr(request.state, "csrf_checked", False)
    if (
        request.method not in SAFE_METHODS
        and not form_checked
        and not csrf_matches(web, request.headers.get(CSRF_HEADER))
    ):
        raise Forbidden(
            f"send the page's CSRF token in the {CSRF_HEADER} header", code="csrf_failed"
        )
    return principal_of(user)
