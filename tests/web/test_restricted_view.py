"""Restricted viewers see no workflow clutter: no review-state filter in the library, only the
published view's history, and no "Warnings" badge for a warning the pack fixed by itself (a
deprecated term stored as its replacement)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from dam.context import Context
from dam.models import Role
from dam.worker import run_pending
from tests.campaigns.support import publish
from tests.factories import image_bytes, upload
from tests.web.support import GRAPHIC, Users, new_asset, sign_in

pytestmark = pytest.mark.usefixtures("db_backend")


def test_marketer_sees_no_review_filter_and_no_auto_fixed_warning(
    client: TestClient, ctx: Context, users: Users, designer: dict[str, str]
) -> None:
    terms = {**GRAPHIC["terms"], "product_line": ["softshell"]}  # deprecated: stored as jackets
    # Fjord blue of the Halden palette: no palette warning, only the deprecated term's.
    made = upload(
        client,
        designer,
        image_bytes(size=(64, 48), color=(0x1F, 0x3A, 0x5F)),
        metadata={**GRAPHIC, "title": "Old product term", "terms": terms},
    )
    assert made.status_code == 201, made.text
    fixed = str(made.json()["id"])
    stored = client.get(f"/api/v1/assets/{fixed}", headers=designer).json()
    compliance = stored["current_version"]["compliance"]
    assert compliance["status"] == "warn"
    assert {v["rule"] for v in compliance["violations"]} == {"taxonomy.deprecated_term"}
    publish(ctx, fixed)
    draft = new_asset(client, designer, seed=2, title="A draft")
    run_pending(ctx)

    sign_in(client, users.create(Role.designer, email="dana@example.com"))
    library = client.get("/library").text
    assert "Review state" in library
    client.cookies.clear()
    sign_in(client, users.create(Role.marketer, email="mia@example.com"))
    library = client.get("/library").text
    assert "Review state" not in library
    assert "badge comp-warn" not in library
    page = client.get(f"/assets/{fixed}").text
    assert "badge comp-warn" not in page
    assert "badge comp-pass" in page
    assert "uploaded the asset" not in page  # the draft's upload is not the published view's
    assert client.get(f"/assets/{draft}").status_code == 404
