"""The access matrix: every route of the app, times every principal, times every kind of object
(own draft, another designer's draft, published, archived, published in another campaign),
compared with the rules below.

The routes come from the app itself, so a route added without a rule here fails
`test_every_route_has_a_rule`, and a rule for a route that is gone fails too. A request is
*allowed* when its answer is not an access refusal: 401, 403, a redirect to sign-in, or the
404 that hides an object (`asset_not_found`, `campaign_not_found`). Business refusals (409,
422, a page's flash message) count as allowed: the caller got past access control.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session

from dam.api.middleware import flat_routes
from dam.auth import service as auth_service
from dam.collections import saved, shares
from dam.collections import service as collections
from dam.collections.schemas import CollectionIn, GrantIn, SavedSearchIn, ShareLinkIn
from dam.context import Context
from dam.db import session_scope
from dam.models import Asset, AssetStatus, Collection, Role
from dam.principal import SYSTEM
from dam.principal import Principal as DamPrincipal
from dam.worker import run_pending
from tests.campaigns.support import new_campaign, publish
from tests.conftest import Keys
from tests.factories import image_bytes, upload
from tests.web.support import GRAPHIC, Users, csrf_of, sign_in

ALL = frozenset(Role)
UPLOADERS = frozenset({Role.admin, Role.brand_manager, Role.designer})
REVIEWERS = frozenset({Role.admin, Role.brand_manager})
ADMIN = frozenset({Role.admin})
MANAGERS = frozenset({Role.admin, Role.brand_manager, Role.marketer})
TAGGERS = frozenset({Role.admin, Role.brand_manager, Role.designer, Role.marketer})
REPORTERS = frozenset({Role.admin, Role.brand_manager, Role.marketer, Role.automation})
ANALYSTS = TAGGERS
HIDING_CODES = {
    "asset_not_found",
    "campaign_not_found",
    "collection_not_found",
    "share_link_not_found",
    "saved_search_not_found",
}
# A collection's owner (the designer key of the matrix) and admins rename, share and edit it.
OWNERS = frozenset({Role.admin, Role.designer})
NOT_PAGES = ("/api/", "/healthz", "/readyz", "/openapi", "/docs", "/redoc")


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role] = ALL
    public: bool = False  # no key or session needed
    body: Callable[[Cell], dict[str, Any]] | None = None  # request kwargs
    # Public, like a share link's pages: an asset is shown only when it is published.
    outside: bool = False


# --- request bodies ------------------------------------------------------------------------

_seeds = itertools.count(1)


def _distinct_image() -> bytes:
    n = next(_seeds)
    return image_bytes(size=(64, 48), color=(n % 256, n // 256 % 256, 90), seed=n % 97 + 1)


def _image_form(cell: Cell) -> dict[str, Any]:
    data = _distinct_image()
    return {"files": {"file": ("a.jpg", data, "image/jpeg")}, "data": {"metadata": "{}"}}


def _upload_form(cell: Cell) -> dict[str, Any]:
    form = _image_form(cell)
    form["data"] = {"metadata": json.dumps(GRAPHIC)}
    return form


def _json(value: Any) -> Callable[[Cell], dict[str, Any]]:
    return lambda cell: {"json": value() if callable(value) else value}


def _form(**fields: Any) -> Callable[[Cell], dict[str, Any]]:
    return lambda cell: {"data": {**{k: v(cell) if callable(v) else v for k, v in fields.items()}}}


def _csrf(cell: Cell) -> str:
    return cell.csrf


def _sign_in_form(cell: Cell) -> dict[str, Any]:
    """Wrong credentials, with the form's own token: the answer is the form again (400)."""
    token = csrf_of(cell.principal.client.get("/sign-in").text)
    return {"data": {"email": "x@y.z", "password": "wrong", "csrf_token": token}}


def _campaign(cell: Cell) -> str:
    return cell.campaign


def _published(cell: Cell) -> str:
    return cell.world.published


def _published_ids(cell: Cell) -> dict[str, Any]:
    return {"json": {"asset_ids": [cell.world.published]}}


