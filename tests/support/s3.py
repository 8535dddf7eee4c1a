"""Real S3 endpoints for tests: moto's server, s3rver (npm) and MinIO when configured.

Tests talk to them over HTTP with boto3, exactly as production does, so signing, ranges,
multipart and presigned URLs are exercised for real (no in-process `mock_aws` patching). moto
and s3rver are independent implementations; what each lacks is declared on its endpoint, so a
test that needs a feature skips with the reason rather than passing by accident.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import ClientError

from dam.storage.s3 import client_config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ENDPOINT_ENV = "DAM_TEST_S3_ENDPOINT_URL"
S3RVER_DIR = Path(__file__).resolve().parent / "s3rver"
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# What a server is known not to do (beyond the features `dam storage init` reports on).
LACKS_VERSIONING = "versioning"
LACKS_LIFECYCLE = "lifecycle"
LACKS_CORS = "cors"
LACKS_REGIONS = "regions"  # buckets outside the server's one region
LACKS_LIST_UPLOADS = "list-uploads"  # ListMultipartUploads
LACKS_MULTIPART_ETAG = "multipart-etag"  # "<md5 of part md5s>-<part count>" ETags


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    bucket_prefix: str
    region: str = "us-east-1"
    name: str = "moto"
    # None for an external server: what it lacks is learnt from what `init` reports.
    lacks: frozenset[str] | None = frozenset()

    def client(self) -> S3Client:
        return boto3.session.Session().client(
            "s3", endpoint_url=self.url, region_name=self.region, config=client_config()
        )

    def known_to_lack(self, what: str) -> bool | None:
        return None if self.lacks is None else what in self.lacks


def fresh_bucket_name(prefix: str = "dam-test-") -> str:
    """A bucket name no other test (or earlier run against a shared MinIO) has used."""
    return f"{prefix}{uuid.uuid4().hex[:16]}"


@contextmanager
def fake_credentials() -> Iterator[None]:
    """Fake credentials unless real ones are set (MinIO): moto takes any, s3rver is told them."""
    saved = {name: os.environ.get(name) for name in _FAKE_CREDENTIALS}
    if not os.environ.get("AWS_ACCESS_KEY_ID"):
        os.environ.update(_FAKE_CREDENTIALS)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def s3_endpoint() -> Iterator[S3Endpoint]:
    """The one endpoint API tests use: MinIO when configured, else moto."""
    if os.environ.get(ENDPOINT_ENV):
        yield external_endpoint()
        return
    with moto_endpoint() as endpoint:
        yield endpoint


def external_endpoint() -> S3Endpoint:
    # Credentials come from the standard AWS_* variables, as for the app itself.
    return S3Endpoint(
        url=os.environ[ENDPOINT_ENV], bucket_prefix="dam-test-", name="external", lacks=None
    )


@contextmanager
def moto_endpoint() -> Iterator[S3Endpoint]:
    from moto.server import ThreadedMotoServer

    # moto logs every request through werkzeug; failing tests would drown in it.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with fake_credentials():
        # Port 0: the OS picks a free port when the server binds, so parallel runs cannot clash.
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield S3Endpoint(url=f"http://{host}:{port}", bucket_prefix="dam-test-")
        finally:
            server.stop()


def s3rver_missing() -> str | None:
    """Why s3rver cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "s3rver needs Node.js (`node` is not on PATH)"
    if not (S3RVER_DIR / "node_modules" / "s3rver").is_dir():
        return f"s3rver is not installed: run `npm ci --prefix {S3RVER_DIR}` (.ci/run does)"
    return None


@contextmanager
def s3rver_endpoint(directory: Path) -> Iterator[S3Endpoint]:
    """s3rver on 127.0.0.1 and a port the OS picks, storing under `directory`."""
    reason = s3rver_missing()
    if reason:
        raise RuntimeError(reason)
    log_path = directory / "s3rver.log"
    with fake_credentials(), open(log_path, "w") as log:
        # stdin stays open for the server's lifetime: it exits when this process goes away.
        process = subprocess.Popen(
            ["node", str(S3RVER_DIR / "serve.js"), str(directory / "data")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line:
                process.wait(timeout=10)
                raise RuntimeError(f"s3rver did not start: {log_path.read_text().strip()}")
            port = json.loads(line)["port"]
            yield S3Endpoint(
                url=f"http://127.0.0.1:{port}",
                bucket_prefix="dam-test-",
                name="s3rver",
                lacks=frozenset(
                    {
                        LACKS_VERSIONING,
                        LACKS_LIFECYCLE,
                        LACKS_REGIONS,
                        LACKS_LIST_UPLOADS,
                        LACKS_MULTIPART_ETAG,
                    }
                ),
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for stream in (process.stdin, process.stdout):
                if stream:
                    stream.close()


def delete_bucket(client: S3Client, bucket: str) -> None:
    """Remove a test bucket with every version, delete marker and pending upload in it."""
    try:
        try:
            paginator = client.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=bucket):
                for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    client.delete_object(
                        Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"]
                    )
        except ClientError as exc:
            if not _unsupported(exc):
                raise
            # A server without versions (s3rver) has only current objects to remove.
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    client.delete_object(Bucket=bucket, Key=obj["Key"])
        try:
            uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        except ClientError as exc:
            if not _unsupported(exc):
                raise
            uploads = []
        for upload in uploads:
            client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        client.delete_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise


def _unsupported(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"NotImplemented", "MethodNotAllowed"}
