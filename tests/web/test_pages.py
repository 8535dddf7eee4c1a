"""Pages rendered through the TestClient: what each shows and the form actions behind them."""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from dam.models import Asset, AssetStatus, Role
from tests.conftest import ROOT, Keys
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


_ETAG = re.compile(r'name="etag" value="([^"]+)"')


def _edit_form(client: TestClient, asset_id: str) -> str:
    page = client.get(f"/assets/{asset_id}").text
    found = _ETAG.search(page) if "Edit metadata" in page else None
    assert found, "no edit form on the asset page"
    return html.unescape(found.group(1))  # the ETag's quotes are escaped in the attribute


EDIT: dict[str, Any] = {
    "title": "Granite boots, studio",
    "description": "Boots on granite, for the autumn newsletter.",
    "tags": "autumn, Boots ,studio",
    "rights_end": "2027-03-31",
    "terms": [
        "asset_type:graphic",
        "usage_rights:owned",
        "brand:halden",
        "region:de",
        "region:us",
    ],
}


def test_edit_metadata_from_the_asset_page(
    client: TestClient, users: Users, admin: dict[str, str]
) -> None:
    asset_id = new_asset(client, admin)
    csrf = sign_in(client, users.create(Role.designer))
    etag = _edit_form(client, asset_id)
    saved = client.post(f"/assets/{asset_id}/edit", data={**EDIT, "csrf_token": csrf, "etag": etag})
    assert "Metadata saved." in saved.text
    asset = _asset(asset_id, users)
    assert asset.title == "Granite boots, studio"
    assert asset.tags == ["autumn", "boots", "studio"]
    assert sorted(asset.terms["region"]) == ["de", "us"]
    assert asset.rights_expire_at is not None
    assert asset.rights_expire_at.date().isoformat() == "2027-03-31"
    assert "edited the metadata" in saved.text  # the asset's history on the page
    # The form shows what is stored now.
    page = client.get(f"/assets/{asset_id}").text
    assert 'value="region:de" checked' in page
    assert 'value="2027-03-31"' in page


def test_edit_that_breaks_a_rule_or_is_stale_saves_nothing(
    client: TestClient, users: Users, admin: dict[str, str]
) -> None:
    asset_id = new_asset(client, admin)
    csrf = sign_in(client, users.create(Role.designer))
    etag = _edit_form(client, asset_id)
    terms = [t for t in EDIT["terms"] if not t.startswith("usage_rights:")] + ["usage_rights:"]
    refused = client.post(
        f"/assets/{asset_id}/edit",
        data={**EDIT, "terms": terms, "csrf_token": csrf, "etag": etag},
    )
    assert "Metadata saved." not in refused.text
    # In the form's words (tests/web/test_edit_refused.py has the whole story).
    assert refused.status_code == 422
    assert "The metadata was not saved: 1 problem to fix." in refused.text
    assert "Usage rights is required" in refused.text
    assert _asset(asset_id, users).title == GRAPHIC["title"]

    # Someone else edits first: the page's ETag is stale and the form is refused.
    client.patch(f"/api/v1/assets/{asset_id}", headers=admin, json={"title": "Changed meanwhile"})
    stale = client.post(f"/assets/{asset_id}/edit", data={**EDIT, "csrf_token": csrf, "etag": etag})
    assert "changed since you read it" in stale.text
    assert _asset(asset_id, users).title == "Changed meanwhile"

    bad_date = client.post(
        f"/assets/{asset_id}/edit",
        data={
            **EDIT,
            "rights_end": "31/03/2027",
            "csrf_token": csrf,
            "etag": _edit_form(client, asset_id),
        },
    )
    assert "must be a date like 2027-01-31" in bad_date.text