RULES: dict[tuple[str, str], Rule] = {
    # assets
    ("POST", "/api/v1/assets"): Rule(UPLOADERS, body=_upload_form),
    ("GET", "/api/v1/assets"): Rule(),
    ("GET", "/api/v1/assets/{asset_id}"): Rule(),
    ("PATCH", "/api/v1/assets/{asset_id}"): Rule(UPLOADERS, body=_json({"title": "Renamed"})),
    ("DELETE", "/api/v1/assets/{asset_id}"): Rule(UPLOADERS),
    ("POST", "/api/v1/assets/{asset_id}/unarchive"): Rule(UPLOADERS),
    ("POST", "/api/v1/assets/{asset_id}/versions"): Rule(UPLOADERS, body=_image_form),
    ("GET", "/api/v1/assets/{asset_id}/versions"): Rule(),
    ("POST", "/api/v1/assets/{asset_id}/versions/{number}/restore"): Rule(UPLOADERS),
    ("GET", "/api/v1/assets/{asset_id}/content"): Rule(),
    ("GET", "/api/v1/assets/{asset_id}/renditions/{kind}"): Rule(),
    ("GET", "/api/v1/assets/{asset_id}/similar"): Rule(),
    ("GET", "/api/v1/assets/{asset_id}/history"): Rule(),
    # derivatives
    ("GET", "/api/v1/assets/{asset_id}/derivatives"): Rule(),
    ("GET", "/api/v1/assets/{asset_id}/derivatives/{preset_id}"): Rule(),
    ("POST", "/api/v1/assets/{asset_id}/derivatives/{preset_id}/links"): Rule(),
    ("GET", "/api/v1/assets/{asset_id}/transform"): Rule(),
    ("GET", "/api/v1/derivatives/{link}"): Rule(public=True),
    ("GET", "/api/v1/assets/{asset_id}/versions/{number}/focal-point"): Rule(),
    ("PUT", "/api/v1/assets/{asset_id}/versions/{number}/focal-point"): Rule(
        UPLOADERS, body=_json({"x": 0.5, "y": 0.5})
    ),
    ("DELETE", "/api/v1/assets/{asset_id}/versions/{number}/focal-point"): Rule(UPLOADERS),
    # bulk: open to every role; what each may do is refused per asset in the answer
    ("POST", "/api/v1/assets/bulk"): Rule(
        body=_json(lambda: {"asset_ids": [str(uuid.uuid4())], "actions": [{"action": "submit"}]})
    ),
    # resumable uploads (tus): without Tus-Resumable an uploader gets 412, past access control
    ("OPTIONS", "/api/v1/uploads"): Rule(),
    ("POST", "/api/v1/uploads"): Rule(UPLOADERS),
    ("PATCH", "/api/v1/uploads/{upload_id}"): Rule(UPLOADERS),
    ("DELETE", "/api/v1/uploads/{upload_id}"): Rule(UPLOADERS),
    # keys and identity
    ("GET", "/api/v1/me"): Rule(),
    ("POST", "/api/v1/keys"): Rule(ADMIN, body=_json({"role": "designer", "name": "m"})),
    ("GET", "/api/v1/keys"): Rule(ADMIN),
    ("DELETE", "/api/v1/keys/{key_id}"): Rule(ADMIN),
    # governance
    ("GET", "/api/v1/taxonomy"): Rule(),
    ("GET", "/api/v1/governance/rules"): Rule(),
    ("POST", "/api/v1/governance/validate"): Rule(UPLOADERS, body=_upload_form),
    ("POST", "/api/v1/governance/prefill"): Rule(UPLOADERS, body=_upload_form),
    ("POST", "/api/v1/governance/reload"): Rule(ADMIN),
    # review
    ("POST", "/api/v1/assets/{asset_id}/submit"): Rule(UPLOADERS),
    ("POST", "/api/v1/assets/{asset_id}/approve"): Rule(REVIEWERS),
    ("POST", "/api/v1/assets/{asset_id}/reject"): Rule(REVIEWERS, body=_json({"reason": "no"})),
    ("GET", "/api/v1/review-queue"): Rule(REVIEWERS),
    ("GET", "/api/v1/assets/{asset_id}/review"): Rule(UPLOADERS),
    ("GET", "/api/v1/review-stages"): Rule(),
    ("POST", "/api/v1/assets/{asset_id}/versions/{number}/comments"): Rule(
        UPLOADERS, body=_json({"body": "c"})
    ),
    ("GET", "/api/v1/assets/{asset_id}/comments"): Rule(UPLOADERS),
    ("PATCH", "/api/v1/assets/{asset_id}/comments/{comment_id}"): Rule(
        UPLOADERS, body=_json({"resolved": True})
    ),
    ("GET", "/api/v1/inbox"): Rule(),
    ("POST", "/api/v1/briefs"): Rule(
        MANAGERS, body=_json({"title": "B", "deliverables": [{"label": "Hero"}]})
    ),
    ("GET", "/api/v1/briefs"): Rule(ANALYSTS),
    ("GET", "/api/v1/reports/turnaround"): Rule(ANALYSTS),
    ("GET", "/api/v1/briefs/{brief_id}"): Rule(ANALYSTS),
    ("POST", "/api/v1/briefs/{brief_id}/assets"): Rule(UPLOADERS, body=_image_form),
    ("POST", "/api/v1/briefs/{brief_id}/links"): Rule(
        UPLOADERS, body=_json({"asset_id": str(uuid.uuid4()), "deliverable": "none"})
    ),
    ("POST", "/api/v1/inbox/read"): Rule(body=_json({})),
    ("GET", "/api/v1/audit"): Rule(REVIEWERS),
    # webhooks
    ("POST", "/api/v1/webhooks"): Rule(
        ADMIN,
        body=_json(
            {"url": "https://hooks.example/m", "events": ["*"], "secret": "s" * 16},
        ),
    ),
    ("GET", "/api/v1/webhooks"): Rule(ADMIN),
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): Rule(ADMIN),
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): Rule(ADMIN),
    # search
    ("GET", "/api/v1/search"): Rule(),
    # campaigns
    ("POST", "/api/v1/campaigns"): Rule(
        MANAGERS, body=_json(lambda: {"id": f"M-{uuid.uuid4().hex[:8]}", "name": "M"})
    ),
    ("GET", "/api/v1/campaigns"): Rule(),
    ("GET", "/api/v1/campaigns/{campaign_id}"): Rule(),
    ("PATCH", "/api/v1/campaigns/{campaign_id}"): Rule(MANAGERS, body=_json({"name": "N"})),
    ("POST", "/api/v1/assets/{asset_id}/campaigns"): Rule(
        TAGGERS, body=lambda cell: {"json": {"campaign_ids": [cell.campaign]}}
    ),
    ("DELETE", "/api/v1/assets/{asset_id}/campaigns/{campaign_id}"): Rule(TAGGERS),
    ("GET", "/api/v1/campaigns/{campaign_id}/assets"): Rule(),
    ("GET", "/api/v1/campaigns/{campaign_id}/assets/removed"): Rule(),
    ("GET", "/api/v1/deliveries/{token}"): Rule(public=True),
    ("POST", "/api/v1/campaigns/{campaign_id}/metrics"): Rule(REPORTERS, body=_json([])),
    ("GET", "/api/v1/campaigns/{campaign_id}/performance"): Rule(),
    ("POST", "/api/v1/campaigns/{campaign_id}/placements"): Rule(REPORTERS, body=_json({})),
    ("GET", "/api/v1/campaigns/{campaign_id}/placements"): Rule(),
    ("GET", "/api/v1/metric-sources"): Rule(),
    ("GET", "/api/v1/reports/creative-insights"): Rule(ANALYSTS),
    # operations and documentation
    ("GET", "/healthz"): Rule(public=True),
    ("GET", "/readyz"): Rule(public=True),
    ("GET", "/openapi.json"): Rule(public=True),
    ("GET", "/docs"): Rule(public=True),
    ("GET", "/docs/oauth2-redirect"): Rule(public=True),
    ("GET", "/redoc"): Rule(public=True),
    # pages (signed-in users; forms carry the session's CSRF token)
    ("GET", "/"): Rule(public=True),  # a redirect for everyone: to sign in, or the library
    ("GET", "/sign-in"): Rule(public=True),
    ("POST", "/sign-in"): Rule(public=True, body=_sign_in_form),
    ("POST", "/sign-out"): Rule(body=_form(csrf_token=_csrf)),
    ("GET", "/library"): Rule(),
    ("GET", "/assets/{asset_id}"): Rule(),
    ("POST", "/assets/{asset_id}/submit"): Rule(UPLOADERS, body=_form(csrf_token=_csrf)),
    ("POST", "/assets/{asset_id}/approve"): Rule(REVIEWERS, body=_form(csrf_token=_csrf)),
    ("POST", "/assets/{asset_id}/reject"): Rule(
        REVIEWERS, body=_form(csrf_token=_csrf, reason="no")
    ),
    ("POST", "/assets/{asset_id}/versions/{number}/restore"): Rule(
        UPLOADERS, body=_form(csrf_token=_csrf)
    ),
    ("POST", "/assets/{asset_id}/edit"): Rule(
        UPLOADERS, body=_form(csrf_token=_csrf, etag='"stale"', title="T")
    ),
    ("POST", "/assets/{asset_id}/archive"): Rule(UPLOADERS, body=_form(csrf_token=_csrf)),
    ("POST", "/assets/{asset_id}/unarchive"): Rule(UPLOADERS, body=_form(csrf_token=_csrf)),
    ("POST", "/assets/{asset_id}/campaigns"): Rule(
        TAGGERS, body=_form(csrf_token=_csrf, campaign_id=_campaign)
    ),
    ("POST", "/assets/{asset_id}/campaigns/{campaign_id}/remove"): Rule(
        TAGGERS, body=_form(csrf_token=_csrf)
    ),
    ("GET", "/upload"): Rule(UPLOADERS),
    ("GET", "/review"): Rule(REVIEWERS),
    ("GET", "/campaigns"): Rule(ANALYSTS),
    ("GET", "/briefs"): Rule(ANALYSTS),
    ("POST", "/briefs"): Rule(MANAGERS, body=_form(csrf_token=_csrf, title="T", deliverables="A")),
    ("GET", "/briefs/{brief_id}"): Rule(ANALYSTS),
    ("GET", "/inbox"): Rule(),
    ("POST", "/inbox/read"): Rule(body=_form(csrf_token=_csrf)),
    ("GET", "/turnaround"): Rule(ANALYSTS),
    ("GET", "/campaigns/{campaign_id}"): Rule(ANALYSTS),
    ("GET", "/governance"): Rule(),
    # collections (each cell gets a fresh collection of the designer key, shared with every
    # role to view), zips, saved searches (each cell a fresh one of the designer key) and
    # share links (each cell a fresh one of the designer key, for the published asset)
    ("POST", "/api/v1/collections"): Rule(TAGGERS, body=_json({"name": "M"})),
    ("GET", "/api/v1/collections"): Rule(),
    ("GET", "/api/v1/collections/{collection_id}"): Rule(),
    ("PATCH", "/api/v1/collections/{collection_id}"): Rule(OWNERS, body=_json({"name": "N"})),
    ("DELETE", "/api/v1/collections/{collection_id}"): Rule(OWNERS),
    ("GET", "/api/v1/collections/{collection_id}/items"): Rule(),
    ("POST", "/api/v1/collections/{collection_id}/items"): Rule(OWNERS, body=_published_ids),
    ("DELETE", "/api/v1/collections/{collection_id}/items/{asset_id}"): Rule(OWNERS),
    ("PUT", "/api/v1/collections/{collection_id}/order"): Rule(OWNERS, body=_published_ids),
    ("GET", "/api/v1/assets/{asset_id}/collections"): Rule(),
    ("GET", "/api/v1/collections/{collection_id}/zip"): Rule(),
    ("POST", "/api/v1/zip"): Rule(body=_published_ids),
    ("POST", "/api/v1/saved-searches"): Rule(body=_json({"name": "S", "query": {"q": "x"}})),
    ("GET", "/api/v1/saved-searches"): Rule(),
    ("GET", "/api/v1/saved-searches/{saved_id}"): Rule(frozenset({Role.designer})),
    ("PATCH", "/api/v1/saved-searches/{saved_id}"): Rule(
        frozenset({Role.designer}), body=_json({"name": "T"})
    ),
    ("DELETE", "/api/v1/saved-searches/{saved_id}"): Rule(frozenset({Role.designer})),
    ("GET", "/api/v1/saved-searches/{saved_id}/results"): Rule(frozenset({Role.designer})),
    ("POST", "/api/v1/share-links"): Rule(
        TAGGERS, body=lambda cell: {"json": {"asset_id": cell.world.published}}
    ),
    ("GET", "/api/v1/share-links"): Rule(),
    ("GET", "/api/v1/share-links/presets"): Rule(),
    ("GET", "/api/v1/taxonomy/suggest"): Rule(),
    ("GET", "/api/v1/share-links/{link_id}"): Rule(OWNERS),
    ("POST", "/api/v1/share-links/{link_id}/revoke"): Rule(OWNERS),
    ("GET", "/api/v1/share-links/{link_id}/events"): Rule(OWNERS),
    ("GET", "/collections"): Rule(),
    ("POST", "/collections"): Rule(body=_form(csrf_token=_csrf, name="M")),
    ("GET", "/collections/{collection_id}"): Rule(),
    ("POST", "/collections/add"): Rule(
        body=_form(csrf_token=_csrf, asset_ids=_published, new_name="N")
    ),
    ("POST", "/collections/zip"): Rule(body=_form(csrf_token=_csrf, asset_ids=_published)),
    ("POST", "/collections/{collection_id}/items/{asset_id}/remove"): Rule(
        body=_form(csrf_token=_csrf)
    ),
    ("POST", "/collections/{collection_id}/items/{asset_id}/move"): Rule(
        body=_form(csrf_token=_csrf)
    ),
    ("POST", "/collections/{collection_id}/cover/{asset_id}"): Rule(body=_form(csrf_token=_csrf)),
    ("POST", "/collections/{collection_id}/settings"): Rule(body=_form(csrf_token=_csrf, name="N")),
    ("POST", "/collections/{collection_id}/delete"): Rule(body=_form(csrf_token=_csrf)),
    ("GET", "/collections/{collection_id}/zip"): Rule(),
    ("POST", "/share-links"): Rule(body=_form(csrf_token=_csrf, asset_id=_published)),
    ("POST", "/share-links/{link_id}/revoke"): Rule(body=_form(csrf_token=_csrf)),
    ("GET", "/share-links/{link_id}"): Rule(ADMIN),  # the key that made it is no page user
    ("POST", "/saved-searches"): Rule(body=_form(csrf_token=_csrf, name="S", query="q=x")),
    ("POST", "/saved-searches/{saved_id}/notify"): Rule(body=_form(csrf_token=_csrf)),
    ("POST", "/saved-searches/{saved_id}/delete"): Rule(body=_form(csrf_token=_csrf)),
    # the asset page's preview poll (the session's or a key's principal, like the asset)
    ("GET", "/assets/{asset_id}/preview-state"): Rule(),
    # campaign forms (a refused form is shown again: 400, allowed)
    ("GET", "/campaigns/new/form"): Rule(MANAGERS),
    ("POST", "/campaigns"): Rule(MANAGERS, body=_form(csrf_token=_csrf, id="!", name="N")),
    ("GET", "/campaigns/{campaign_id}/edit"): Rule(MANAGERS),
    ("POST", "/campaigns/{campaign_id}/edit"): Rule(
        MANAGERS, body=_form(csrf_token=_csrf, name="")
    ),
    # admin pages (refused forms answer with a message: bad email, unknown ids, a bad URL)
    ("GET", "/admin"): Rule(ADMIN),
    ("GET", "/admin/users"): Rule(ADMIN),
    ("POST", "/admin/users"): Rule(
        ADMIN, body=_form(csrf_token=_csrf, email="not-an-email", role="designer")
    ),
    ("POST", "/admin/users/{user_id}/role"): Rule(
        ADMIN, body=_form(csrf_token=_csrf, role="designer")
    ),
    ("POST", "/admin/users/{user_id}/access"): Rule(
        ADMIN, body=_form(csrf_token=_csrf, disabled="true")
    ),
    ("POST", "/admin/users/{user_id}/password-link"): Rule(ADMIN, body=_form(csrf_token=_csrf)),
    ("GET", "/admin/keys"): Rule(ADMIN),
    ("POST", "/admin/keys"): Rule(
        ADMIN, body=_form(csrf_token=_csrf, name="M", role="automation", expires_on="x")
    ),
    ("POST", "/admin/keys/{key_id}/revoke"): Rule(ADMIN, body=_form(csrf_token=_csrf)),
    ("GET", "/admin/webhooks"): Rule(ADMIN),
    ("POST", "/admin/webhooks"): Rule(
        ADMIN, body=_form(csrf_token=_csrf, url="ftp://x", secret="s")
    ),
    ("POST", "/admin/webhooks/{webhook_id}/delete"): Rule(ADMIN, body=_form(csrf_token=_csrf)),
    ("GET", "/admin/audit"): Rule(ADMIN),
    ("GET", "/admin/governance"): Rule(ADMIN),
    ("POST", "/admin/governance/reload"): Rule(ADMIN, body=_form(csrf_token=_csrf)),
    # a password link's page: the signed token is the credential (an unknown one: 410)
    ("GET", "/password/{token}"): Rule(public=True),
    ("POST", "/password/{token}"): Rule(public=True, body=_form(password="x", again="y")),
    # share links for people outside (the matrix's link shows every asset the matrix makes)
    ("GET", "/s/{token}"): Rule(public=True),
    ("POST", "/s/{token}"): Rule(public=True, body=_form(password="x")),
    ("GET", "/s/{token}/zip"): Rule(public=True),
    ("GET", "/s/{token}/assets/{asset_id}"): Rule(outside=True),
    ("GET", "/s/{token}/assets/{asset_id}/{kind}.webp"): Rule(outside=True),
    ("GET", "/s/{token}/assets/{asset_id}/download"): Rule(outside=True),
}


