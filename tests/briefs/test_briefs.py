"""Briefs: filing, validation, uploads against a brief and the deliverables' state, and what
worked before from the creative-insights data."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from dam.context import Context
from tests.conftest import Clock
from tests.factories import GOOD_METADATA, image_bytes, upload
from tests.workflow.support import METADATA, drive_to, transition

pytestmark = pytest.mark.usefixtures("db_backend")

BRIEF: dict[str, Any] = {
    "title": "Spring trail launch",
    "objective": "Drive sign-ups for the spring trail range",
    "terms": {"channel": ["insta"], "audience": ["Women"]},  # a synonym and a label
    "deliverables": [
        {"id": "ig-45", "label": "Instagram 4:5", "quantity": 2},
        {"label": "Email hero", "quantity": 1},
    ],
    "due_at": "2026-11-27T17:00:00Z",
    "notes": "Bright, morning light",
}


def _campaign(client: TestClient, headers: dict[str, str], cid: str, channel: str) -> None:
    response = client.post(
        "/api/v1/campaigns", headers=headers, json={"id": cid, "name": cid, "channel": channel}
    )
    assert response.status_code == 201, response.text


def _file_brief(client: TestClient, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post("/api/v1/briefs", headers=headers, json={**BRIEF, **changes})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _upload_for(
    client: TestClient, headers: dict[str, str], brief_id: str, deliverable: str, seed: int
) -> Any:
    return upload(
        client,
        headers,
        image_bytes(size=(64, 48), seed=seed),
        metadata={**METADATA, "title": f"For {deliverable} #{seed}"},
        path=f"/api/v1/briefs/{brief_id}/assets?deliverable={deliverable}",
    )


def _brief(client: TestClient, headers: dict[str, str], brief_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/briefs/{brief_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_filing_a_brief_normalises_terms_and_names_deliverables(
    client: TestClient, marketer: dict[str, str], designer: dict[str, str]
) -> None:
    _campaign(client, marketer, "SPRING26-IG", "instagram")
    brief = _file_brief(client, marketer, campaign_id="spring26-ig")
    assert brief["terms"] == {"channel": ["instagram"], "audience": ["women"]}
    assert brief["campaign_id"] == "SPRING26-IG"
    assert [(d["id"], d["quantity"], d["state"]) for d in brief["deliverables"]] == [
        ("ig-45", 2, "open"),
        ("email-hero", 1, "open"),
    ]
    assert (brief["state"], brief["delivered_at"], brief["on_time"]) == ("open", None, None)
    # Designers make the work; they do not file briefs.
    assert client.post("/api/v1/briefs", headers=designer, json=BRIEF).status_code == 403


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"terms": {"channel": ["instagrm"]}}, "invalid_terms"),
        ({"terms": {"chanel": ["instagram"]}}, "invalid_terms"),
        ({"deliverables": [{"label": "Hero"}, {"label": "hero"}]}, "duplicate_deliverable"),
        ({"deliverables": []}, "invalid_request"),
        ({"campaign_id": "NOPE26"}, "unknown_campaign"),
    ],
)
def test_bad_briefs_are_refused(
    client: TestClient, marketer: dict[str, str], changes: dict[str, Any], error: str
) -> None:
    response = client.post("/api/v1/briefs", headers=marketer, json={**BRIEF, **changes})
    assert response.status_code in (404, 422), response.text
    assert response.json()["error"] == error


def test_uploads_against_a_brief_and_the_deliverables_state(
    client: TestClient,
    marketer: dict[str, str],
    designer: dict[str, str],
    brand_manager: dict[str, str],
    clock: Clock,
) -> None:
    brief_id = _file_brief(client, marketer)["id"]
    first = _upload_for(client, designer, brief_id, "ig-45", seed=1)
    assert first.status_code == 201, first.text
    # Facets the upload left out take the brief's terms.
    assert first.json()["terms"]["channel"] == ["instagram"]
    assert first.json()["terms"]["audience"] == ["women"]
    unknown = _upload_for(client, designer, brief_id, "tiktok", seed=2)
    assert (unknown.status_code, unknown.json()["error"]) == (422, "unknown_deliverable")

    state = _brief(client, marketer, brief_id)["brief"]
    assert [(d["id"], d["linked"], d["state"]) for d in state["deliverables"]] == [
        ("ig-45", 1, "in_progress"),
        ("email-hero", 0, "open"),
    ]
    assert state["state"] == "in_progress"

    ids = [first.json()["id"]]
    ids.append(_upload_for(client, designer, brief_id, "ig-45", seed=3).json()["id"])
    ids.append(_upload_for(client, designer, brief_id, "email-hero", seed=4).json()["id"])
    for asset_id in ids:
        assert transition(client, designer, asset_id, "submit").status_code == 200
    assert [d["state"] for d in _brief(client, marketer, brief_id)["brief"]["deliverables"]] == [
        "in_review",
        "in_review",
    ]
    clock.advance(hours=2)
    assert transition(client, brand_manager, ids[0], "approve").status_code == 200
    assert transition(client, brand_manager, ids[2], "approve").status_code == 200
    brief = _brief(client, marketer, brief_id)["brief"]
    assert [(d["id"], d["delivered"], d["state"]) for d in brief["deliverables"]] == [
        ("ig-45", 1, "in_review"),
        ("email-hero", 1, "delivered"),
    ]
    assert brief["state"] == "in_review"
    clock.advance(days=3)  # past the due date
    assert transition(client, brand_manager, ids[1], "approve").status_code == 200
    brief = _brief(client, marketer, brief_id)["brief"]
    assert brief["state"] == "delivered"
    assert brief["delivered_at"] == "2026-11-28T11:00:00Z"
    assert brief["on_time"] is False
    assert sorted(brief["deliverables"][0]["assets"]) == sorted(ids[:2])


def test_linking_an_existing_asset(
    client: TestClient, marketer: dict[str, str], designer: dict[str, str]
) -> None:
    brief_id = _file_brief(client, marketer)["id"]
    response = upload(client, designer, image_bytes(size=(64, 48), seed=9), metadata=METADATA)
    asset_id = response.json()["id"]
    path = f"/api/v1/briefs/{brief_id}/links"
    linked = client.post(
        path, headers=designer, json={"asset_id": asset_id, "deliverable": "ig-45"}
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["deliverables"][0]["assets"] == [asset_id]
    again = client.post(
        path, headers=designer, json={"asset_id": asset_id, "deliverable": "email-hero"}
    )
    assert (again.status_code, again.json()["error"]) == (409, "already_linked")


def test_the_brief_page_shows_what_worked_before(
    client: TestClient,
    ctx: Context,
    marketer: dict[str, str],
    designer: dict[str, str],
    brand_manager: dict[str, str],
    automation: dict[str, str],
) -> None:
    _campaign(client, marketer, "PAST26-IG", "instagram")
    _campaign(client, marketer, "PAST26-MAIL", "email")

    def past(seed: int, style: str, audience: str) -> str:
        terms = {
            **GOOD_METADATA["terms"],
            "brand": ["halden"],
            "visual_style": [style],
            "channel": ["instagram"],
            "audience": [audience],
        }
        response = upload(
            client,
            designer,
            image_bytes(size=(1200, 800), seed=seed),
            metadata={
                **GOOD_METADATA,
                "title": f"{style} {seed}",
                "terms": terms,
                "campaign_ids": ["PAST26-IG", "PAST26-MAIL"],
            },
        )
        assert response.status_code == 201, response.text
        asset_id = str(response.json()["id"])
        drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)
        return asset_id

    life_a, life_b = past(31, "lifestyle", "women"), past(32, "lifestyle", "women")
    product = past(33, "product-shot", "women")
    men = past(34, "action", "men")  # another audience: not among the brief's best assets
    rows = [
        # ROAS: lifestyle (300 + 100) / (100 + 100) = 2.0, product-shot 150 / 100 = 1.5,
        # action 500 / 100 = 5.0.
        {
            "asset_id": life_a,
            "date": "2026-10-01",
            "impressions": 1000,
            "clicks": 10,
            "spend": "100",
            "revenue": "300",
        },
        {
            "asset_id": life_b,
            "date": "2026-10-01",
            "impressions": 1000,
            "clicks": 30,
            "spend": "100",
            "revenue": "100",
        },
        {
            "asset_id": product,
            "date": "2026-10-02",
            "impressions": 500,
            "clicks": 5,
            "spend": "100",
            "revenue": "150",
        },
        {
            "asset_id": men,
            "date": "2026-10-02",
            "impressions": 500,
            "clicks": 5,
            "spend": "100",
            "revenue": "500",
        },
    ]
    response = client.post("/api/v1/campaigns/PAST26-IG/metrics", headers=automation, json=rows)
    assert response.status_code == 200, response.text
    # Email figures do not count for an Instagram brief.
    email = [
        {
            "asset_id": product,
            "date": "2026-10-03",
            "impressions": 9000,
            "spend": "1",
            "revenue": "900",
        }
    ]
    assert (
        client.post(
            "/api/v1/campaigns/PAST26-MAIL/metrics", headers=automation, json=email
        ).status_code
        == 200
    )

    brief_id = _file_brief(client, marketer)["id"]
    worked = _brief(client, marketer, brief_id)["worked_before"]
    assert (worked["kpi"], worked["channel"]) == ("roas", "instagram")
    styles = next(f for f in worked["facets"] if f["facet"] == "visual_style")
    assert [(t["term"], t["value"], t["assets"], t["campaigns"]) for t in styles["terms"]] == [
        ("action", 5.0, 1, 1),
        ("lifestyle", 2.0, 2, 1),
        ("product-shot", 1.5, 1, 1),
    ]
    # The best past assets for the same channel and audience (women), by lifetime ROAS, which
    # counts paid rows only: the product shot's email revenue is not return on ad spend.
    assert [(a["id"], a["value"]) for a in worked["best_assets"]] == [
        (life_a, 3.0),
        (product, 1.5),
        (life_b, 1.0),
    ]
    ctr = _file_brief(client, marketer, kpi="ctr")["id"]
    styles = next(
        f
        for f in _brief(client, marketer, ctr)["worked_before"]["facets"]
        if f["facet"] == "visual_style"
    )
    assert [t["term"] for t in styles["terms"]] == ["lifestyle", "action", "product-shot"]
