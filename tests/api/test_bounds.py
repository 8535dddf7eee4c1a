"""Boundary values are refused where they enter (`dam.bounds`): version numbers past the
database's integers, dates whose UTC conversion overflows or that are numbers, in every path,
query and body that takes them. Each gets a 422 naming the parameter, never a 500, and an
upload refused for its metadata leaves nothing behind."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter, ValidationError

from dam.bounds import MAX_JSON_DEPTH, SafeDate, SafeDatetime, json_depth, loads_json
from dam.context import Context
from tests.conftest import count_rows
from tests.factories import GOOD_METADATA, image_bytes, upload

pytestmark = pytest.mark.usefixtures("db_backend")

HUGE = str(2**63)
NEAR_YEAR_ONE = "0001-01-01T00:00:00+05:00"
NEAR_YEAR_9999 = "9999-12-31T23:59:59-05:00"
BAD_INSTANTS = [NEAR_YEAR_ONE, NEAR_YEAR_9999, "0", "1700000000"]


def _q(value: str) -> str:
    return quote(value, safe="")


@pytest.fixture
def asset_id(client: TestClient, designer: dict[str, str]) -> str:
    return str(upload(client, designer, image_bytes()).json()["id"])


def _assert_refused(response: object, field: str) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    assert status == 422, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["error"] in {"invalid_request", "invalid_metadata"}
    assert field in body["detail"] or any(field in p["field"] for p in body.get("problems", []))


def test_version_numbers_past_the_database_integer_are_422(
    client: TestClient, designer: dict[str, str], asset_id: str
) -> None:
    for big in (HUGE, str(2**31)):
        restore = client.post(f"/api/v1/assets/{asset_id}/versions/{big}/restore", headers=designer)
        _assert_refused(restore, "number")
        content = client.get(f"/api/v1/assets/{asset_id}/content?version={big}", headers=designer)
        _assert_refused(content, "version")
        thumb = client.get(
            f"/api/v1/assets/{asset_id}/renditions/thumb?version={big}", headers=designer
        )
        _assert_refused(thumb, "version")
    search = client.get(f"/api/v1/search?page={HUGE}", headers=designer)
    _assert_refused(search, "page")


@pytest.mark.parametrize("value", BAD_INSTANTS)
def test_instants_in_queries_are_bounded_and_never_numbers(
    client: TestClient,
    admin: dict[str, str],
    automation: dict[str, str],
    value: str,
) -> None:
    client.post("/api/v1/campaigns", json={"id": "EDGE-1", "name": "Edge"}, headers=admin)
    for path, field in [
        (f"/api/v1/audit?since={_q(value)}", "since"),
        (f"/api/v1/audit?until={_q(value)}", "until"),
        (f"/api/v1/campaigns/EDGE-1/assets?updated_since={_q(value)}", "updated_since"),
        (f"/api/v1/campaigns/EDGE-1/assets/removed?since={_q(value)}", "since"),
        (f"/api/v1/search?created_after={_q(value)}", "created_after"),
    ]:
        _assert_refused(client.get(path, headers=admin), field)


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "0", "20000"])
def test_report_and_campaign_dates_are_bounded(
    client: TestClient, admin: dict[str, str], value: str
) -> None:
    client.post("/api/v1/campaigns", json={"id": "EDGE-2", "name": "Edge"}, headers=admin)
    for path, field in [
        (f"/api/v1/reports/creative-insights?to={value}", "to"),
        (f"/api/v1/reports/creative-insights?from={value}", "from"),
        (f"/api/v1/campaigns/EDGE-2/performance?to={value}", "to"),
        (f"/api/v1/campaigns?active_on={value}", "active_on"),
    ]:
        _assert_refused(client.get(path, headers=admin), field)
    created = client.post(
        "/api/v1/campaigns", json={"id": "EDGE-3", "name": "Edge", "ends_on": value}, headers=admin
    )
    _assert_refused(created, "ends_on")


@pytest.mark.parametrize("value", [*BAD_INSTANTS, 0, 1700000000.5])
def test_instants_in_bodies_are_bounded_and_never_numbers(
    client: TestClient,
    designer: dict[str, str],
    admin: dict[str, str],
    asset_id: str,
    value: object,
) -> None:
    patch = client.patch(
        f"/api/v1/assets/{asset_id}", json={"rights_expire_at": value}, headers=designer
    )
    _assert_refused(patch, "rights_expire_at")
    key = client.post(
        "/api/v1/keys",
        json={"role": "designer", "name": "edge", "expires_at": value},
        headers=admin,
    )
    _assert_refused(key, "expires_at")


@pytest.mark.parametrize("value", [NEAR_YEAR_9999, NEAR_YEAR_ONE, 0])
def test_upload_with_out_of_range_rights_stores_nothing(
    client: TestClient, designer: dict[str, str], ctx: Context, value: object
) -> None:
    response = upload(
        client,
        designer,
        image_bytes(seed=11),
        metadata={**GOOD_METADATA, "rights_expire_at": value},
    )
    _assert_refused(response, "rights_expire_at")
    assert count_rows(ctx.engine, "assets") == 0
    assert list(ctx.store.iter_keys("blobs/")) == []
    assert list((ctx.settings.data_dir / "tmp").iterdir()) == []


def test_a_new_version_with_out_of_range_rights_stores_nothing(
    client: TestClient, designer: dict[str, str], ctx: Context, asset_id: str
) -> None:
    before = list(ctx.store.iter_keys("blobs/"))
    response = upload(
        client,
        designer,
        image_bytes(seed=12),
        metadata={"rights_expire_at": NEAR_YEAR_9999},
        path=f"/api/v1/assets/{asset_id}/versions",
    )
    _assert_refused(response, "rights_expire_at")
    assert list(ctx.store.iter_keys("blobs/")) == before
    assert count_rows(ctx.engine, "asset_versions") == 1


def test_in_range_values_still_pass_and_come_back_in_utc(
    client: TestClient, designer: dict[str, str], asset_id: str
) -> None:
    response = client.patch(
        f"/api/v1/assets/{asset_id}",
        json={"rights_expire_at": "2030-06-30T23:00:00-02:00"},
        headers=designer,
    )
    assert response.status_code == 200, response.text
    assert response.json()["rights_expire_at"] == "2030-07-01T01:00:00Z"


def test_the_bounded_types_themselves() -> None:
    instant = TypeAdapter(SafeDatetime)
    day = TypeAdapter(SafeDate)
    assert instant.validate_python("9000-12-30T12:00:00+00:00").year == 9000
    for bad in ("9000-12-31T23:00:00-05:00", "1899-12-31T23:00:00Z", "2026-01-01T00:00:00", 0):
        with pytest.raises(ValidationError):
            instant.validate_python(bad)
    for bad_day in ("9001-01-01", "0", 19000):
        with pytest.raises(ValidationError):
            day.validate_python(bad_day)
    assert json_depth(b'{"a": [[["]]]]]]"]]]}') == 4
    assert json_depth(b'["\\\\", "\\"[[[[", [[]]]') == 3
    assert json_depth(b"[" * 100_000) == 100_000
    with pytest.raises(ValueError, match=f"deeper than {MAX_JSON_DEPTH}"):
        loads_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    assert loads_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