# --- the world the matrix runs in ----------------------------------------------------------


@dataclass
class Principal:
    name: str
    role: Role | None  # None: nobody signed in, no key
    client: TestClient
    headers: dict[str, str] = field(default_factory=dict)
    campaigns: tuple[str, ...] | None = None
    csrf: str = ""


@dataclass
class Target:
    name: str
    asset_id: str | None
    campaign: str


@dataclass
class Cell:
    principal: Principal
    target: Target
    world: World

    @property
    def csrf(self) -> str:
        return self.principal.csrf

    @property
    def campaign(self) -> str:
        return self.target.campaign


def _routes(app: Any) -> set[tuple[str, str]]:
    found = set()
    for route in flat_routes(app):
        if route.path_format.startswith("/static"):
            continue
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, route.path_format))
    return found


def test_every_route_has_a_rule(client: TestClient) -> None:
    routes = _routes(client.app)
    assert sorted(routes - RULES.keys()) == [], "routes without an access rule"
    assert sorted(RULES.keys() - routes) == [], "rules for routes that do not exist"


@dataclass
class World:
    ctx: Context
    keys: Keys
    client: TestClient
    designer: dict[str, str]
    other_designer: dict[str, str]
    token: str = ""
    link: str = ""  # a signed derivative link
    published: str = ""
    share_token: str = ""
    share_collection: uuid.UUID | None = None
    brief_id: str = ""

    def owner(self) -> DamPrincipal:
        with Session(self.ctx.engine) as session:
            return auth_service.authenticate(
                session, token=self.designer["Authorization"].split()[1], now=self.ctx.now()
            )

    def fresh(self, kind: str) -> str:
        """A new collection, saved search or share link of the designer key, for one cell."""
        owner = self.owner()
        now = self.ctx.now()
        with session_scope(self.ctx.engine) as session:
            if kind == "collection":
                grants = [GrantIn(role=role) for role in Role]
                made = collections.create_collection(
                    session, data=CollectionIn(name="C", shared_with=grants), actor=owner, now=now
                )
            elif kind == "saved":
                made = saved.create(
                    session, ctx=self.ctx, data=SavedSearchIn(name="S"), actor=owner
                )
            else:
                made = shares.create_link(
                    session,
                    data=ShareLinkIn(asset_id=uuid.UUID(self.published)),
                    actor=owner,
                    now=now,
                    pack=self.ctx.governance.pack,
                )
            return str(made.id)

    def asset(self, *, by: dict[str, str], campaign: str, state: str) -> str:
        metadata = {**GRAPHIC, "campaign_ids": [campaign]}
        response = upload(
            self.client,
            by,
            _distinct_image(),
            metadata=metadata,
        )
        assert response.status_code == 201, response.text
        asset_id = str(response.json()["id"])
        if self.share_collection is not None:
            with session_scope(self.ctx.engine) as session:
                target = session.get(Collection, self.share_collection)
                assert target is not None
                collections.add_items(
                    session,
                    collection=target,
                    asset_ids=[uuid.UUID(asset_id)],
                    actor=SYSTEM,
                    now=self.ctx.now(),
                )
        if state in ("published", "archived"):
            publish(self.ctx, asset_id)
        if state == "archived":
            with Session(self.ctx.engine) as session:
                row = session.get(Asset, uuid.UUID(asset_id))
                assert row is not None
                row.status = AssetStatus.archived
                session.add(row)
                session.commit()
        return asset_id

    def targets(self) -> list[Target]:
        return [
            Target("own draft", self.asset(by=self.designer, campaign="C1", state="draft"), "C1"),
            Target(
                "other's draft",
                self.asset(by=self.other_designer, campaign="C1", state="draft"),
                "C1",
            ),
            Target(
                "published",
                self.asset(by=self.other_designer, campaign="C1", state="published"),
                "C1",
            ),
            Target(
                "archived",
                self.asset(by=self.other_designer, campaign="C1", state="archived"),
                "C1",
            ),
            Target(
                "other campaign",
                self.asset(by=self.other_designer, campaign="C2", state="published"),
                "C2",
            ),
        ]


