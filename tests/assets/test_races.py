"""Simultaneous requests over real HTTP connections, on SQLite and PostgreSQL: retries with one
Idempotency-Key act once, identical bytes make one asset, one campaign id or email one row."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn

from dam.app import create_app
from dam.context import Context
from tests.conftest import count_rows
from tests.factories import GOOD_METADATA, image_bytes

pytestmark = pytest.mark.usefixtures("db_backend")
CLIENTS = 6


@pytest.fixture
def server(ctx: Context) -> Iterator[str]:
    app = create_app(ctx=ctx, run_worker=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    instance = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(timeout=10)


def _at_once(send: Callable[[httpx.Client], httpx.Response], url: str) -> list[httpx.Response]:
    """Each request on its own connection, released together."""
    barrier = threading.Barrier(CLIENTS)

    def one(_: int) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=60) as client:
            barrier.wait()
            return send(client)

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(CLIENTS)))


def _upload(headers: dict[str, str], data: bytes) -> Callable[[httpx.Client], httpx.Response]:
    def send(client: httpx.Client) -> httpx.Response:
        return client.post(
            "/api/v1/assets",
            headers=headers,
            files={"file": ("hero.jpg", data, "image/jpeg")},
            data={"metadata": json.dumps(GOOD_METADATA)},
        )

    return send


def test_simultaneous_retries_with_one_idempotency_key_act_once(
    server: str, designer: dict[str, str], ctx: Context
) -> None:
    headers = {**designer, "Idempotency-Key": "upload-7f3a"}
    responses = _at_once(_upload(headers, image_bytes(seed=11)), server)
    assert sorted(r.status_code for r in responses) == [201] * CLIENTS, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == CLIENTS - 1
    assert count_rows(ctx.engine, "assets") == 1
    assert count_rows(ctx.engine, "idempotency_records") == 1


def test_simultaneous_uploads_of_the_same_bytes_make_one_asset(
    server: str, designer: dict[str, str], ctx: Context
) -> None:
    responses = _at_once(_upload(designer, image_bytes(seed=12)), server)
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * (CLIENTS - 1), [r.text for r in responses]
    (created,) = [r.json() for r in responses if r.status_code == 201]
    for refused in (r.json() for r in responses if r.status_code == 409):
        assert refused["error"] == "duplicate"
        assert refused["existing_asset_id"] == created["id"]
    assert count_rows(ctx.engine, "assets") == 1


def test_simultaneous_creation_of_one_campaign_gives_one_201(
    server: str, marketer: dict[str, str], ctx: Context
) -> None:
    def send(client: httpx.Client) -> httpx.Response:
        return client.post(
            "/api/v1/campaigns", headers=marketer, json={"id": "RACE26", "name": "Race"}
        )

    responses = _at_once(send, server)
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * (CLIENTS - 1), [r.text for r in responses]
    assert {r.json()["error"] for r in responses if r.status_code == 409} == {"campaign_exists"}
    assert count_rows(ctx.engine, "campaigns") == 1
