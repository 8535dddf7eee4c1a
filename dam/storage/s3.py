"""S3-compatible object storage (AWS S3, MinIO, R2, B2, ...) through boto3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
)

from dam.media.filenames import content_disposition
from dam.storage.base import (
    BlobInfo,
    BlobNotFound,
    Feature,
    FeatureReport,
    FeatureState,
    StorageCapabilities,
    StorageUnavailable,
    check_range,
)

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import (
        CORSRuleOutputTypeDef,
        CORSRuleTypeDef,
        LifecycleRuleOutputTypeDef,
        LifecycleRuleTypeDef,
    )

CHUNK_SIZE = 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024  # S3 refuses smaller parts (except the last)
# At most this many parts are in flight, which bounds upload memory to about chunk x this.
UPLOAD_CONCURRENCY = 4
LIFECYCLE_RULE_ID = "dam-housekeeping"
ABORT_MULTIPART_DAYS = 1
# Deleted or overwritten blobs stay recoverable this long on a versioned bucket.
NONCURRENT_EXPIRY_DAYS = 30
# Lets browser scripts read blobs through presigned links (DAM_S3_PRESIGN_DOWNLOADS=true).
CORS_RULE_ID = "dam-presigned-downloads"
CORS_METHODS = ("GET", "HEAD")
CORS_EXPOSE_HEADERS = (
    "Accept-Ranges",
    "Content-Disposition",
    "Content-Length",
    "Content-Range",
    "Content-Type",
    "ETag",
)
CORS_MAX_AGE_SECONDS = 3600
# `dam storage init` proves it can write here; nothing else uses this prefix.
PROBE_PREFIX = "dam-probe/"
PROBE_BYTES = b"dam storage init write probe\n"

VERSIONING_IMPACT = (
    "deleted or overwritten blobs cannot be recovered from the bucket, and "
    "`dam storage check --repair` removes orphans for good; back up the bucket (for example, "
    "replicate it to a second one) to be able to undo a deletion"
)
CORS_IMPACT = (
    "browser scripts on other sites cannot read files through presigned links "
    "(DAM_S3_PRESIGN_DOWNLOADS=true only); downloads, <img> tags and server-side fetchers "
    "are not affected"
)

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_NO_BUCKET = {"404", "NoSuchBucket", "NotFound"}
_DENIED = {"403", "AccessDenied", "Forbidden", "AllAccessDisabled"}
_BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}
# What stores answer for an operation they do not implement, besides HTTP 501 or 405.
_UNSUPPORTED = {
    "NotImplemented",
    "XNotImplemented",
    "MethodNotAllowed",
    "UnsupportedOperation",
    "NotSupported",
    # An endpoint that does not know a bucket subresource may take `PUT /bucket?versioning` for
    # CreateBucket and answer that the bucket exists (s3rver does).
    "BucketAlreadyExists",
    "BucketAlreadyOwnedByYou",
}


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
        try:
            self.client: S3Client = session.client(
                "s3", endpoint_url=endpoint_url, region_name=region, config=client_config()
            )
        except ValueError as exc:  # botocore: "Invalid endpoint: …"
            raise StorageUnavailable(f"invalid S3 endpoint URL {endpoint_url!r}") from exc
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

    def put_file(self, key: str, path: Path, *, content_type: str, move: bool = False) -> None:
        # An object store cannot adopt a local file: `move` changes nothing here.
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
        if response.get("ContentRange", "").endswith("/0"):
            # An empty object has no bytes in any range; s3rver answers `bytes=0-N` on one with
            # 206 and a Content-Length of 1 it never sends, where S3 answers 416.
            response["Body"].close()
            return iter(())
        if end is not None:
            # Never pass on more than was asked for: s3rver answers `bytes=0-0` with the whole
            # object, which would overrun the Content-Length of our own 206 response.
            return _stream(response["Body"], limit=end - start + 1)
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

    def init(self) -> StorageCapabilities:
        """Create the bucket if missing, then set up versioning, the housekeeping lifecycle rule
        and CORS where the endpoint has them. Safe to run on every deploy and from several
        replicas at once. Refusals are reported, never raised: many S3-compatible stores (R2,
        B2, MinIO, s3rver) lack one of these, and the bucket still works without them."""
        try:
            action, created = self._ensure_bucket()
        except (ClientError, BotoCoreError) as exc:
            return self._unusable(exc, action=f"create bucket {self.bucket}")
        versioning = self._setup_versioning()
        lifecycle = self._setup_lifecycle(versioned=versioning.ok)
        cors = self._setup_cors()
        problem = self._probe_write()
        return StorageCapabilities(
            store=self._name,
            usable=problem is None,
            actions=(action,),
            features=(versioning, lifecycle, cors),
            problem=problem,
            changed=created,
        )

    def capabilities(self) -> StorageCapabilities:
        """The same report as `init`, read without changing the bucket (`dam storage check`)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            return self._unusable(exc, action=f"reach bucket {self.bucket}")
        versioning = self._read_versioning()
        lifecycle = self._read_lifecycle(versioned=versioning.ok)
        cors = self._read_cors()
        return StorageCapabilities(
            store=self._name,
            usable=True,
            actions=(f"bucket {self.bucket} exists",),
            features=(versioning, lifecycle, cors),
        )

    @property
    def _name(self) -> str:
        return f"bucket {self.bucket} at {self.client.meta.endpoint_url}"

    def _ensure_bucket(self) -> tuple[str, bool]:
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return f"bucket {self.bucket} already exists", False
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
                return f"bucket {self.bucket} already exists", False
            raise
        return f"created bucket {self.bucket} in {self.region}", True

    # --- versioning -----------------------------------------------------------------------------

    def _read_versioning(self) -> FeatureReport:
        try:
            status = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        except ClientError as exc:
            return _refusal(Feature.versioning, exc, "GetBucketVersioning", VERSIONING_IMPACT)
        if status == "Enabled":
            return FeatureReport(Feature.versioning, FeatureState.ok, "enabled")
        return FeatureReport(
            Feature.versioning,
            FeatureState.missing,
            # s3rver answers this request as a listing, which reads the same as "never enabled".
            f"{(status or 'not enabled').lower()} "
            "(`dam storage init` enables it where the endpoint supports it)",
            VERSIONING_IMPACT,
        )

    def _setup_versioning(self) -> FeatureReport:
        current = self._read_versioning()
        if current.ok:
            return FeatureReport(Feature.versioning, FeatureState.ok, "already enabled")
        try:
            self.client.put_bucket_versioning(
                Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"}
            )
        except ClientError as exc:
            return _refusal(Feature.versioning, exc, "PutBucketVersioning", VERSIONING_IMPACT)
        return FeatureReport(Feature.versioning, FeatureState.ok, "enabled", changed=True)

    # --- lifecycle ------------------------------------------------------------------------------

    def _lifecycle_rules(self) -> list[LifecycleRuleOutputTypeDef]:
        try:
            return self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)["Rules"]
        except ClientError as exc:
            if _error_code(exc) == "NoSuchLifecycleConfiguration":
                return []
            raise

    def _read_lifecycle(self, *, versioned: bool) -> FeatureReport:
        impact = _lifecycle_impact(versioned=versioned)
        try:
            rules = self._lifecycle_rules()
        except ClientError as exc:
            return _refusal(Feature.lifecycle, exc, "GetBucketLifecycleConfiguration", impact)
        ours = [rule for rule in rules if rule.get("ID") == LIFECYCLE_RULE_ID]
        if len(ours) == 1 and _is_housekeeping_rule(ours[0], versioned=versioned):
            return FeatureReport(
                Feature.lifecycle,
                FeatureState.ok,
                f"rule {LIFECYCLE_RULE_ID} in place ({_housekeeping_summary(versioned)})",
            )
        found = "differs from what the DAM sets" if ours else "is not set"
        return FeatureReport(
            Feature.lifecycle,
            FeatureState.missing,
            f"rule {LIFECYCLE_RULE_ID} {found} (`dam storage init` sets it)",
            impact,
        )

    def _setup_lifecycle(self, *, versioned: bool) -> FeatureReport:
        impact = _lifecycle_impact(versioned=versioned)
        try:
            current = self._lifecycle_rules()
        except ClientError as exc:
            # Without the current rules a write would drop rules an operator set by hand.
            return _refusal(Feature.lifecycle, exc, "GetBucketLifecycleConfiguration", impact)
        ours = [rule for rule in current if rule.get("ID") == LIFECYCLE_RULE_ID]
        summary = _housekeeping_summary(versioned)
        if len(ours) == 1 and _is_housekeeping_rule(ours[0], versioned=versioned):
            return FeatureReport(
                Feature.lifecycle,
                FeatureState.ok,
                f"rule {LIFECYCLE_RULE_ID} already in place ({summary})",
            )
        # Rules an operator added by hand are kept; only ours is replaced.
        others: list[Any] = [rule for rule in current if rule.get("ID") != LIFECYCLE_RULE_ID]
        try:
            self.client.put_bucket_lifecycle_configuration(
                Bucket=self.bucket,
                LifecycleConfiguration={
                    "Rules": [*others, _housekeeping_rule(versioned=versioned)]
                },
            )
        except ClientError as exc:
            return _refusal(Feature.lifecycle, exc, "PutBucketLifecycleConfiguration", impact)
        return FeatureReport(
            Feature.lifecycle,
            FeatureState.ok,
            f"set rule {LIFECYCLE_RULE_ID}: {summary}",
            changed=True,
        )

    # --- CORS -----------------------------------------------------------------------------------

    def _cors_rules(self) -> list[CORSRuleOutputTypeDef]:
        try:
            return self.client.get_bucket_cors(Bucket=self.bucket)["CORSRules"]
        except ClientError as exc:
            if _error_code(exc) == "NoSuchCORSConfiguration":
                return []
            raise

    def _read_cors(self) -> FeatureReport:
        try:
            rules = self._cors_rules()
        except ClientError as exc:
            return _refusal(Feature.cors, exc, "GetBucketCors", CORS_IMPACT)
        if any(_is_cors_rule(rule) for rule in rules):
            return FeatureReport(Feature.cors, FeatureState.ok, f"rule {CORS_RULE_ID} in place")
        return FeatureReport(
            Feature.cors,
            FeatureState.missing,
            f"rule {CORS_RULE_ID} is not set (`dam storage init` sets it)",
            CORS_IMPACT,
        )

    def _setup_cors(self) -> FeatureReport:
        try:
            current = self._cors_rules()
        except ClientError as exc:
            return _refusal(Feature.cors, exc, "GetBucketCors", CORS_IMPACT)
        if any(_is_cors_rule(rule) for rule in current):
            return FeatureReport(
                Feature.cors, FeatureState.ok, f"rule {CORS_RULE_ID} already in place"
            )
        # Some servers drop rule ids, so a changed rule of ours is recognised by id only; any
        # other rule (an operator's) is kept as it is.
        others: list[Any] = [rule for rule in current if rule.get("ID") != CORS_RULE_ID]
        try:
            self.client.put_bucket_cors(
                Bucket=self.bucket, CORSConfiguration={"CORSRules": [*others, _cors_rule()]}
            )
        except ClientError as exc:
            return _refusal(Feature.cors, exc, "PutBucketCors", CORS_IMPACT)
        return FeatureReport(
            Feature.cors,
            FeatureState.ok,
            f"set rule {CORS_RULE_ID}: any origin may GET and HEAD through presigned links",
            changed=True,
        )

    # --- usable at all --------------------------------------------------------------------------

    def _probe_write(self) -> str | None:
        """Write, read back and remove a small object: a bucket the credentials can see but not
        write to would otherwise pass init and fail the first upload."""
        key = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
        step = "PutObject"
        try:
            put = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=PROBE_BYTES, ContentType="text/plain"
            )
            step = "GetObject"
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                data = body.read()
            finally:
                body.close()
            step = "DeleteObject"
            self._remove_probe(key, put.get("VersionId"))
        except ClientError as exc:
            return (
                f"cannot use bucket {self.bucket}: {step} was refused "
                f"({_error_code(exc)} {_error_message(exc)}".rstrip()
                + "); the credentials need s3:PutObject, s3:GetObject and s3:DeleteObject on it"
            )
        except BotoCoreError as exc:
            return f"cannot use bucket {self.bucket}: {step} failed: {exc}"
        if data != PROBE_BYTES:
            return f"bucket {self.bucket} returned other bytes than were written to it"
        return None

    def _remove_probe(self, key: str, version_id: str | None) -> None:
        if version_id and version_id != "null":
            # Removing the version itself leaves no delete marker behind on a versioned bucket.
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=version_id)
                return
            except ClientError as exc:
                if _error_code(exc) not in _DENIED:
                    raise
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def _unusable(self, exc: ClientError | BotoCoreError, *, action: str) -> StorageCapabilities:
        return StorageCapabilities(
            store=self._name, usable=False, problem=self._explain(exc, action=action)
        )

    def _explain(self, exc: ClientError | BotoCoreError, *, action: str) -> str:
        endpoint = self.client.meta.endpoint_url
        if isinstance(exc, NoCredentialsError):
            return (
                f"cannot {action}: no S3 credentials found; "
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
            return f"cannot {action}: {endpoint} is not reachable; check DAM_S3_ENDPOINT_URL"
        if isinstance(exc, BotoCoreError):
            return f"cannot {action}: {exc}"
        code = _error_code(exc)
        if code in _NO_BUCKET:
            return f"bucket {self.bucket} does not exist at {endpoint}; run `dam storage init`"
        if code in _DENIED or code in _BAD_CREDENTIALS:
            return (
                f"cannot {action}: access denied ({code}); check AWS_ACCESS_KEY_ID, "
                f"AWS_SECRET_ACCESS_KEY and that the key may use bucket {self.bucket}"
            )
        if code == "BucketAlreadyExists":
            return (
                f"cannot {action}: the name belongs to another account; "
                "choose another DAM_S3_BUCKET"
            )
        if code == "InvalidBucketName":
            return f"cannot {action}: {self.bucket!r} is not a valid bucket name (DAM_S3_BUCKET)"
        return f"cannot {action}: {code} {_error_message(exc)}".rstrip()


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


def _housekeeping_rule(*, versioned: bool) -> LifecycleRuleTypeDef:
    rule: LifecycleRuleTypeDef = {
        "ID": LIFECYCLE_RULE_ID,
        "Filter": {"Prefix": ""},
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS},
    }
    # Stores without versioning (R2) may reject version actions; they have no versions to expire.
    if versioned:
        rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": NONCURRENT_EXPIRY_DAYS}
        # Once every old version has expired, the lone delete marker is useless too.
        rule["Expiration"] = {"ExpiredObjectDeleteMarker": True}
    return rule


