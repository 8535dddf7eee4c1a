"""Governance enforced through the API: uploads, versions, edits, validate, reload, recheck."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dam.assets.recheck import recheck_all
from dam.context import Context
from dam.db import session_scope
from dam.governance.holder import GovernanceHolder
from tests.conftest import count_rows
from tests.factories import GOOD_METADATA, image_bytes, upload

pytestmark = pytest.mark.usefixtures("db_backend")
ROOT = Path(__file__).resolve().parents[2]


def meta(**terms: list[str]) -> dict[str, Any]:
    base = {"asset_type": ["photo"], "usage_rights": ["owned"], "brand": ["halden"]}
    return {**GOOD_METADATA, "terms": {**base, **terms}}


def test_compliant_upload_passes_with_report(client: TestClient, designer: dict[str, str]) -> None:
    body = upload(client, designer, image_bytes(), metadata=meta()).json()
    report = body["current_version"]["compliance"]
    assert report["status"] == "pass"
    assert report["violations"] == []
    assert report["revision"]


def test_synonym_and_label_are_stored_as_term_ids(
    client: TestClient, designer: dict[str, str]
) -> None:
    body = upload(
        client, designer, image_bytes(), metadata=meta(asset_type=["Photograph"], channel=["Email"])
    ).json()
    assert body["terms"]["asset_type"] == ["photo"]
    assert body["terms"]["channel"] == ["email"]


def test_deprecated_term_is_replaced_with_a_warning(
    client: TestClient, designer: dict[str, str]
) -> None:
    body = upload(client, designer, image_bytes(), metadata=meta(region=["benelux"])).json()
    assert body["terms"]["region"] == ["emea"]
    report = body["current_version"]["compliance"]
    assert report["status"] == "warn"
    assert [v["rule"] for v in report["violations"]] == ["taxonomy.deprecated_term"]


def test_unknown_term_gets_422_with_suggestions(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    response = upload(client, designer, image_bytes(), metadata=meta(asset_type=["phot"]))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_terms"
    problem = body["problems"][0]
    assert (problem["facet"], problem["term"]) == ("asset_type", "phot")
    assert "photo" in problem["suggestions"]
    assert count_rows(ctx.engine, "assets") == 0


def test_unknown_facet_missing_required_and_two_terms_in_single_facet(
    client: TestClient, designer: dict[str, str]
) -> None:
    unknown = upload(client, designer, image_bytes(), metadata=meta(colour=["red"]))
    assert unknown.status_code == 422
    assert unknown.json()["problems"][0]["facet"] == "colour"
    missing = upload(
        client,
        designer,
        image_bytes(),
        metadata={**GOOD_METADATA, "terms": {"asset_type": ["photo"]}},
    )
    assert missing.status_code == 422
    assert [p["facet"] for p in missing.json()["problems"]] == ["usage_rights"]
    two = upload(client, designer, image_bytes(), metadata=meta(asset_type=["photo", "logo"]))
    assert two.status_code == 422
    assert two.json()["problems"][0]["facet"] == "asset_type"


def test_blocking_rule_refuses_upload_and_stores_nothing(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    response = upload(client, designer, image_bytes(size=(640, 480)), metadata=meta())
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "policy_violation"
    blocking = [v for v in body["violations"] if v["severity"] == "block"]
    assert [v["rule"] for v in blocking] == ["photo-min-size"]
    assert set(blocking[0]) == {"rule", "severity", "message", "expected", "actual"}
    assert count_rows(ctx.engine, "assets") == 0
    assert list(ctx.store.iter_keys("blobs/")) == []


def test_warning_rule_is_kept_with_the_version(
    client: TestClient, designer: dict[str, str]
) -> None:
    no_brand = {**GOOD_METADATA, "terms": {"asset_type": ["photo"], "usage_rights": ["owned"]}}
    body = upload(client, designer, image_bytes(), metadata=no_brand).json()
    report = body["current_version"]["compliance"]
    assert report["status"] == "warn"
    assert [v["rule"] for v in report["violations"]] == ["brand-tagged"]


def test_new_version_is_checked_against_the_rules(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    asset_id = upload(client, designer, image_bytes(seed=1), metadata=meta()).json()["id"]
    small = upload(
        client,
        designer,
        image_bytes(seed=2, size=(300, 200)),
        path=f"/api/v1/assets/{asset_id}/versions",
        metadata=None,
    )
    assert small.status_code == 422
    assert small.json()["error"] == "policy_violation"
    assert count_rows(ctx.engine, "asset_versions") == 1


def test_metadata_edit_is_checked(client: TestClient, designer: dict[str, str]) -> None:
    asset_id = upload(client, designer, image_bytes(), metadata=meta()).json()["id"]
    licensed = client.patch(
        f"/api/v1/assets/{asset_id}",
        headers=designer,
        json={"terms": {**meta()["terms"], "usage_rights": ["licensed"]}},
    )
    assert licensed.status_code == 422
    assert "licensed-rights-expiry" in [v["rule"] for v in licensed.json()["violations"]]
    fixed = client.patch(
        f"/api/v1/assets/{asset_id}",
        headers=designer,
        json={
            "terms": {**meta()["terms"], "usage_rights": ["licensed"]},
            "rights_expire_at": "2027-12-31T00:00:00Z",
        },
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["terms"]["usage_rights"] == ["licensed"]
    bad_term = client.patch(
        f"/api/v1/assets/{asset_id}", headers=designer, json={"terms": {"asset_type": ["nope"]}}
    )
    assert bad_term.status_code == 422
    assert bad_term.json()["error"] == "invalid_terms"


def test_validate_returns_report_and_stores_nothing(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    response = upload(
        client,
        designer,
        image_bytes(size=(640, 480)),
        metadata=meta(),
        path="/api/v1/governance/validate",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["compliance"]["status"] == "fail"
    assert "photo-min-size" in [v["rule"] for v in body["compliance"]["violations"]]
    assert (body["width"], body["height"]) == (640, 480)
    assert count_rows(ctx.engine, "assets") == 0
    assert list(ctx.store.iter_keys("blobs/")) == []


def test_taxonomy_and_rules_endpoints(client: TestClient, marketer: dict[str, str]) -> None:
    taxonomy = client.get("/api/v1/taxonomy", headers=marketer).json()
    facet_ids = [f["id"] for f in taxonomy["facets"]]
    assert "asset_type" in facet_ids and "region" in facet_ids
    rules = client.get("/api/v1/governance/rules", headers=marketer).json()
    assert "photo-min-size" in [r["id"] for r in rules["rules"]]


def _pack_copy(tmp_path: Path) -> Path:
    target = tmp_path / "pack"
    shutil.copytree(ROOT / "taxonomy", target)
    return target


def test_reload_keeps_previous_pack_when_broken(
    client: TestClient,
    admin: dict[str, str],
    designer: dict[str, str],
    ctx: Context,
    tmp_path: Path,
) -> None:
    pack_dir = _pack_copy(tmp_path)
    ctx.governance = GovernanceHolder(pack_dir)
    revision = ctx.governance.pack.revision
    rules = pack_dir / "brand_rules.yaml"
    rules.write_text(rules.read_text() + "\n  - id: broken\n    check: no_such_check\n")
    response = client.post("/api/v1/governance/reload", headers=admin)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_pack"
    assert any("no_such_check" in p for p in response.json()["problems"])
    assert ctx.governance.pack.revision == revision
    assert client.post("/api/v1/governance/reload", headers=designer).status_code == 403


def test_reload_then_recheck_reports_newly_failing(
    client: TestClient,
    admin: dict[str, str],
    designer: dict[str, str],
    ctx: Context,
    tmp_path: Path,
) -> None:
    pack_dir = _pack_copy(tmp_path)
    ctx.governance = GovernanceHolder(pack_dir)
    asset_id = upload(client, designer, image_bytes(), metadata=meta()).json()["id"]
    rules = pack_dir / "brand_rules.yaml"
    rules.write_text(
        rules.read_text().replace(
            "params: {width: 1200, height: 800,", "params: {width: 2400, height: 1600,", 1
        )
    )
    taxonomy = pack_dir / "taxonomy.yaml"
    taxonomy.write_text(taxonomy.read_text().replace("revision:", "revision: '2099.1' #", 1))
    response = client.post("/api/v1/governance/reload", headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["revision"] == "2099.1"
    assert response.json()["changed"] is True
    with session_scope(ctx.engine) as session:
        result = recheck_all(session, pack=ctx.governance.pack, now=ctx.now())
    assert result.counts["fail"] == 1
    assert [(str(a), rules_) for a, _, rules_ in result.newly_failing] == [
        (asset_id, ["photo-min-size"])
    ]
    with session_scope(ctx.engine) as session:
        again = recheck_all(session, pack=ctx.governance.pack, now=ctx.now())
    assert again.newly_failing == []
    body = client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()
    assert body["current_version"]["compliance"]["status"] == "fail"
    assert body["current_version"]["compliance"]["revision"] == "2099.1"


def test_recheck_cli_prints_counts(
    ctx: Context,
    client: TestClient,
    designer: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    db_backend: str,
) -> None:
    if db_backend != "sqlite":
        pytest.skip("the CLI builds its own context from the environment; SQLite is enough")
    from dam.cli import app
    from dam.config import get_settings

    upload(client, designer, image_bytes(), metadata=meta())
    monkeypatch.setenv("DAM_DATABASE_URL", str(ctx.engine.url))
    monkeypatch.setenv("DAM_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setenv("DAM_TAXONOMY_DIR", str(ROOT / "taxonomy"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["governance", "recheck"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "1 assets checked: 1 pass, 0 warn, 0 fail" in result.output
