"""What every request gets from the middleware: authentication before a body is read, bodies
capped while they stream, JSON depth bounded before parsing, request ids on every response,
error body and log line, 500s that keep the connection, and the security headers of pages.
Connection handling is checked on a real uvicorn, with raw sockets where bytes matter."""

from __future__ import annotations

import http.client
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from dam.app import create_app
from dam.config import Settings
from dam.context import Context
from dam.models import Role
from tests.conftest import Keys
from tests.factories import image_bytes, upload
from tests.support.live import closed_by_server, read_response_head, serve
from tests.web.support import GRAPHIC, Users, csrf_of, sign_in

MIB = 1024 * 1024
DEEP = "[" * 1000 + "]" * 1000


def _boom_app(ctx: Context) -> TestClient:
    app = create_app(ctx=ctx, run_worker=False)

    @app.post("/api/v1/test-boom")
    async def boom(request: Request) -> None:
        await request.body()
        raise RuntimeError("a bug")

    return TestClient(app, raise_server_exceptions=False)


# --- request ids (item 10) -----------------------------------------------------------------


def test_every_response_carries_the_clients_request_id_or_a_new_one(
    client: TestClient, designer: dict[str, str]
) -> None:
    mine = client.get("/api/v1/me", headers={**designer, "X-Request-ID": "trace-42.a:b"})
    assert mine.headers["x-request-id"] == "trace-42.a:b"
    for insane in ("has spaces", "x" * 200, "<script>", "-leading-dash"):
        given = client.get("/api/v1/me", headers={**designer, "X-Request-ID": insane})
        assert given.headers["x-request-id"] != insane
        assert len(given.headers["x-request-id"]) == 32
    errors = [
        client.get("/api/v1/me"),  # 401
        client.get("/api/v1/nowhere", headers=designer),  # 404
        client.get("/api/v1/assets?page=0", headers=designer),  # 422
        client.get("/static/app.css"),
        client.get("/sign-in"),
    ]
    for response in errors:
        assert len(response.headers["x-request-id"]) == 32, response.url
    body = client.get("/api/v1/me", headers={"X-Request-ID": "abc-1"}).json()
    assert body["request_id"] == "abc-1"


