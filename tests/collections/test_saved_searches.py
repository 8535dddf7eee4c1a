"""Saved searches: save a query with its filters, list and run them, and (with `notify`) the
worker's periodic check announcing each new match once as a `saved_search.matched` webhook."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dam.collections.saved import check_saved_searches
from dam.config import Settings
from dam.context import Context
from dam.worker import PERIODIC, run_pending
from tests.collections.support import draft, published
from tests.conftest import Clock
from tests.webhooks.receiver import Receiver, receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_allow_private_networks": True})


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


def test_save_list_run_and_refuse_bad_queries(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
) -> None:
    live = published(client, designer, brand_manager, seed=1, title="Sunset over the fjord")
    hidden = draft(client, designer, seed=2, title="Sunset draft")
    run_pending(ctx)
    created = client.post(
        "/api/v1/saved-searches",
        headers=marketer,
        json={"name": "Sunsets", "query": {"q": "sunset", "brand": "halden", "sort": "newest"}},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["query"] == {"q": "sunset", "brand": ["halden"], "sort": "newest"}
    assert body["library_url"] == "/library?q=sunset&brand=halden&sort=newest"
    listed = client.get("/api/v1/saved-searches", headers=marketer).json()
    assert [s["name"] for s in listed["items"]] == ["Sunsets"]
    results = client.get(f"/api/v1/saved-searches/{body['id']}/results", headers=marketer)
    assert results.status_code == 200, results.text
    assert [h["id"] for h in results.json()["items"]] == [live]  # marketers: published only
    # The designer's own search over the same words sees the draft too.
    mine = client.post(
        "/api/v1/saved-searches", headers=designer, json={"name": "All", "query": {"q": "sunset"}}
    ).json()
    ids = {
        h["id"]
        for h in client.get(
            f"/api/v1/saved-searches/{mine['id']}/results", headers=designer
        ).json()["items"]
    }
    assert ids == {live, hidden}
    # Saved searches are personal.
    assert client.get(f"/api/v1/saved-searches/{body['id']}", headers=designer).status_code == 404

    for query, fragment in (
        ({"colour": ["red"]}, "query.colour is not a search parameter"),
        ({"brand": ["no-such-brand"]}, "this search cannot run"),
        ({"sort": "random"}, "query.sort must be one of"),
        ({"type": [1]}, "query.type must be a string or a list of strings"),
    ):
        refused = client.post(
            "/api/v1/saved-searches", headers=marketer, json={"name": "x", "query": query}
        )
        assert refused.status_code == 422, (query, refused.text)
        assert refused.json()["error"] == "invalid_query"
        assert fragment in refused.json()["detail"]

    renamed = client.patch(
        f"/api/v1/saved-searches/{body['id']}", headers=marketer, json={"name": "Dusk"}
    )
    assert renamed.json()["name"] == "Dusk"
    gone = client.delete(f"/api/v1/saved-searches/{body['id']}", headers=marketer)
    assert gone.status_code == 204
    assert client.get("/api/v1/saved-searches", headers=marketer).json()["total"] == 0


def test_new_matches_are_announced_once_by_webhook(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    admin: dict[str, str],
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    hooks: Receiver,
) -> None:
    assert check_saved_searches in PERIODIC
    subscribed = client.post(
        "/api/v1/webhooks",
        headers=admin,
        json={
            "url": hooks.url,
            "events": ["saved_search.matched"],
            "secret": "whsec-0123456789abcdef",
        },
    )
    assert subscribed.status_code == 201, subscribed.text
    old = published(client, designer, brand_manager, seed=1, title="Sunset over the fjord")
    run_pending(ctx)
    search = client.post(
        "/api/v1/saved-searches",
        headers=marketer,
        json={"name": "Sunsets", "query": {"q": "sunset"}, "notify": True},
    ).json()
    new = published(client, designer, brand_manager, seed=2, title="Sunset ridge")
    draft(client, designer, seed=3, title="Sunset draft")  # not the marketer's to see
    run_pending(ctx)
    hooks.received.clear()

    check_saved_searches(ctx)  # checked when it was saved: not due yet
    assert run_pending(ctx) == 0
    clock.advance(minutes=5)
    check_saved_searches(ctx)
    run_pending(ctx)
    assert len(hooks.received) == 1
    body = json.loads(hooks.received[0].body)
    assert body["type"] == "saved_search.matched"
    assert body["asset"]["id"] == new
    assert body["asset"]["title"] == "Sunset ridge"
    assert body["data"]["saved_search_id"] == search["id"]
    assert body["data"]["saved_search"] == "Sunsets"
    assert old != new
    # ... and a line in the owner's inbox (and nobody else's).
    lines = client.get("/api/v1/inbox", headers=marketer).json()["notifications"]["items"]
    assert [(n["kind"], n["title"]) for n in lines] == [
        ("saved_search", "“Sunset ridge” matches your saved search “Sunsets”")
    ]
    others = client.get("/api/v1/inbox", headers=designer).json()["notifications"]["items"]
    assert [n for n in others if n["kind"] == "saved_search"] == []

    clock.advance(minutes=5)
    check_saved_searches(ctx)
    run_pending(ctx)
    assert len(hooks.received) == 1  # announced once
    lines = client.get("/api/v1/inbox", headers=marketer).json()["notifications"]["items"]
    assert len(lines) == 1
