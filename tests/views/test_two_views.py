"""Review covers metadata: while a draft (new metadata or a new file) is pending, marketers and
automation get the approved metadata on every read path, and the new metadata only after the
approval. Runs on SQLite + whoosh and PostgreSQL + PostgreSQL search."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dam.context import Context
from dam.db import session_scope
from dam.models import Role
from dam.webhooks.service import build_body
from dam.worker import run_pending
from tests.conftest import Keys
from tests.factories import image_bytes, upload
from tests.workflow.support import METADATA, drive_to

CODENAME = "unreleasedcodename"
CAMPAIGN = "SPRING26-EMAIL"
LIVE_TITLE = "Ridge runner"
RESTRICTED = (Role.marketer, Role.automation)


@pytest.fixture
def live_asset(
    client: TestClient,
    admin: dict[str, str],
    designer: dict[str, str],
    brand_manager: dict[str, str],
    ctx: Context,
) -> str:
    """A published asset in a campaign, indexed."""
    created = client.post("/api/v1/campaigns", headers=admin, json={"id": CAMPAIGN, "name": "S"})
    assert created.status_code == 201, created.text
    response = upload(
        client,
        designer,
        image_bytes(size=(64, 48), seed=3),
        filename="ridge.png",
        content_type="image/png",
        metadata={
            **METADATA,
            "title": LIVE_TITLE,
            "description": "A runner on a ridge path",
            "tags": ["trail"],
            "terms": {**METADATA["terms"], "region": ["nordics"]},
            "campaign_ids": [CAMPAIGN],
        },
    )
    assert response.status_code == 201, response.text
    asset_id = str(response.json()["id"])
    drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)
    run_pending(ctx)
    return asset_id


def _pending_change(
    kind: str, client: TestClient, designer: dict[str, str], asset_id: str, ctx: Context
) -> None:
    draft = {
        "title": f"{LIVE_TITLE} {CODENAME}",
        "description": f"The {CODENAME} launch, not yet announced",
        "tags": ["trail", CODENAME],
        "terms": {**METADATA["terms"], "region": ["amer"]},
    }
    if kind == "metadata":
        response = client.patch(f"/api/v1/assets/{asset_id}", headers=designer, json=draft)
        assert response.status_code == 200, response.text
    else:
        response = upload(
            client,
            designer,
            image_bytes(size=(64, 48), seed=9),
            filename=f"{CODENAME}.png",
            content_type="image/png",
            metadata=draft,
            path=f"/api/v1/assets/{asset_id}/versions",
        )
        assert response.status_code == 201, response.text
    run_pending(ctx)


def _search(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/search", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _every_read(client: TestClient, headers: dict[str, str], asset_id: str) -> dict[str, Any]:
    """What a restricted principal can read about the asset, path by path."""
    feed = client.get(f"/api/v1/campaigns/{CAMPAIGN}/assets", headers=headers).json()
    return {
        "asset": client.get(f"/api/v1/assets/{asset_id}", headers=headers).json(),
        "list": client.get("/api/v1/assets", headers=headers).json()["items"],
        "versions": client.get(f"/api/v1/assets/{asset_id}/versions", headers=headers).json(),
        "history": client.get(f"/api/v1/assets/{asset_id}/history", headers=headers).json(),
        "search": _search(client, headers, q="ridge"),
        "feed": feed["items"],
    }


@pytest.mark.parametrize("kind", ["metadata", "file"])
def test_restricted_viewers_get_the_approved_metadata_until_the_draft_is_approved(
    client: TestClient,
    keys: Keys,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    ctx: Context,
    live_asset: str,
    kind: str,
) -> None:
    _pending_change(kind, client, designer, live_asset, ctx)
    for role in RESTRICTED:
        headers = keys.headers(role, campaigns=[CAMPAIGN] if role == Role.automation else None)
        seen = _every_read(client, headers, live_asset)
        assert CODENAME not in json.dumps(seen), (role, seen)
        assert seen["asset"]["view"] == "published"
        assert seen["asset"]["title"] == LIVE_TITLE
        assert seen["asset"]["terms"]["region"] == ["nordics"]
        assert [a["title"] for a in seen["list"]] == [LIVE_TITLE]
        assert [v["number"] for v in seen["versions"]] == [1]
        assert [i["title"] for i in seen["search"]["items"]] == [LIVE_TITLE]
        assert [i["title"] for i in seen["feed"]] == [LIVE_TITLE]
        assert [i["version"] for i in seen["feed"]] == [1]
        # Neither words nor facet values of the draft match or count.
        assert _search(client, headers, q=CODENAME)["items"] == []
        assert _search(client, headers, region="amer")["items"] == []
        regions = {f["term"] for f in _search(client, headers)["facets"]["region"]}
        assert "amer" not in regions
        assert "nordics" in regions
        assert _search(client, headers, review_state="draft")["items"] == []

    # Uploaders see the draft beside what is live.
    working = client.get(f"/api/v1/assets/{live_asset}", headers=designer).json()
    assert working["view"] == "working"
    assert working["title"] == f"{LIVE_TITLE} {CODENAME}"
    assert working["published"]["title"] == LIVE_TITLE
    assert working["published"]["version"] == 1
    assert {"title", "description", "tags", "terms"} <= set(working["pending_changes"])
    assert ("file" in working["pending_changes"]) is (kind == "file")
    assert [i["id"] for i in _search(client, designer, q=CODENAME)["items"]] == [live_asset]

    # Webhook receivers get the published view too.
    with session_scope(ctx.engine) as session:
        body = json.loads(
            build_body(
                session,
                event={
                    "event_id": str(uuid.uuid4()),
                    "type": "asset.updated",
                    "time": ctx.now().isoformat(),
                    "asset_id": live_asset,
                },
            )
        )
    assert body["view"] == "published"
    assert body["asset"]["title"] == LIVE_TITLE
    assert CODENAME not in json.dumps(body)

    drive_to(client, live_asset, "approved", designer=designer, reviewer=brand_manager)
    run_pending(ctx)
    for role in RESTRICTED:
        headers = keys.headers(role, campaigns=[CAMPAIGN] if role == Role.automation else None)
        seen = _every_read(client, headers, live_asset)
        assert seen["asset"]["title"] == f"{LIVE_TITLE} {CODENAME}"
        assert seen["asset"]["terms"]["region"] == ["amer"]
        assert [i["title"] for i in seen["feed"]] == [f"{LIVE_TITLE} {CODENAME}"]
        hits = _search(client, headers, q=CODENAME)["items"]
        assert [(h["id"], h["version"]) for h in hits] == [(live_asset, 2)]
        assert [i["id"] for i in _search(client, headers, region="amer")["items"]] == [live_asset]


def test_restricted_history_shows_only_changes_of_the_published_view(
    client: TestClient,
    marketer: dict[str, str],
    designer: dict[str, str],
    brand_manager: dict[str, str],
    ctx: Context,
    live_asset: str,
) -> None:
    _pending_change("metadata", client, designer, live_asset, ctx)
    history = client.get(f"/api/v1/assets/{live_asset}/history", headers=marketer).json()
    assert [e["action"] for e in history["items"]] == ["asset.approved"]
    assert all(e["published"] for e in history["items"])
    full = client.get(f"/api/v1/assets/{live_asset}/history", headers=designer).json()
    # A Nordic asset passes two review stages (the pack's `brand`, then `regional`).
    assert [e["action"] for e in full["items"]] == [
        "asset.updated",
        "asset.approved",
        "review.stage_approved",
        "asset.submitted",
        "asset.created",
    ]
    assert full["items"][0]["changes"]["pending_review"] == [
        "title",
        "description",
        "tags",
        "terms.region",
    ]


def test_rejecting_a_metadata_change_leaves_the_published_metadata(
    client: TestClient,
    marketer: dict[str, str],
    designer: dict[str, str],
    brand_manager: dict[str, str],
    ctx: Context,
    live_asset: str,
) -> None:
    _pending_change("metadata", client, designer, live_asset, ctx)
    drive_to(client, live_asset, "rejected", designer=designer, reviewer=brand_manager)
    run_pending(ctx)
    body = client.get(f"/api/v1/assets/{live_asset}", headers=marketer).json()
    assert (body["title"], body["published_version"]) == (LIVE_TITLE, 1)
    assert _search(client, marketer, q=CODENAME)["items"] == []
    working = client.get(f"/api/v1/assets/{live_asset}", headers=designer).json()
    assert working["current_version"]["review_state"] == "rejected"
    assert working["title"] == f"{LIVE_TITLE} {CODENAME}"


def test_restricting_changes_apply_to_both_views_at_once(
    client: TestClient,
    marketer: dict[str, str],
    designer: dict[str, str],
    ctx: Context,
    live_asset: str,
) -> None:
    earlier = (ctx.now().replace(year=2027)).isoformat()
    response = client.patch(
        f"/api/v1/assets/{live_asset}", headers=designer, json={"rights_expire_at": earlier}
    )
    assert response.status_code == 200, response.text
    assert response.json()["pending_changes"] == []
    assert response.json()["current_version"]["number"] == 1  # no draft version was needed
    live = client.get(f"/api/v1/assets/{live_asset}", headers=marketer).json()
    assert live["rights_expire_at"].startswith("2027-")
    # Extending it again waits for a reviewer.
    later = (ctx.now().replace(year=2030)).isoformat()
    client.patch(f"/api/v1/assets/{live_asset}", headers=designer, json={"rights_expire_at": later})
    live = client.get(f"/api/v1/assets/{live_asset}", headers=marketer).json()
    assert live["rights_expire_at"].startswith("2027-")
    # Archiving and untagging never wait either.
    untag = client.delete(f"/api/v1/assets/{live_asset}/campaigns/{CAMPAIGN}", headers=marketer)
    assert untag.status_code == 200, untag.text
    feed = client.get(f"/api/v1/campaigns/{CAMPAIGN}/assets", headers=marketer).json()
    assert feed["items"] == []
    assert client.delete(f"/api/v1/assets/{live_asset}", headers=designer).status_code == 200
    assert client.get(f"/api/v1/assets/{live_asset}", headers=marketer).status_code == 404


def test_facets_the_pack_exempts_from_review_go_live_at_once(
    client: TestClient,
    marketer: dict[str, str],
    designer: dict[str, str],
    ctx: Context,
    live_asset: str,
) -> None:
    # The shipped pack marks visual_style `review: false`; every other facet is reviewed.
    terms = {**METADATA["terms"], "region": ["nordics"], "visual_style": ["flat-lay"]}
    response = client.patch(f"/api/v1/assets/{live_asset}", headers=designer, json={"terms": terms})
    assert response.status_code == 200, response.text
    assert response.json()["pending_changes"] == []
    run_pending(ctx)
    live = client.get(f"/api/v1/assets/{live_asset}", headers=marketer).json()
    assert live["terms"]["visual_style"] == ["flat-lay"]
    assert [i["id"] for i in _search(client, marketer, visual_style="flat-lay")["items"]] == [
        live_asset
    ]
    history = client.get(f"/api/v1/assets/{live_asset}/history", headers=marketer).json()
    assert history["items"][0]["action"] == "asset.updated"
    assert history["items"][0]["changes"]["terms"]["after"]["visual_style"] == ["flat-lay"]


def test_approving_a_change_whose_term_was_deprecated_meanwhile_stores_the_replacement(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    ctx: Context,
    live_asset: str,
    tmp_path: Any,
) -> None:
    import shutil

    from dam.governance.holder import GovernanceHolder
    from tests.conftest import ROOT

    terms = {**METADATA["terms"], "region": ["nl"]}
    response = client.patch(f"/api/v1/assets/{live_asset}", headers=designer, json={"terms": terms})
    assert response.status_code == 200, response.text
    assert client.post(f"/api/v1/assets/{live_asset}/submit", headers=designer).status_code == 200
    # Meanwhile the pack deprecates `nl` in favour of `emea`.
    pack_dir = tmp_path / "pack"
    shutil.copytree(ROOT / "taxonomy", pack_dir)
    taxonomy = pack_dir / "taxonomy.yaml"
    text = taxonomy.read_text()
    marker = "              - id: nl\n"
    assert marker in text
    text = text.replace(
        marker, marker + "                deprecated: true\n                replaced_by: emea\n"
    )
    taxonomy.write_text(text)
    ctx.governance = GovernanceHolder(pack_dir)
    # The Dutch asset passes the `brand` then the `regional` stage of the pack.
    for _ in ("brand", "regional"):
        approved = client.post(f"/api/v1/assets/{live_asset}/approve", headers=brand_manager)
        assert approved.status_code == 200, approved.text
    live = client.get(f"/api/v1/assets/{live_asset}", headers=marketer).json()
    assert live["terms"]["region"] == ["emea"]