@pytest.fixture
def db_backend() -> str:
    return "sqlite"


@pytest.fixture
def world(client: TestClient, ctx: Context, keys: Keys) -> World:
    designer = keys.headers(Role.designer, name="Dana")
    other = keys.headers(Role.designer, name="Olu")
    admin = keys.headers(Role.admin)
    new_campaign(client, admin, "C1")
    new_campaign(client, admin, "C2")
    w = World(ctx=ctx, keys=keys, client=client, designer=designer, other_designer=other)
    published = w.asset(by=other, campaign="C1", state="published")
    run_pending(ctx)
    feed = client.get("/api/v1/campaigns/C1/assets", headers=admin).json()["items"]
    (item,) = [i for i in feed if i["id"] == published]
    w.token = item["download_url"].rsplit("/", 1)[1]
    made = client.post(f"/api/v1/assets/{published}/derivatives/email-600/links", headers=admin)
    w.link = made.json()["url"].rsplit("/", 1)[1]
    w.published = published
    with session_scope(ctx.engine) as session:
        shared = collections.create_collection(
            session, data=CollectionIn(name="Outside"), actor=SYSTEM, now=ctx.now()
        )
        link = shares.create_link(
            session,
            data=ShareLinkIn(collection_id=shared.id, allow_download=True),
            actor=SYSTEM,
            now=ctx.now(),
            pack=ctx.governance.pack,
        )
        w.share_collection = shared.id
        w.share_token = shares.token_for(link.id, secret=ctx.settings.secret_key)
    brief = client.post(
        "/api/v1/briefs", headers=admin, json={"title": "B", "deliverables": [{"label": "Hero"}]}
    )
    assert brief.status_code == 201, brief.text
    w.brief_id = brief.json()["id"]
    return w


@pytest.fixture
def api_principals(world: World) -> Iterator[list[Principal]]:
    app = world.client.app
    with TestClient(app) as anonymous:
        people = [Principal("anonymous", None, anonymous)]
        for role in Role:
            headers = world.designer if role == Role.designer else world.keys.headers(role)
            people.append(Principal(role.value, role, world.client, headers))
        people.append(
            Principal(
                "automation (C1 only)",
                Role.automation,
                world.client,
                world.keys.headers(Role.automation, campaigns=["C1"]),
                campaigns=("C1",),
            )
        )
        yield people


@pytest.fixture
def page_principals(world: World) -> Iterator[list[Principal]]:
    users = Users(world.ctx)
    app = world.client.app
    clients = [TestClient(app) for _ in Role]
    try:
        people = [Principal("anonymous", None, TestClient(app))]
        for role, browser in zip(Role, clients, strict=True):
            email = users.create(role)
            people.append(Principal(f"{role.value} (signed in)", role, browser))
            people[-1].csrf = sign_in(browser, email)
        yield people
    finally:
        for browser in clients:
            browser.close()


def _visible(role: Role, target: Target, ctx: Context) -> bool:
    if target.asset_id is None or role not in (Role.marketer, Role.automation):
        return True
    with Session(ctx.engine) as session:
        asset = session.get(Asset, uuid.UUID(target.asset_id))
        assert asset is not None
        return asset.status == AssetStatus.active and asset.published_version is not None


