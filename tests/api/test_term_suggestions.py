"""Typo-tolerant suggestions from the taxonomy's labels and synonyms for the library's search
box: a misspelt term finds the right one, with its facet and the filter that shows it."""

from __future__ import annotations

from fastapi.testclient import TestClient


def _suggest(client: TestClient, headers: dict[str, str], q: str) -> list[tuple[str, str]]:
    response = client.get("/api/v1/taxonomy/suggest", headers=headers, params={"q": q})
    assert response.status_code == 200, response.text
    return [(i["facet"], i["term"]) for i in response.json()["items"]]


def test_misspelt_terms_are_found(client: TestClient, marketer: dict[str, str]) -> None:
    assert _suggest(client, marketer, "instagarm")[0] == ("channel", "instagram")
    assert ("channel", "instagram") in _suggest(client, marketer, "hero shot for instgram")
    # A prefix, as typed so far.
    assert ("channel", "instagram") in _suggest(client, marketer, "insta")
    # A deprecated term is offered as its replacement (Twitter → X).
    assert ("channel", "x") in _suggest(client, marketer, "twiter")
    item = client.get(
        "/api/v1/taxonomy/suggest", headers=marketer, params={"q": "instagarm"}
    ).json()["items"][0]
    assert item == {
        "facet": "channel",
        "facet_label": "Channel",
        "term": "instagram",
        "label": "Instagram",
        "filter": "channel=instagram",
    }
    assert _suggest(client, marketer, "q") == []
    assert _suggest(client, marketer, "zzzzqqqxxv") == []
    assert client.get("/api/v1/taxonomy/suggest", params={"q": "insta"}).status_code == 401
