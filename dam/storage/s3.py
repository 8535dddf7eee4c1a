"""S3-compatible object storage (AWS S3, MinIO) through boto3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dam.media.filenames import content_disposition
from dam.storage.base import (
    BlobInfo,
    BlobNotFound,
    StorageUnavailable,
    check_range,
)

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import LifecycleRuleOutputTypeDef, LifecycleRuleTypeDef

CHUNK_SIZE = 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024  # S3 refuses smaller parts (except the last)
# At most this many parts are in flight, which bounds upload memory to about chunk x this.
UPLOAD_CONCURRENCY = 4
LIFECYCLE_RULE_ID = "dam-housekeeping"
ABORT_MULTIPART_DAYS = 1
# Deleted or overwritten blobs stay recoverable this long on a versioned bucket.
NONCURRENT_EXPIRY_DAYS = 30
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_NO_BUCKET = {"404", "NoSuchBucket", "NotFound"}


class S3BlobStore:
    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        public_endpoint_url: str | None = None,
        chunk_size: int = 16 * 1024 * 1024,
    ) -> None:
        if chunk_size < MIN_PART_SIZE:
            raise ValueError(f"multipart chunk size must be at least {MIN_PART_SIZE} bytes")
        self.bucket = bucket
        self.region = region
        self.chunk_size = chunk_size
        # One session per store: boto3 sessions are not thread-safe, but clients are.
        session = boto3.session.Session()
        self.client: S3Client = session.client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=client_config()
        )
        # Presigned URLs embed the host in the signature, so they must be signed for the address
        # the browser will use; signing needs no network access to it.
        self._presign_client: S3Client = (
            session.client(
                "s3", endpoint_url=public_endpoint_url, region_name=region, config=client_config()
            )
            if public_endpoint_url
            else self.client
        )
        self._transfer = TransferConfig(
            multipart_threshold=chunk_size,
            multipart_chunksize=chunk_size,
            max_concurrency=UPLOAD_CONCURRENCY,
            use_threads=True,
            # The CRT client ignores these limits and picks its own part sizes and concurrency.
            preferred_transfer_client="classic",
        )

    def put_file(self, key: str, path: Path, *, content_type: str) -> None:
        self.client.upload_file(
            str(path),
            self.bucket,
            key,
            ExtraArgs={"ContentType": content_type},
            Config=self._transfer,
        )

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except BlobNotFound:
            return False
        return True

    def stat(self, key: str) -> BlobInfo:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                raise BlobNotFound(key) from None
            raise
        return BlobInfo(
            key=key,
            size=head["ContentLength"],
            content_type=head.get("ContentType"),
            modified=head.get("LastModified"),
        )

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        check_range(start, end)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        # No Range header for a whole read: S3 answers 416 to `bytes=0-` on an empty object.
        if start or end is not None:
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            response = self.client.get_object(**kwargs)
        except ClientError as exc:
            code = _error_code(exc)
            if code in _NOT_FOUND:
                raise BlobNotFound(key) from None
            if code == "InvalidRange":
                if start == 0:
                    # Only an empty object makes `bytes=0-N` unsatisfiable.
                    return iter(())
                raise ValueError(f"range start {start} is past the end of {key}") from None
            raise
        return _stream(response["Body"])

    def delete(self, key: str) -> None:
        # On the versioned bucket this leaves a delete marker; the lifecycle rule expires the
        # old version after NONCURRENT_EXPIRY_DAYS, which is the window to undo a mistake.
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def iter_keys(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"]

    def presigned_url(
        self, key: str, *, expires_seconds: int, filename: str, content_type: str, inline: bool
    ) -> str | None:
        return self._presign_client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": content_disposition(filename, inline=inline),
                "ResponseContentType": content_type,
            },
            ExpiresIn=expires_seconds,
        )

    def ping(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            raise StorageUnavailable(
                f"bucket {self.bucket}: {_error_code(exc)} {_error_message(exc)}".rstrip()
            ) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"bucket {self.bucket}: {exc}") from exc

    def init(self) -> list[str]:
        """Create the bucket and its settings if missing; safe to run on every deploy."""
        done = [self._ensure_bucket()]
        done.append(self._ensure_versioning())
        done.append(self._ensure_lifecycle())
        return done

    def _ensure_bucket(self) -> str:
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return f"bucket {self.bucket} already exists"
        except ClientError as exc:
            if _error_code(exc) not in _NO_BUCKET:
                raise
        try:
            # us-east-1 is the one region that rejects an explicit LocationConstraint.
            if self.region == "us-east-1":
                self.client.create_bucket(Bucket=self.bucket)
            else:
                self.client.create_bucket(
                    Bucket=self.bucket,
                    # The stubs list today's regions; settings may name a newer one.
                    CreateBucketConfiguration={
                        "LocationConstraint": cast("BucketLocationConstraintType", self.region)
                    },
                )
        except ClientError as exc:
            # Another replica running init at the same moment got there first.
            if _error_code(exc) == "BucketAlreadyOwnedByYou":
                return f"bucket {self.bucket} already exists"
            raise
        return f"created bucket {self.bucket} in {self.region}"

    def _ensure_versioning(self) -> str:
        status = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        if status == "Enabled":
            return f"versioning already enabled on {self.bucket}"
        self.client.put_bucket_versioning(
            Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"}
        )
        return f"enabled versioning on {self.bucket}"

    def _ensure_lifecycle(self) -> str:
        try:
            current = self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)["Rules"]
        except ClientError as exc:
            if _error_code(exc) != "NoSuchLifecycleConfiguration":
                raise
            current = []
        ours = [rule for rule in current if rule.get("ID") == LIFECYCLE_RULE_ID]
        if len(ours) == 1 and _is_housekeeping_rule(ours[0]):
            return f"lifecycle rule {LIFECYCLE_RULE_ID} already in place"
        # Rules an operator added by hand are kept; only ours is replaced.
        others: list[Any] = [rule for rule in current if rule.get("ID") != LIFECYCLE_RULE_ID]
        self.client.put_bucket_lifecycle_configuration(
            Bucket=self.bucket,
            LifecycleConfiguration={"Rules": [*others, _housekeeping_rule()]},
        )
        return (
            f"set lifecycle rule {LIFECYCLE_RULE_ID}: abort incomplete multipart uploads after "
            f"{ABORT_MULTIPART_DAYS} day, expire noncurrent versions after "
            f"{NONCURRENT_EXPIRY_DAYS} days"
        )


def client_config() -> Config:
    return Config(
        signature_version="s3v4",
        # Virtual-host addressing needs wildcard DNS that MinIO and test servers rarely have.
        s3={"addressing_style": "path"},
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=UPLOAD_CONCURRENCY * 4,
        # The default CRC32 trailers (botocore ≥ 1.36) break MinIO releases and moto; S3 only
        # needs checksums where an operation requires one.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


def _housekeeping_rule() -> LifecycleRuleTypeDef:
    return {
        "ID": LIFECYCLE_RULE_ID,
        "Filter": {"Prefix": ""},
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS},
        "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_EXPIRY_DAYS},
        # Once every old version has expired, the lone delete marker is useless too.
        "Expiration": {"ExpiredObjectDeleteMarker": True},
    }


def _is_housekeeping_rule(rule: LifecycleRuleOutputTypeDef) -> bool:
    return (
        rule.get("Status") == "Enabled"
        and rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation")
        == ABORT_MULTIPART_DAYS
        and rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays")
        == NONCURRENT_EXPIRY_DAYS
        and rule.get("Expiration", {}).get("ExpiredObjectDeleteMarker") is True
        and rule.get("Filter", {}).get("Prefix", "") == ""
        and "Prefix" not in rule
    )


def _stream(body: StreamingBody) -> Iterator[bytes]:
    # `finally` also runs on GeneratorExit, so a client that disconnects mid-download releases
    # the HTTP connection back to the pool instead of leaking it.
    try:
        yield from body.iter_chunks(CHUNK_SIZE)
    finally:
        body.close()


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))