def _expected(rule: Rule, principal: Principal, target: Target, path: str, ctx: Context) -> bool:
    if rule.public:
        return True
    if rule.outside:
        return _visible(Role.marketer, target, ctx)
    if principal.role is None or principal.role not in rule.roles:
        return False
    if "{asset_id}" in path and not _visible(principal.role, target, ctx):
        return False
    scoped_path = "{campaign_id}" in path and principal.campaigns is not None
    return not (scoped_path and target.campaign not in principal.campaigns)  # type: ignore[operator]


def _allowed(response: Response) -> bool:
    if response.status_code in (401, 403):
        return False
    # Refused pages send the visitor to sign in and back (`?next=`); sign-out's own redirect
    # to the sign-in page is what it is for.
    if response.status_code == 303 and response.headers["location"].startswith("/sign-in?"):
        return False
    if response.status_code == 404:
        if "application/json" not in response.headers.get("content-type", ""):
            return False  # a page's 404 for an object the user may not see
        return response.json().get("error") not in HIDING_CODES
    return True


def _url(path: str, world: World, target: Target) -> str:
    fresh = {
        name: world.fresh(kind)
        for name, kind in (
            ("collection_id", "collection"),
            ("saved_id", "saved"),
            ("link_id", "link"),
        )
        if f"{{{name}}}" in path
    }
    values = {
        **fresh,
        "asset_id": target.asset_id or str(uuid.uuid4()),
        "campaign_id": target.campaign,
        "number": "1",
        "kind": "thumb",
        "key_id": str(uuid.uuid4()),
        "webhook_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "token": world.share_token if path.startswith("/s/") else world.token,
        "preset_id": "email-600",
        "link": world.link,
        "upload_id": str(uuid.uuid4()),
        "comment_id": str(uuid.uuid4()),
        "brief_id": world.brief_id,
    }
    return path.format(**values)


