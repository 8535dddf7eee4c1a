"""The index: fed by the outbox, checked against the database, rebuilt online."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from dam.context import Context
from dam.db import session_scope
from dam.search.document import SearchDocument
from dam.search.service import check_index, get_search, index_assets, reindex
from tests.conftest import Clock
from tests.search.support import index_now, make_asset, set_state


def _check(ctx: Context) -> tuple[list[uuid.UUID], list[uuid.UUID], list[uuid.UUID]]:
    with session_scope(ctx.engine) as session:
        report = check_index(session, ctx=ctx)
    return report.missing, report.stale, report.extra


def _search_ids(client: TestClient, headers: dict[str, str], q: str) -> list[str]:
    response = client.get("/api/v1/search", headers=headers, params={"q": q})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_check_reports_missing_stale_and_extra_and_reindex_repairs(
    client: TestClient, ctx: Context, clock: Clock, designer: dict[str, str]
) -> None:
    first = make_asset(client, designer, clock, seed=1, title="Glacier crossing")
    second = make_asset(client, designer, clock, seed=2, title="Fjord kayak")
    missing, stale, extra = _check(ctx)  # the index jobs have not run yet
    assert (sorted(missing), stale, extra) == (
        sorted([uuid.UUID(first), uuid.UUID(second)]),
        [],
        [],
    )
    index_now(ctx)
    assert _check(ctx) == ([], [], [])

    set_state(ctx, second, title="Fjord canoe", emit=False)  # a change without its index job
    ghost = uuid.uuid4()
    with session_scope(ctx.engine) as session:
        get_search(ctx).upsert(
            session,
            [
                SearchDocument(
                    doc_id=ghost,
                    asset_id=ghost,
                    title="ghost",
                    body="",
                    keys=("status:active",),
                    created_at=datetime(2026, 1, 1, tzinfo=UTC),
                    title_sort="ghost",
                    revision=1,
                )
            ],
        )
        get_search(ctx).delete(session, [uuid.UUID(first)])
    assert _check(ctx) == ([uuid.UUID(first)], [uuid.UUID(second)], [ghost])

    with session_scope(ctx.engine) as session:
        assert reindex(session, ctx=ctx) == 2
    assert _check(ctx) == ([], [], [])
    assert _search_ids(client, designer, "canoe") == [second]
    assert _search_ids(client, designer, "ghost") == []


def test_searches_keep_working_while_reindexing(
    client: TestClient, ctx: Context, clock: Clock, designer: dict[str, str]
) -> None:
    asset = make_asset(client, designer, clock, seed=1, title="Glacier crossing")
    index_now(ctx)
    backend = get_search(ctx)
    seen_during: list[list[str]] = []
    original = backend.rebuild

    def rebuild_and_search(session, docs):  # type: ignore[no-untyped-def]
        def observed():  # type: ignore[no-untyped-def]
            for doc in docs:
                seen_during.append(_search_ids(client, designer, "glacier"))
                yield doc

        return original(session, observed())

    backend.rebuild = rebuild_and_search  # type: ignore[method-assign]
    with session_scope(ctx.engine) as session:
        reindex(session, ctx=ctx)
    assert seen_during == [[asset]]
    assert _search_ids(client, designer, "glacier") == [asset]


def test_deleted_asset_document_is_removed_by_the_job(
    client: TestClient, ctx: Context, clock: Clock, designer: dict[str, str]
) -> None:
    asset = make_asset(client, designer, clock, seed=1, title="Glacier crossing")
    index_now(ctx)
    missing = uuid.uuid4()
    with session_scope(ctx.engine) as session:
        assert index_assets(session, ctx=ctx, asset_ids=[uuid.UUID(asset), missing]) == 1
    assert _check(ctx) == ([], [], [])


def test_concurrent_index_jobs_never_fail(
    client: TestClient, ctx: Context, clock: Clock, designer: dict[str, str]
) -> None:
    assets = [
        make_asset(client, designer, clock, seed=n, title=f"Glacier {n}") for n in range(1, 7)
    ]
    errors: list[BaseException] = []

    def work(asset_id: str) -> None:
        try:
            for _ in range(3):
                with session_scope(ctx.engine) as session:
                    index_assets(session, ctx=ctx, asset_ids=[uuid.UUID(asset_id)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in assets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(_search_ids(client, designer, "glacier")) == sorted(assets)
    assert _check(ctx) == ([], [], [])
