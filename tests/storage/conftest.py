from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dam.storage.base import BlobStore
from dam.storage.fs import FsBlobStore
from dam.storage.s3 import S3BlobStore
from tests.support.s3 import S3Endpoint, delete_bucket, fresh_bucket_name, s3_endpoint

# The smallest part size S3 accepts keeps the multipart test quick while still using parts.
TEST_CHUNK_SIZE = 5 * 1024 * 1024


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    with s3_endpoint() as endpoint:
        yield endpoint


def make_s3_store(
    endpoint: S3Endpoint, *, region: str | None = None, public_endpoint_url: str | None = None
) -> S3BlobStore:
    return S3BlobStore(
        fresh_bucket_name(endpoint.bucket_prefix),
        endpoint_url=endpoint.url,
        region=region or endpoint.region,
        public_endpoint_url=public_endpoint_url,
        chunk_size=TEST_CHUNK_SIZE,
    )


@pytest.fixture
def s3_store(s3: S3Endpoint) -> Iterator[S3BlobStore]:
    store = make_s3_store(s3)
    store.init()
    yield store
    delete_bucket(store.client, store.bucket)


@pytest.fixture
def fs_store(tmp_path: Path) -> FsBlobStore:
    store = FsBlobStore(tmp_path / "data")
    store.init()
    return store


@pytest.fixture(params=["fs", "s3"])
def store(request: pytest.FixtureRequest) -> BlobStore:
    # Resolved lazily so an fs-only selection never starts the S3 server.
    fixture = "fs_store" if request.param == "fs" else "s3_store"
    result: BlobStore = request.getfixturevalue(fixture)
    return result