def _run(world: World, principals: list[Principal], *, pages: bool) -> tuple[int, list[str]]:
    mismatches: list[str] = []
    cells = 0
    for (method, path), rule in sorted(RULES.items()):
        if (
            path.startswith(("/api/", "/healthz", "/readyz", "/openapi", "/docs", "/redoc"))
            == pages
        ):
            continue
        needs_objects = "{asset_id}" in path or "{campaign_id}" in path
        targets = world.targets() if needs_objects else [Target("-", None, "C1")]
        if "{campaign_id}" in path and "{asset_id}" not in path:
            targets = [t for t in targets if t.name in ("published", "other campaign")]
        # Sign-out ends the session: the signed-in principals go through it last.
        ordered = sorted(principals, key=lambda p: p.role is not None)
        for target, principal in itertools.product(targets, ordered):
            cell = Cell(principal, target, world)
            want = _expected(rule, principal, target, path, world.ctx)
            kwargs = rule.body(cell) if rule.body else {}
            response = principal.client.request(
                method,
                _url(path, world, target),
                headers=principal.headers,
                follow_redirects=False,
                **kwargs,
            )
            cells += 1
            got = _allowed(response)
            if response.status_code >= 500 or got != want:
                mismatches.append(
                    f"{method} {path} as {principal.name} on {target.name}: expected "
                    f"{'allowed' if want else 'refused'}, got {response.status_code} "
                    f"{response.text[:160]!r}"
                )
            if path == "/sign-out" and principal.role is not None:
                principal.csrf = sign_in(principal.client, f"{principal.role.value}@example.com")
    return cells, mismatches


def test_api_access_matrix(world: World, api_principals: list[Principal]) -> None:
    cells, mismatches = _run(world, api_principals, pages=False)
    assert mismatches == []
    assert cells > 700


def test_page_access_matrix(world: World, page_principals: list[Principal]) -> None:
    cells, mismatches = _run(world, page_principals, pages=True)
    assert mismatches == []
    assert cells > 300