def test_an_unexpected_error_is_a_json_500_with_the_request_id_in_body_and_log(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    with _boom_app(ctx) as client, caplog.at_level(logging.ERROR, logger="dam"):
        response = client.post("/api/v1/test-boom", content=b"{}", headers=_admin(ctx))
    assert response.status_code == 500
    rid = response.headers["x-request-id"]
    assert response.json() == {
        "error": "internal_error",
        "detail": "an unexpected error occurred; it was logged with the request id",
        "request_id": rid,
    }
    (record,) = [r for r in caplog.records if r.name == "dam.http"]
    assert rid in record.getMessage()
    assert record.request_id == rid  # type: ignore[attr-defined]
    assert record.exc_info is not None


def _admin(ctx: Context) -> dict[str, str]:
    return Keys(ctx).headers(Role.admin)


def test_keep_alive_survives_error_responses_whose_body_was_read(ctx: Context) -> None:
    app = _boom_app(ctx).app
    headers = {**_admin(ctx), "Content-Type": "application/json"}
    with serve(app) as (host, port):  # type: ignore[arg-type]
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("POST", "/api/v1/test-boom", body=b"{}", headers=headers)
        first = conn.getresponse()
        assert first.status == 500
        first.read()
        assert first.getheader("connection") is None
        sock = conn.sock
        conn.request("PATCH", "/api/v1/assets/not-a-uuid", body=b"{}", headers=headers)
        second = conn.getresponse()
        assert second.status == 422
        second.read()
        conn.request("GET", "/healthz")
        third = conn.getresponse()
        assert third.status == 200
        third.read()
        assert conn.sock is sock, "the server closed the connection after an error"
        conn.close()


# --- bodies: authentication first, caps while streaming (item 5) ------------------------


def _raw_request(host: str, port: int, head: str, first_bytes: bytes = b"") -> socket.socket:
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(head.encode("latin-1") + b"\r\n" + first_bytes)
    return sock


def test_unauthenticated_body_is_refused_before_it_is_read_and_the_connection_closes(
    ctx: Context, client: TestClient, designer: dict[str, str]
) -> None:
    asset_id = upload(client, designer, image_bytes()).json()["id"]
    app = client.app
    with serve(app) as (host, port):  # type: ignore[arg-type]
        # 200 MB announced, a few bytes sent: the answer comes without the rest.
        sock = _raw_request(
            host,
            port,
            f"PATCH /api/v1/assets/{asset_id} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {200 * MIB}\r\n",
            b'{"title": "',
        )
        status, headers = read_response_head(sock)
        assert status == 401
        assert headers["connection"] == "close"
        assert closed_by_server(sock)
        sock.close()

        # A page form: 400 MB of multipart to /sign-out without a session.
        sock = _raw_request(
            host,
            port,
            "POST /sign-out HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {400 * MIB}\r\n",
            b"--b\r\n",
        )
        status, headers = read_response_head(sock)
        assert status == 303
        assert headers["location"].startswith("/sign-in")
        assert headers["connection"] == "close"
        assert closed_by_server(sock)
        sock.close()
    tmp = ctx.settings.data_dir / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []


def test_a_key_that_does_not_authenticate_is_refused_before_the_upload_is_read(
    ctx: Context, client: TestClient
) -> None:
    with serve(client.app) as (host, port):  # type: ignore[arg-type]
        sock = _raw_request(
            host,
            port,
            "POST /api/v1/assets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer dam_wrong\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {500 * MIB}\r\n",
            b"--b\r\n",
        )
        status, headers = read_response_head(sock)
        assert status == 401
        assert headers["connection"] == "close"
        sock.close()


def test_json_and_form_bodies_are_capped_while_they_stream(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    asset_id = upload(client, designer, image_bytes()).json()["id"]
    limit = ctx.settings.max_body_bytes
    oversize = json.dumps({"description": "x" * limit}).encode()

    announced = client.patch(
        f"/api/v1/assets/{asset_id}",
        content=oversize,
        headers={**designer, "Content-Type": "application/json"},
    )
    assert announced.status_code == 413
    assert announced.json()["error"] == "body_too_large"
    assert announced.json()["limit_bytes"] == limit
    assert announced.headers["connection"] == "close"

    def chunks() -> Iterator[bytes]:  # no Content-Length: only counting can stop it
        for i in range(0, len(oversize), 64 * 1024):
            yield oversize[i : i + 64 * 1024]

    streamed = client.patch(
        f"/api/v1/assets/{asset_id}",
        content=chunks(),
        headers={**designer, "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    assert streamed.json()["error"] == "body_too_large"

    # A form (the sign-in form: nobody is signed in yet, so only the cap protects it).
    page = client.get("/sign-in")
    fields = {f"f{i}": "y" * 64 * 1024 for i in range(24)}
    form = client.post(
        "/sign-in", data={"csrf_token": csrf_of(page.text), "email": "a@b.c", **fields}
    )
    assert form.status_code == 413


def test_metric_reports_have_their_own_larger_cap(
    client: TestClient, ctx: Context, automation: dict[str, str], admin: dict[str, str]
) -> None:
    assert ctx.settings.max_metrics_body_bytes >= 64 * MIB
    assert Settings(max_metrics_mib=64).max_metrics_body_bytes == 64 * MIB
    client.post("/api/v1/campaigns", json={"id": "BIG-1", "name": "Big"}, headers=admin)
    # Over the general cap, well under the metrics cap: read and judged (the row is bad).
    padding = "x" * (ctx.settings.max_body_bytes + 10)
    csv = f"asset_id,date,channel,impressions\n{padding},2026-01-01,email,1\n"
    response = client.post(
        "/api/v1/campaigns/BIG-1/metrics",
        content=csv.encode(),
        headers={**automation, "Content-Type": "text/csv"},
    )
    assert response.status_code == 422, response.text
    too_big = client.post(
        "/api/v1/campaigns/BIG-1/metrics",
        content=b"x" * 16,
        headers={
            **automation,
            "Content-Type": "text/csv",
            "Content-Length": str(ctx.settings.max_metrics_body_bytes + 1),
        },
    )
    assert too_big.status_code == 413


def test_deeply_nested_json_is_refused_before_parsing_everywhere(
    client: TestClient, designer: dict[str, str], automation: dict[str, str], admin: dict[str, str]
) -> None:
    asset_id = upload(client, designer, image_bytes()).json()["id"]
    patch = client.patch(
        f"/api/v1/assets/{asset_id}",
        content=json.dumps({"tags": "x"})[:-1] + ', "terms": ' + DEEP + "}",
        headers={**designer, "Content-Type": "application/json"},
    )
    assert patch.status_code == 422
    assert patch.json()["error"] == "json_too_deep"

    metadata = '{"tags": ' + DEEP + "}"
    for path in ("/api/v1/assets", "/api/v1/governance/validate"):
        response = upload(client, designer, image_bytes(seed=7), metadata=metadata, path=path)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"] == "invalid_metadata"
        assert "deeper than" in response.json()["detail"]

    client.post("/api/v1/campaigns", json={"id": "DEEP-1", "name": "Deep"}, headers=admin)
    metrics = client.post(
        "/api/v1/campaigns/DEEP-1/metrics",
        content=DEEP,
        headers={**automation, "Content-Type": "application/json"},
    )
    assert metrics.status_code == 422
    assert metrics.json()["error"] == "json_too_deep"


# --- security headers of pages (item 9) -------------------------------------------------


def test_pages_carry_csp_framing_and_referrer_headers(client: TestClient, ctx: Context) -> None:
    Users(ctx).create(Role.designer)
    sign_in(client, "designer@example.com")
    for path in ("/sign-in", "/library", "/upload", "/governance"):
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in response.headers


def test_production_adds_hsts(ctx: Context, tmp_path: Path) -> None:
    settings = ctx.settings.model_copy(update={"env": "production", "secret_key": "s" * 40})
    app = create_app(settings, ctx=ctx, run_worker=False)
    with TestClient(app) as client:
        response = client.get("/sign-in")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_downloads_keep_their_own_sandboxing_csp(
    client: TestClient, designer: dict[str, str]
) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect/></svg>'
    created = upload(
        client, designer, svg, filename="a.svg", content_type="image/svg+xml", metadata=GRAPHIC
    )
    assert created.status_code == 201, created.text
    content = client.get(f"/api/v1/assets/{created.json()['id']}/content", headers=designer)
    assert content.headers["content-security-policy"] == "default-src 'none'; sandbox"


def test_templates_have_no_inline_script_style_or_handlers() -> None:
    """The CSP allows scripts and styles from /static only; this keeps the pages within it."""
    import re

    from dam.web.pages import HERE

    offenders = []
    for template in sorted((HERE / "templates").rglob("*.html")):
        text = template.read_text()
        for pattern in (r"<script(?![^>]*\bsrc=)", r"\sstyle=", r"\son[a-z]+=", r"<style"):
            offenders += [f"{template.name}: {m.group(0)!r}" for m in re.finditer(pattern, text)]
    assert offenders == []


def test_405_names_every_method_the_path_takes(
    client: TestClient, designer: dict[str, str]
) -> None:
    asset_id = upload(client, designer, image_bytes()).json()["id"]
    response = client.put(f"/api/v1/assets/{asset_id}", headers=designer)
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH"
    assert response.json()["error"] == "method_not_allowed"
    assert "use DELETE, GET, PATCH" in response.json()["detail"]