def _housekeeping_summary(versioned: bool) -> str:
    summary = f"abort incomplete multipart uploads after {ABORT_MULTIPART_DAYS} day"
    if versioned:
        summary += f", expire noncurrent versions after {NONCURRENT_EXPIRY_DAYS} days"
    return summary


def _is_housekeeping_rule(rule: LifecycleRuleOutputTypeDef, *, versioned: bool) -> bool:
    basics = (
        rule.get("Status") == "Enabled"
        and rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation")
        == ABORT_MULTIPART_DAYS
        and rule.get("Filter", {}).get("Prefix", "") == ""
        and "Prefix" not in rule
    )
    if not versioned:
        return basics
    return (
        basics
        and rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays")
        == NONCURRENT_EXPIRY_DAYS
        and rule.get("Expiration", {}).get("ExpiredObjectDeleteMarker") is True
    )


def _lifecycle_impact(*, versioned: bool) -> str:
    impact = (
        "interrupted multipart uploads are never cleaned up and keep taking (billed) space; "
        f"add a rule aborting incomplete multipart uploads after {ABORT_MULTIPART_DAYS} day "
        "in the store's own console"
    )
    if versioned:
        impact += ", and expire noncurrent versions there, or they are kept for ever"
    return impact


def _cors_rule() -> CORSRuleTypeDef:
    return {
        "ID": CORS_RULE_ID,
        "AllowedMethods": list(CORS_METHODS),
        # A presigned link is itself the credential and no cookie rides along, so any origin
        # may read what a link it holds points to.
        "AllowedOrigins": ["*"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": list(CORS_EXPOSE_HEADERS),
        "MaxAgeSeconds": CORS_MAX_AGE_SECONDS,
    }


def _is_cors_rule(rule: CORSRuleOutputTypeDef) -> bool:
    return (
        rule.get("ID") in (CORS_RULE_ID, None)
        and sorted(rule.get("AllowedMethods", [])) == sorted(CORS_METHODS)
        and rule.get("AllowedOrigins") == ["*"]
        and sorted(rule.get("ExposeHeaders", [])) == sorted(CORS_EXPOSE_HEADERS)
    )


def _refusal(feature: Feature, exc: ClientError, operation: str, impact: str) -> FeatureReport:
    code = _error_code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    reason = f"{operation}: {code} {_error_message(exc)}".rstrip()
    if code in _UNSUPPORTED or status in (405, 501):
        return FeatureReport(
            feature, FeatureState.unsupported, f"not supported by this endpoint ({reason})", impact
        )
    return FeatureReport(
        feature, FeatureState.failed, f"refused by the endpoint ({reason})", impact
    )


def _stream(body: StreamingBody, *, limit: int | None = None) -> Iterator[bytes]:
    # `finally` also runs on GeneratorExit, so a client that disconnects mid-download releases
    # the HTTP connection back to the pool instead of leaking it.
    try:
        if limit is None:
            yield from body.iter_chunks(CHUNK_SIZE)
            return
        remaining = limit
        for chunk in body.iter_chunks(min(CHUNK_SIZE, limit)):
            if len(chunk) >= remaining:
                yield chunk[:remaining]
                return
            remaining -= len(chunk)
            yield chunk
    finally:
        body.close()


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))