def test_archive_from_the_asset_page(
    client: TestClient, users: Users, admin: dict[str, str]
) -> None:
    asset_id = new_asset(client, admin)
    client.cookies.clear()
    csrf = sign_in(client, users.create(Role.marketer))
    assert client.post(f"/assets/{asset_id}/archive", data={"csrf_token": csrf}).status_code in (
        403,
        404,
    )
    assert client.post(
        f"/assets/{asset_id}/edit", data={**EDIT, "csrf_token": csrf, "etag": "x"}
    ).status_code in (403, 404)
    client.cookies.clear()
    csrf = sign_in(client, users.create(Role.designer))
    done = client.post(f"/assets/{asset_id}/archive", data={"csrf_token": csrf})
    assert "was archived" in done.text
    assert _asset(asset_id, users).status == AssetStatus.archived
    assert "Edit metadata" not in done.text  # an archived asset is not edited
    assert "archived the asset" in done.text


def test_asset_page_shows_assets_that_look_similar(
    client: TestClient, users: Users, admin: dict[str, str]
) -> None:
    from tests.search.support import set_phash

    origin = new_asset(client, admin, seed=1, title="Parka hero")
    near = new_asset(client, admin, seed=2, title="Parka hero, cropped")
    far = new_asset(client, admin, seed=3, title="Unrelated tent")
    set_phash(users.ctx, origin, "0000000000000000")
    set_phash(users.ctx, near, "0000000000000003")
    set_phash(users.ctx, far, "ffffffffffffffff")
    sign_in(client, users.create(Role.designer))
    page = client.get(f"/assets/{origin}").text
    assert "Looks similar" in page
    assert f'href="/assets/{near}"' in page
    assert "distance 2" in page
    assert f'href="/assets/{far}"' not in page
    alone = client.get(f"/assets/{far}").text
    assert "Looks similar" not in alone


def test_saving_the_form_keeps_a_licence_end_read_from_the_file(
    client: TestClient, users: Users, admin: dict[str, str]
) -> None:
    """The agency photo's plus:LicenseEndDate 2027-06-30 is stored as expiry at the next
    midnight. The form shows 2027-06-30; saving an edit of the title alone leaves the rights as
    they were (it used to show 2027-07-01 and store 2027-07-01T23:59:59: a day more, waiting for
    review)."""
    photo = ROOT / "tests" / "media" / "corpus" / "agency-photo.jpg"
    created = client.post(
        "/api/v1/assets",
        headers=admin,
        files={"file": ("DSC_4711.jpg", photo.read_bytes(), "image/jpeg")},
        data={"metadata": json.dumps({"terms": GRAPHIC["terms"]})},
    )
    assert created.status_code == 201, created.text
    asset_id = created.json()["id"]
    stored = _asset(asset_id, users).rights_expire_at
    assert stored == datetime(2027, 7, 1, tzinfo=UTC)
    csrf = sign_in(client, users.create(Role.designer))
    etag = _edit_form(client, asset_id)
    page = client.get(f"/assets/{asset_id}").text
    assert 'name="rights_end" type="date" value="2027-06-30"' in page
    form = {
        "title": "Fjord runner",
        "description": created.json()["description"],
        "tags": ", ".join(created.json()["tags"]),
        "rights_end": "2027-06-30",
        "terms": [f"{facet}:{term}" for facet, terms in GRAPHIC["terms"].items() for term in terms],
    }
    saved = client.post(f"/assets/{asset_id}/edit", data={**form, "csrf_token": csrf, "etag": etag})
    assert "Metadata saved." in saved.text
    asset = _asset(asset_id, users)
    assert asset.title == "Fjord runner"
    assert asset.rights_expire_at == stored

    # A different day is the end of that day, as on upload.
    etag = _edit_form(client, asset_id)
    client.post(
        f"/assets/{asset_id}/edit",
        data={**form, "rights_end": "2027-05-31", "csrf_token": csrf, "etag": etag},
    )
    assert _asset(asset_id, users).rights_expire_at == datetime(2027, 5, 31, 23, 59, 59, tzinfo=UTC)
