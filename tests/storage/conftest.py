"""Storage fixtures: every contract test runs on the filesystem store and on each S3 server.

The S3 servers are moto's threaded server and s3rver (two independent implementations), plus
the server at DAM_TEST_S3_ENDPOINT_URL (MinIO) when it is set. Each starts on first use and
stops at the end of the session; s3rver's tests skip with the reason when Node.js or the npm
package is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

import pytest

from dam.storage.base import BlobStore
from dam.storage.fs import FsBlobStore
from dam.storage.s3 import S3BlobStore
from tests.support.s3 import (
    ENDPOINT_ENV,
    S3Endpoint,
    delete_bucket,
    external_endpoint,
    fresh_bucket_name,
    moto_endpoint,
    s3rver_endpoint,
    s3rver_missing,
)

# The smallest part size S3 accepts keeps the multipart test quick while still using parts.
TEST_CHUNK_SIZE = 5 * 1024 * 1024
S3_SERVERS = ["moto", "s3rver", *(["external"] if os.environ.get(ENDPOINT_ENV) else [])]


class S3Servers:
    """Starts each server the first time a test asks for it."""

    def __init__(self, stack: ExitStack, scratch: Path) -> None:
        self._stack = stack
        self._scratch = scratch
        self._started: dict[str, S3Endpoint] = {}

    def get(self, name: str) -> S3Endpoint:
        if name not in self._started:
            self._started[name] = self._stack.enter_context(self._start(name))
        return self._started[name]

    def _start(self, name: str) -> AbstractContextManager[S3Endpoint]:
        if name == "moto":
            return moto_endpoint()
        if name == "s3rver":
            reason = s3rver_missing()
            if reason:
                pytest.skip(reason)
            directory = self._scratch / "s3rver"
            directory.mkdir(exist_ok=True)
            return s3rver_endpoint(directory)
        return _already_running(external_endpoint())


class _already_running(AbstractContextManager[S3Endpoint]):
    def __init__(self, endpoint: S3Endpoint) -> None:
        self.endpoint = endpoint

    def __enter__(self) -> S3Endpoint:
        return self.endpoint

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.fixture(scope="session")
def s3_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Servers]:
    with ExitStack() as stack:
        yield S3Servers(stack, tmp_path_factory.mktemp("s3-servers"))


@pytest.fixture(params=S3_SERVERS)
def s3(request: pytest.FixtureRequest, s3_servers: S3Servers) -> S3Endpoint:
    """Each S3 server in turn (overrides the single endpoint of the API tests)."""
    return s3_servers.get(str(request.param))


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
def new_s3_store(s3: S3Endpoint) -> Iterator[Callable[..., S3BlobStore]]:
    """A factory of stores on fresh buckets, each removed after the test."""
    made: list[S3BlobStore] = []

    def make(**kw: str) -> S3BlobStore:
        store = make_s3_store(s3, **kw)
        made.append(store)
        return store

    yield make
    for store in made:
        delete_bucket(store.client, store.bucket)


@pytest.fixture
def s3_store(new_s3_store: Callable[..., S3BlobStore]) -> S3BlobStore:
    store = new_s3_store()
    assert store.init().usable
    return store


@pytest.fixture
def fs_store(tmp_path: Path) -> FsBlobStore:
    store = FsBlobStore(tmp_path / "data")
    store.init()
    return store


@pytest.fixture(params=["fs", *S3_SERVERS])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    """An initialised store of each backend."""
    if request.param == "fs":
        fs = FsBlobStore(tmp_path / "data")
        assert fs.init().usable
        yield fs
        return
    servers: S3Servers = request.getfixturevalue("s3_servers")
    s3_store = make_s3_store(servers.get(str(request.param)))
    try:
        assert s3_store.init().usable
        yield s3_store
    finally:
        delete_bucket(s3_store.client, s3_store.bucket)
