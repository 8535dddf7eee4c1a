"""A real S3 endpoint for tests: MinIO when configured, else moto's server on a free port.

Tests talk to it over HTTP with boto3, exactly as production does, so signing, ranges,
multipart and presigned URLs are exercised for real (no in-process `mock_aws` patching).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import ClientError

from dam.storage.s3 import client_config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ENDPOINT_ENV = "DAM_TEST_S3_ENDPOINT_URL"
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    bucket_prefix: str
    region: str = "us-east-1"

    def client(self) -> S3Client:
        return boto3.session.Session().client(
            "s3", endpoint_url=self.url, region_name=self.region, config=client_config()
        )


def fresh_bucket_name(prefix: str = "dam-test-") -> str:
    """A bucket name no other test (or earlier run against a shared MinIO) has used."""
    return f"{prefix}{uuid.uuid4().hex[:16]}"


@contextmanager
def s3_endpoint() -> Iterator[S3Endpoint]:
    external = os.environ.get(ENDPOINT_ENV)
    if external:
        # Credentials come from the standard AWS_* variables, as for the app itself.
        yield S3Endpoint(url=external, bucket_prefix="dam-test-")
        return

    from moto.server import ThreadedMotoServer

    # moto logs every request through werkzeug; failing tests would drown in it.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    saved = {name: os.environ.get(name) for name in _FAKE_CREDENTIALS}
    os.environ.update(_FAKE_CREDENTIALS)
    # Port 0: the OS picks a free port when the server binds, so parallel runs cannot clash.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Endpoint(url=f"http://{host}:{port}", bucket_prefix="dam-test-")
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def delete_bucket(client: S3Client, bucket: str) -> None:
    """Remove a test bucket with every version, delete marker and pending upload in it."""
    try:
        paginator = client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket):
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                client.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        for upload in uploads:
            client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        client.delete_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise
