"""Pages rendered through the TestClient: what each shows and the form actions behind them."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlmodel import Session

from dam.models import Asset, Role
from tests.conftest import Keys
from tests.factories import image_bytes, upload
from tests.web.support import GRAPHIC, Users, new_asset, sign_in


def _asset(asset_id: str, users: Users) -> Asset:
    with Session(users.ctx.engine) as session:
        asset = session.get(Asset, uuid.UUID(asset_id))
        assert asset is not None
        return asset


def test_asset_page_shows_labels_and_violations_in_words(
    client: TestClient, users: Users, admin: dict[str, str]
) -> None:
    asset_id = new_asset(client, admin, terms={**GRAPHIC["terms"], "channel": ["instagram"]})
    sign_in(client, users.create(Role.designer))
    html = client.get(f"/assets/{asset_id}").text
    assert "Instagram" in html  # the term's label, not its id only
    assert "Instagram creatives are at least 1080 px wide" in html
    assert "Warning:" in html


def test_submit_then_approve_from_the_review_queue(
    client: TestClient, users: Users, admin: dict[str, str]
) -> None:
    asset_id = new_asset(client, admin)
    csrf = sign_in(client, users.create(Role.designer))
    done = client.post(f"/assets/{asset_id}/submit", data={"csrf_token": csrf})
    assert done.status_code == 200
    assert "submitted for review" in done.text

    client.cookies.clear()
    csrf = sign_in(client, users.create(Role.brand_manager))
    queue = client.get("/review").text
    assert f'action="/assets/{asset_id}/approve"' in queue
    approved = client.post(
        f"/assets/{asset_id}/approve", data={"csrf_token": csrf, "next": "/review"}
    )
    assert approved.url.path == "/review"
    assert "it is now published" in approved.text
    assert _asset(asset_id, users).published_version == 1
    assert "Nothing to review" in approved.text


def test_reject_without_reason_is_refused_with_a_message(
    client: TestClient, users: Users, keys: Keys
) -> None:
    designer = keys.headers(Role.designer)
    asset_id = new_asset(client, designer)
    client.post(f"/api/v1/assets/{asset_id}/submit", headers=designer)
    csrf = sign_in(client, users.create(Role.brand_manager))
    refused = client.post(f"/assets/{asset_id}/reject", data={"csrf_token": csrf, "reason": " "})
    assert "needs a reason" in refused.text
    rejected = client.post(
        f"/assets/{asset_id}/reject", data={"csrf_token": csrf, "reason": "Logo too small"}
    )
    assert "Rejected version 1" in rejected.text
    assert "Logo too small" in rejected.text


def test_restore_makes_a_new_version(
    client: TestClient, users: Users, admin: dict[str, str]
) -> None:
    asset_id = new_asset(client, admin)
    upload(
        client,
        admin,
        image_bytes(size=(64, 48), seed=2),
        metadata=None,
        path=f"/api/v1/assets/{asset_id}/versions",
    )
    csrf = sign_in(client, users.create(Role.designer))
    done = client.post(f"/assets/{asset_id}/versions/1/restore", data={"csrf_token": csrf})
    assert "Version 1 was restored" in done.text
    assert _asset(asset_id, users).current_version == 3


def test_governance_page_counts_pass_warn_fail_and_hides_them_from_marketers(
    client: TestClient, users: Users, admin: dict[str, str]
) -> None:
    new_asset(client, admin)
    sign_in(client, users.create(Role.brand_manager))
    html = client.get("/governance").text
    assert "Library compliance at a glance" in html
    assert "Photos must be at least 1200 x 800 px." in html
    assert "Applies when Asset type is Photo." in html
    client.cookies.clear()
    sign_in(client, users.create(Role.marketer))
    html = client.get("/governance").text
    assert "Library compliance at a glance" not in html
    assert "Brand rules" in html


def test_unknown_page_and_bad_ids_answer_in_html(client: TestClient, users: Users) -> None:
    sign_in(client, users.create(Role.designer))
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert client.get(f"/assets/{uuid.uuid4()}").status_code == 404
    assert (
        client.get("/api/v1/assets/not-a-uuid")
        .headers["content-type"]
        .startswith("application/json")
    )
