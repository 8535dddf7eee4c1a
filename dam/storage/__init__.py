"""Blob storage: one interface, a filesystem backend (embedded default) and an S3 backend."""

from __future__ import annotations

from dam.config import Settings, StorageKind
from dam.storage.base import (
    BLOB_PREFIX,
    RENDITION_PREFIX,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    StorageUnavailable,
    blob_key,
    read_to_file,
    rendition_key,
    sha256_from_blob_key,
)

__all__ = [
    "BLOB_PREFIX",
    "RENDITION_PREFIX",
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "StorageUnavailable",
    "blob_key",
    "get_blob_store",
    "read_to_file",
    "rendition_key",
    "sha256_from_blob_key",
]

MIB = 1024 * 1024


def get_blob_store(settings: Settings) -> BlobStore:
    # Imported here so the embedded default never pays for importing boto3.
    if settings.storage == StorageKind.s3:
        from dam.storage.s3 import S3BlobStore

        return S3BlobStore(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            public_endpoint_url=settings.s3_public_endpoint_url,
            chunk_size=settings.s3_multipart_chunk_mib * MIB,
        )
    from dam.storage.fs import FsBlobStore

    return FsBlobStore(settings.data_dir)
