"""`init` and `capabilities` of the S3 store, and `dam storage init` / `check` on top of them.

Run against each S3 server (moto has every feature, s3rver lacks versioning and lifecycle rules)
and against an endpoint that refuses chosen operations (tests/support/refusing_proxy.py).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from dam.cli import app
from dam.config import get_settings
from dam.storage.base import Feature, FeatureState, StorageCapabilities
from dam.storage.s3 import (
    CORS_IMPACT,
    LIFECYCLE_RULE_ID,
    PROBE_PREFIX,
    VERSIONING_IMPACT,
    S3BlobStore,
)
from tests.storage.conftest import TEST_CHUNK_SIZE, S3Servers
from tests.support.refusing_proxy import FORBIDDEN, NOT_IMPLEMENTED, Refusal, refusing_proxy
from tests.support.s3 import (
    LACKS_CORS,
    LACKS_LIFECYCLE,
    LACKS_VERSIONING,
    S3Endpoint,
    delete_bucket,
    fresh_bucket_name,
)

LACKS = {
    Feature.versioning: LACKS_VERSIONING,
    Feature.lifecycle: LACKS_LIFECYCLE,
    Feature.cors: LACKS_CORS,
}


def states(report: StorageCapabilities) -> dict[Feature, FeatureState]:
    return {f.feature: f.state for f in report.features}


def expected_states(s3: S3Endpoint, report: StorageCapabilities) -> dict[Feature, FeatureState]:
    """What a server must report: fixed for moto and s3rver; for an external server, what it
    reported (the checks against the bucket below then verify that report)."""
    if s3.lacks is None:
        return states(report)
    return {
        feature: FeatureState.unsupported if lack in s3.lacks else FeatureState.ok
        for feature, lack in LACKS.items()
    }


def store_at(url: str, bucket: str | None = None) -> S3BlobStore:
    return S3BlobStore(bucket or fresh_bucket_name(), endpoint_url=url, chunk_size=TEST_CHUNK_SIZE)


@pytest.fixture
def bucket_cleanup(s3: S3Endpoint) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    client = s3.client()
    for name in names:
        delete_bucket(client, name)


# --- against each server ---------------------------------------------------------------------


def test_init_sets_up_each_feature_the_server_has_and_reports_the_rest(
    s3: S3Endpoint, new_s3_store: Callable[..., S3BlobStore]
) -> None:
    store = new_s3_store()

    first = store.init()
    second = store.init()

    expected = expected_states(s3, first)
    assert first.usable and first.problem is None
    assert first.actions == (f"created bucket {store.bucket} in us-east-1",)
    assert states(first) == expected
    assert states(second) == expected
    assert second.any_changed is False
    for report in first.features:
        # Set up now, or reported with what that means for the people using the DAM.
        assert report.changed is report.ok
        assert bool(report.impact) is not report.ok
    if s3.lacks is not None:
        assert [f.feature for f in first.lacking] == [
            f for f, lack in LACKS.items() if lack in s3.lacks
        ]


def test_init_leaves_in_the_bucket_what_it_reports(
    s3: S3Endpoint, new_s3_store: Callable[..., S3BlobStore]
) -> None:
    store = new_s3_store()
    report = store.init()
    client = store.client

    versioning = report.feature(Feature.versioning)
    lifecycle = report.feature(Feature.lifecycle)
    cors = report.feature(Feature.cors)
    assert versioning and lifecycle and cors
    if versioning.ok:
        assert client.get_bucket_versioning(Bucket=store.bucket)["Status"] == "Enabled"
    if lifecycle.ok:
        rules = client.get_bucket_lifecycle_configuration(Bucket=store.bucket)["Rules"]
        assert [r["ID"] for r in rules] == [LIFECYCLE_RULE_ID]
        assert rules[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
        if versioning.ok:
            assert rules[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    if cors.ok:
        store.put_bytes("tests/cors", b"cors", content_type="text/plain")
        url = store.presigned_url(
            "tests/cors",
            expires_seconds=60,
            filename="c.txt",
            content_type="text/plain",
            inline=True,
        )
        assert url is not None
        response = httpx.get(url, headers={"Origin": "https://cms.example.test"})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] in ("*", "https://cms.example.test")
    # The write probe leaves nothing behind.
    assert list(store.iter_keys(PROBE_PREFIX)) == []


def test_capabilities_report_what_init_set_up_without_changing_anything(
    s3: S3Endpoint, new_s3_store: Callable[..., S3BlobStore]
) -> None:
    store = new_s3_store()
    before = store.init()

    report = store.capabilities()

    assert report.usable
    assert report.actions == (f"bucket {store.bucket} exists",)
    assert report.any_changed is False
    for feature, state in states(report).items():
        if state != states(before)[feature]:
            # Reading alone cannot tell "not supported" from "not enabled" on every server (s3rver
            # answers a versioning query with a listing); either way it is reported as lacking.
            assert (state, states(before)[feature]) == (
                FeatureState.missing,
                FeatureState.unsupported,
            )
            assert s3.known_to_lack(LACKS[feature]) is not False


def test_capabilities_name_missing_features_that_init_would_set(
    s3: S3Endpoint, new_s3_store: Callable[..., S3BlobStore]
) -> None:
    store = new_s3_store()
    store.client.create_bucket(Bucket=store.bucket)

    report = store.capabilities()

    assert report.usable
    for feature in report.features:
        if s3.known_to_lack(LACKS[feature.feature]):
            assert feature.state in (FeatureState.unsupported, FeatureState.missing)
            assert feature.impact
        elif s3.lacks is not None:
            assert feature.state == FeatureState.missing
            assert "`dam storage init`" in feature.detail
            assert feature.impact


def test_capabilities_of_missing_bucket_say_to_run_init(s3: S3Endpoint) -> None:
    store = store_at(s3.url)

    report = store.capabilities()

    assert report.usable is False
    assert report.problem == (
        f"bucket {store.bucket} does not exist at {s3.url}; run `dam storage init`"
    )


def test_init_keeps_operator_lifecycle_rules_and_fixes_a_changed_one(
    s3: S3Endpoint, s3_store: S3BlobStore
) -> None:
    if s3.known_to_lack(LACKS_LIFECYCLE):
        pytest.skip(f"{s3.name} has no lifecycle rules")
    client = s3_store.client
    client.put_bucket_lifecycle_configuration(
        Bucket=s3_store.bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "operator-tmp",
                    "Filter": {"Prefix": "tmp/"},
                    "Status": "Enabled",
                    "Expiration": {"Days": 2},
                },
                {
                    "ID": LIFECYCLE_RULE_ID,
                    "Filter": {"Prefix": ""},
                    "Status": "Enabled",
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                },
            ]
        },
    )

    lifecycle = s3_store.init().feature(Feature.lifecycle)

    assert lifecycle is not None
    assert (lifecycle.state, lifecycle.changed) == (FeatureState.ok, True)
    assert lifecycle.detail.startswith(f"set rule {LIFECYCLE_RULE_ID}: ")
    rules = {
        r["ID"]: r
        for r in client.get_bucket_lifecycle_configuration(Bucket=s3_store.bucket)["Rules"]
    }
    assert sorted(rules) == [LIFECYCLE_RULE_ID, "operator-tmp"]
    assert rules["operator-tmp"]["Expiration"] == {"Days": 2}
    assert rules[LIFECYCLE_RULE_ID]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_init_keeps_operator_cors_rules(
    s3: S3Endpoint, new_s3_store: Callable[..., S3BlobStore]
) -> None:
    store = new_s3_store()
    store.client.create_bucket(Bucket=store.bucket)
    operator_rule = {
        "ID": "operator-upload",
        "AllowedMethods": ["PUT"],
        "AllowedOrigins": ["https://upload.example.test"],
    }
    try:
        store.client.put_bucket_cors(
            Bucket=store.bucket, CORSConfiguration={"CORSRules": [operator_rule]}
        )
    except store.client.exceptions.ClientError:
        pytest.skip(f"{s3.name} has no per-bucket CORS")

    cors = store.init().feature(Feature.cors)

    assert cors is not None and cors.ok and cors.changed
    rules = store.client.get_bucket_cors(Bucket=store.bucket)["CORSRules"]
    assert [(r["AllowedMethods"], r["AllowedOrigins"]) for r in rules] == [
        (["PUT"], ["https://upload.example.test"]),
        (["GET", "HEAD"], ["*"]),
    ]


# --- against an endpoint that lacks features -------------------------------------------------


@pytest.fixture
def moto(s3_servers: S3Servers) -> S3Endpoint:
    return s3_servers.get("moto")


def test_init_on_endpoint_without_versioning_or_cors_is_usable_and_says_what_that_means(
    moto: S3Endpoint,
) -> None:
    refusals = [
        Refusal("PUT", "versioning", "NotImplemented", NOT_IMPLEMENTED),
        Refusal("PUT", "cors", "NotImplemented", NOT_IMPLEMENTED),
    ]
    with refusing_proxy(moto.url, refusals) as url:
        store = store_at(url)
        try:
            report = store.init()
        finally:
            delete_bucket(moto.client(), store.bucket)

    assert report.usable
    versioning, lifecycle, cors = report.features
    assert (versioning.state, versioning.impact) == (FeatureState.unsupported, VERSIONING_IMPACT)
    assert versioning.detail == (
        "not supported by this endpoint (PutBucketVersioning: NotImplemented "
        "refused by the test proxy)"
    )
    assert (cors.state, cors.impact) == (FeatureState.unsupported, CORS_IMPACT)
    # Without versions there is nothing to expire: the rule only aborts stale uploads.
    assert (lifecycle.state, lifecycle.detail) == (
        FeatureState.ok,
        f"set rule {LIFECYCLE_RULE_ID}: abort incomplete multipart uploads after 1 day",
    )
    assert report.lines()[-1] == f"{report.store} is usable (without versioning, cors: see above)"
    assert "  -> " + VERSIONING_IMPACT in report.lines()


def test_init_does_not_overwrite_lifecycle_rules_it_cannot_read(moto: S3Endpoint) -> None:
    bucket = fresh_bucket_name()
    client = moto.client()
    client.create_bucket(Bucket=bucket)
    operator_rule = {
        "ID": "operator-tmp",
        "Filter": {"Prefix": "tmp/"},
        "Status": "Enabled",
        "Expiration": {"Days": 2},
    }
    client.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": [operator_rule]},  # type: ignore[list-item]
    )
    refusals = [Refusal("GET", "lifecycle", "AccessDenied", FORBIDDEN)]
    try:
        with refusing_proxy(moto.url, refusals) as url:
            report = store_at(url, bucket).init()
        rules = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    finally:
        delete_bucket(client, bucket)

    lifecycle = report.feature(Feature.lifecycle)
    assert report.usable and lifecycle is not None
    assert lifecycle.state == FeatureState.failed
    assert lifecycle.detail == (
        "refused by the endpoint (GetBucketLifecycleConfiguration: AccessDenied "
        "refused by the test proxy)"
    )
    assert "noncurrent versions" in lifecycle.impact
    assert [r["ID"] for r in rules] == ["operator-tmp"]


def test_init_is_unusable_when_objects_cannot_be_written(moto: S3Endpoint) -> None:
    refusals = [Refusal("PUT", None, "AccessDenied", FORBIDDEN)]
    with refusing_proxy(moto.url, refusals) as url:
        store = store_at(url)
        try:
            report = store.init()
        finally:
            delete_bucket(moto.client(), store.bucket)

    assert report.usable is False
    assert report.problem == (
        f"cannot use bucket {store.bucket}: PutObject was refused (AccessDenied refused by the "
        "test proxy); the credentials need s3:PutObject, s3:GetObject and s3:DeleteObject on it"
    )
    assert not any(line.endswith("is usable") for line in report.lines())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_init_is_unusable_when_the_endpoint_cannot_be_reached() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    store = store_at(url)

    report = store.init()

    assert report.usable is False
    assert report.problem == (
        f"cannot create bucket {store.bucket}: {url} is not reachable; check DAM_S3_ENDPOINT_URL"
    )


# --- the commands ----------------------------------------------------------------------------


@pytest.fixture
def foreign_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory that is not the project's, with no governance pack anywhere."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("DAM_TAXONOMY_DIR", str(tmp_path / "no-pack-here"))
    monkeypatch.setenv("DAM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAM_STORAGE", "s3")
    monkeypatch.delenv("DAM_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield cwd
    get_settings.cache_clear()


def dam(monkeypatch: pytest.MonkeyPatch, url: str, bucket: str, *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("DAM_S3_ENDPOINT_URL", url)
    monkeypatch.setenv("DAM_S3_BUCKET", bucket)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, list(args))
    # A command that crashed leaves its exception here, where a clean exit leaves SystemExit.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_storage_init_command_from_a_foreign_directory_needs_no_pack(
    s3: S3Endpoint,
    foreign_cwd: Path,
    monkeypatch: pytest.MonkeyPatch,
    bucket_cleanup: list[str],
) -> None:
    bucket = fresh_bucket_name()
    bucket_cleanup.append(bucket)

    code, out, err = dam(monkeypatch, s3.url, bucket, "storage", "init")

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"created bucket {bucket} in us-east-1"
    assert [line.split(":")[0] for line in lines if not line.startswith(" ")][1:4] == [
        "versioning",
        "lifecycle",
        "cors",
    ]
    if s3.known_to_lack(LACKS_VERSIONING):
        assert "versioning: not supported by this endpoint (PutBucketVersioning: " in out
        assert f"  -> {VERSIONING_IMPACT}" in lines
    assert lines[-1].startswith(f"bucket {bucket} at {s3.url} is usable")
    assert list(foreign_cwd.iterdir()) == []


def test_storage_check_command_reports_the_same_capabilities(
    s3: S3Endpoint,
    foreign_cwd: Path,
    monkeypatch: pytest.MonkeyPatch,
    bucket_cleanup: list[str],
) -> None:
    bucket = fresh_bucket_name()
    bucket_cleanup.append(bucket)
    _, init_out, _ = dam(monkeypatch, s3.url, bucket, "storage", "init")

    code, out, err = dam(monkeypatch, s3.url, bucket, "storage", "check")

    assert (code, err) == (0, "")
    report = store_at(s3.url, bucket).capabilities()
    assert out.splitlines()[: len(report.lines())] == report.lines()
    for feature in report.features:
        # What init could not set up, check does not find in place either.
        assert (feature.state == FeatureState.ok) is (
            f"{feature.feature.value}: not supported" not in init_out
        )


def test_storage_init_command_fails_in_two_lines_when_the_bucket_is_unusable(
    foreign_cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"

    code, out, err = dam(monkeypatch, url, "dam-unreachable", "storage", "init")

    assert code == 1
    assert out == ""
    assert err == (
        f"error: cannot create bucket dam-unreachable: {url} is not reachable; "
        "check DAM_S3_ENDPOINT_URL\n"
    )


def test_storage_check_command_fails_clearly_on_a_missing_bucket(
    s3: S3Endpoint, foreign_cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = dam(monkeypatch, s3.url, "dam-never-created", "storage", "check")

    assert (code, out) == (1, "")
    assert err == (
        f"error: bucket dam-never-created does not exist at {s3.url}; run `dam storage init`\n"
    )
