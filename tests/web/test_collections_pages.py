"""The collection and share-link pages through the real HTTP stack (TestClient): forms call the
same services as the API, refusals come back as messages, and what each role is offered."""

from __future__ import annotations

import html as html_lib
import io
import re
import zipfile

from fastapi.testclient import TestClient

from dam.models import Role
from tests.collections.support import draft, make_collection, published
from tests.web.support import Users, sign_in


def _flash(html: str) -> str:
    found = re.search(r'<div class="flash[^>]*>\s*<p>(.*?)</p>', html, re.S)
    return html_lib.unescape(found.group(1)) if found else ""


def test_library_selection_makes_a_collection_and_a_zip(
    client: TestClient,
    users: Users,
    designer: dict[str, str],
    brand_manager: dict[str, str],
) -> None:
    a = published(client, designer, brand_manager, seed=1, title="First")
    b = draft(client, designer, seed=2, title="Second")
    csrf = sign_in(client, users.create(Role.designer, email="dana@example.com"))
    added = client.post(
        "/collections/add",
        data={"csrf_token": csrf, "asset_ids": [a, b], "new_name": "Picks", "next": "/library"},
    )
    assert added.status_code == 200
    assert _flash(added.text) == "Added 2 assets to the new collection “Picks”."
    listing = client.get("/collections")
    assert "Picks" in listing.text and "2 assets" in listing.text
    zipped = client.post("/collections/zip", data={"csrf_token": csrf, "asset_ids": [b, a]})
    assert zipped.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
    assert names == ["manifest.csv", "hero.jpg", "hero (2).jpg"]
    nothing = client.post(
        "/collections/add", data={"csrf_token": csrf, "new_name": "Empty", "next": "/library"}
    )
    assert _flash(nothing.text) == "select at least one asset first"
    no_csrf = client.post("/collections/add", data={"asset_ids": [a], "new_name": "X"})
    assert no_csrf.status_code == 403


def test_sharing_settings_report_an_unknown_person_and_keep_nothing(
    client: TestClient, users: Users, designer: dict[str, str]
) -> None:
    csrf = sign_in(client, users.create(Role.designer, email="dana@example.com"))
    made = client.post("/collections", data={"csrf_token": csrf, "name": "Kit"})
    assert made.status_code == 200
    collection_id = re.search(r"/collections/([0-9a-f-]{36})", str(made.url))
    assert collection_id, made.url
    page = f"/collections/{collection_id.group(1)}"
    refused = client.post(
        f"{page}/settings",
        data={
            "csrf_token": csrf,
            "name": "Kit",
            "roles": ["marketer"],
            "people": "nobody@example.com",
        },
    )
    assert _flash(refused.text) == (
        "shared_with[1]: nobody has an account with the email 'nobody@example.com'"
    )
    assert 'value="marketer" checked' not in refused.text  # nothing was saved
    users.create(Role.brand_manager, email="bea@example.com")
    saved = client.post(
        f"{page}/settings",
        data={"csrf_token": csrf, "name": "Kit 2", "people": "bea@example.com (edit)"},
    )
    assert _flash(saved.text) == "Collection saved."
    assert "bea@example.com (edit)" in saved.text
    assert "Kit 2" in saved.text


def test_marketers_see_published_items_and_no_editing(
    client: TestClient,
    users: Users,
    designer: dict[str, str],
    brand_manager: dict[str, str],
) -> None:
    live = published(client, designer, brand_manager, seed=1, title="Live one")
    hidden = draft(client, designer, seed=2, title="Hidden draft")
    made = make_collection(
        client, designer, "Kit", asset_ids=[hidden, live], shared_with=[{"role": "marketer"}]
    )
    csrf = sign_in(client, users.create(Role.marketer))
    page = client.get(f"/collections/{made['id']}")
    assert page.status_code == 200
    assert "Live one" in page.text and "Hidden draft" not in page.text
    assert "1 asset you can see" in page.text
    assert "Make cover" not in page.text and "Share outside" not in page.text
    assert "Name and sharing" not in page.text
    # An action on the draft answers like a missing asset; on the live one, "view only".
    hidden_remove = client.post(
        f"/collections/{made['id']}/items/{hidden}/remove", data={"csrf_token": csrf}
    )
    assert hidden_remove.status_code == 404
    live_remove = client.post(
        f"/collections/{made['id']}/items/{live}/remove", data={"csrf_token": csrf}
    )
    assert _flash(live_remove.text) == (
        "this collection is shared with you to view; ask its owner for edit rights"
    )
    asset_page = client.get(f"/assets/{live}")
    assert "Collections and sharing" in asset_page.text
    assert "Kit" in asset_page.text
