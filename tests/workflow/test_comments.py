"""Comments on versions: pins to a point or box, a PDF page, a video time; resolving; mentions
(refused when nobody has the address)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dam.context import Context
from dam.models import Role
from tests.factories import upload
from tests.web.support import Users
from tests.workflow.support import emitted, new_asset, new_version

pytestmark = pytest.mark.usefixtures("db_backend")

# Real files published by others (origins in tests/media/files/README.md).
FILES = Path(__file__).resolve().parents[1] / "media" / "files"


def _comment(
    client: TestClient, headers: dict[str, str], asset_id: str, version: int, **body: Any
) -> Any:
    return client.post(
        f"/api/v1/assets/{asset_id}/versions/{version}/comments",
        headers=headers,
        json={"body": "Looks good", **body},
    )


def _sample(client: TestClient, headers: dict[str, str], name: str, asset_type: str) -> str:
    response = upload(
        client,
        headers,
        (FILES / name).read_bytes(),
        filename=name,
        content_type="application/octet-stream",
        metadata={
            "title": f"Sample {asset_type}",
            "description": "A real file published by others",
            "terms": {"asset_type": [asset_type], "usage_rights": ["owned"]},
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_pins_on_an_image_point_and_box(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str]
) -> None:
    asset_id = new_asset(client, designer)
    point = _comment(client, brand_manager, asset_id, 1, pin={"x": 0.25, "y": 0.5})
    assert point.status_code == 201, point.text
    assert point.json()["pin"] == {"x": 0.25, "y": 0.5}
    box = _comment(
        client,
        brand_manager,
        asset_id,
        1,
        body="Logo clear space",
        pin={"x": 0.6, "y": 0.1, "w": 0.3, "h": 0.2},
    )
    assert box.json()["pin"] == {"x": 0.6, "y": 0.1, "w": 0.3, "h": 0.2}
    for pin, error in (
        ({"x": 0.8, "y": 0.1, "w": 0.3, "h": 0.2}, "invalid_pin"),  # past the right edge
        ({"x": 0.1, "y": 0.1, "w": 0.3}, "invalid_pin"),  # a box without a height
        ({"x": 0.1, "y": 0.1, "page": 2}, "invalid_pin"),  # an image has no pages
        ({"x": 0.1, "y": 0.1, "time": 3}, "invalid_pin"),  # nor a timeline
        ({"x": 1.5, "y": 0.1}, "invalid_request"),
    ):
        refused = _comment(client, brand_manager, asset_id, 1, pin=pin)
        assert (refused.status_code, refused.json()["error"]) == (422, error), pin
    missing = _comment(client, brand_manager, asset_id, 9)
    assert missing.status_code == 404
    listed = client.get(f"/api/v1/assets/{asset_id}/comments", headers=designer).json()
    assert [c["body"] for c in listed["items"]] == ["Looks good", "Logo clear space"]


def test_a_pdf_page_and_a_video_time(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str]
) -> None:
    pdf = _sample(client, designer, "pypdf-pdflatex-4-pages.pdf", "document")
    on_page = _comment(client, brand_manager, pdf, 1, pin={"x": 0.5, "y": 0.5, "page": 4})
    assert on_page.status_code == 201, on_page.text
    assert on_page.json()["pin"]["page"] == 4
    past = _comment(client, brand_manager, pdf, 1, pin={"x": 0.5, "y": 0.5, "page": 5})
    assert past.status_code == 422
    assert "has 4 pages, not 5" in past.json()["detail"]

    video = _sample(client, designer, "pymediainfo-sample-1080p.mp4", "video")
    at = _comment(client, brand_manager, video, 1, pin={"x": 0.5, "y": 0.5, "time": 0.5})
    assert at.status_code == 201, at.text
    assert at.json()["pin"]["time"] == 0.5
    late = _comment(client, brand_manager, video, 1, pin={"x": 0.5, "y": 0.5, "time": 3600})
    assert late.status_code == 422
    assert "lasts" in late.json()["detail"]


def test_resolve_reopen_and_filters(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str]
) -> None:
    asset_id = new_asset(client, designer)
    first = _comment(client, brand_manager, asset_id, 1, body="Too dark").json()
    assert new_version(client, designer, asset_id, seed=2) == 2
    _comment(client, brand_manager, asset_id, 2, body="Better")
    path = f"/api/v1/assets/{asset_id}/comments"
    resolved = client.patch(f"{path}/{first['id']}", headers=designer, json={"resolved": True})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolved"] is True
    assert resolved.json()["resolved_at"] is not None

    def bodies(query: str) -> list[str]:
        return [c["body"] for c in client.get(path + query, headers=designer).json()["items"]]

    assert bodies("?resolved=false") == ["Better"]
    assert bodies("?resolved=true") == ["Too dark"]
    assert bodies("?version=1") == ["Too dark"]
    reopened = client.patch(f"{path}/{first['id']}", headers=designer, json={"resolved": False})
    assert reopened.json()["resolved_by"] is None
    assert bodies("?resolved=false") == ["Too dark", "Better"]
    other = new_asset(client, designer, seed=3)
    wrong = client.patch(
        f"/api/v1/assets/{other}/comments/{first['id']}", headers=designer, json={"resolved": True}
    )
    assert (wrong.status_code, wrong.json()["error"]) == (404, "comment_not_found")


def test_mentions_name_users_and_unknown_ones_are_refused(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    ctx: Context,
) -> None:
    users = Users(ctx)
    users.create(Role.designer, email="dana@example.com")
    users.create(Role.admin, email="ada@example.com")
    asset_id = new_asset(client, designer)
    made = _comment(
        client,
        brand_manager,
        asset_id,
        1,
        body="@dana@example.com please crop; cc @ADA@example.com",
        mentions=["dana@example.com"],
    )
    assert made.status_code == 201, made.text
    assert len(made.json()["mentions"]) == 2
    assert ("comment.created", 1) in emitted(ctx, asset_id)
    unknown = _comment(client, brand_manager, asset_id, 1, body="@nobody@example.com look")
    assert (unknown.status_code, unknown.json()["error"]) == (422, "unknown_mention")
    assert unknown.json()["mentions"] == ["nobody@example.com"]
    empty = _comment(client, brand_manager, asset_id, 1, body="   ")
    assert (empty.status_code, empty.json()["error"]) == (422, "comment_empty")


def test_marketers_do_not_comment_on_work_in_progress(
    client: TestClient, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    asset_id = new_asset(client, designer)
    assert _comment(client, marketer, asset_id, 1).status_code == 403
