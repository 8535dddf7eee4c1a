"""GET /api/v1/search on both backends: text, synonyms, facets, visibility, bad input, sorting,
paging and the index following changes through the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dam.context import Context
from dam.models import AssetStatus, Role
from dam.worker import run_pending
from tests.conftest import Clock
from tests.search.support import add_campaign, index_now, make_asset, set_state
from tests.web.support import Users, sign_in

URL = "/api/v1/search"


@dataclass
class Library:
    runner: str  # published, emea/de, campaign SPRING26-EMAIL
    boots: str  # published, amer/us
    draft: str  # never published, emea/fr
    archived: str  # published then archived
    expired: str  # published then expired


@pytest.fixture
def library(client: TestClient, ctx: Context, clock: Clock, designer: dict[str, str]) -> Library:
    add_campaign(ctx, "SPRING26-EMAIL", "Spring 2026 newsletter")
    lib = Library(
        runner=make_asset(
            client,
            designer,
            clock,
            seed=1,
            title="Trail runner at dawn",
            description="Lifestyle photo of a trail runner on a ridge at sunrise.",
            tags=["spring", "running"],
            terms={"region": ["de"], "channel": ["instagram"]},
            campaigns=["SPRING26-EMAIL"],
            filename="ridge_sunrise.png",
            size=(80, 40),
        ),
        boots=make_asset(
            client,
            designer,
            clock,
            seed=2,
            title="Alpine boots on granite",
            description="Product shot of hiking boots; runner sole detail.",
            tags=["autumn"],
            terms={"region": ["us"], "channel": ["email"]},
            size=(40, 80),
        ),
        draft=make_asset(
            client,
            designer,
            clock,
            seed=3,
            title="Basecamp tent at night",
            description="Draft render of the new tent.",
            terms={"region": ["fr"]},
            size=(50, 50),
        ),
        archived=make_asset(
            client, designer, clock, seed=4, title="Old trail poster", terms={"region": ["de"]}
        ),
        expired=make_asset(
            client, designer, clock, seed=5, title="Expired trail banner", terms={"region": ["uk"]}
        ),
    )
    for asset_id in (lib.runner, lib.boots, lib.archived, lib.expired):
        set_state(ctx, asset_id, published=True)
    set_state(ctx, lib.archived, status=AssetStatus.archived)
    set_state(ctx, lib.expired, status=AssetStatus.expired)
    index_now(ctx)
    return lib


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def found(client: TestClient, headers: dict[str, str], **params: Any) -> set[str]:
    return set(ids(client.get(URL, headers=headers, params=params)))


def test_words_match_title_description_tags_filename_and_campaign(
    client: TestClient, admin: dict[str, str], library: Library
) -> None:
    assert found(client, admin, q="dawn") == {library.runner}
    assert found(client, admin, q="sunrise ridge") == {library.runner}  # description + filename
    assert found(client, admin, q="autumn") == {library.boots}  # tag
    assert found(client, admin, q="spring26") == {library.runner}  # campaign id
    assert found(client, admin, q="runner") == {library.runner, library.boots}
    assert found(client, admin, q="granite runner") == {library.boots}


def test_synonym_and_ancestor_labels_find_the_term(
    client: TestClient, admin: dict[str, str], library: Library
) -> None:
    assert found(client, admin, q="deutschland") == {library.runner, library.archived}
    # "europe" is a synonym of emea, the parent of de, fr and uk.
    assert found(client, admin, q="europe") == {
        library.runner,
        library.archived,
        library.draft,
        library.expired,
    }
    assert found(client, admin, q="insta") == {library.runner}


def test_parent_term_filter_matches_descendants(
    client: TestClient, admin: dict[str, str], library: Library
) -> None:
    emea = {library.runner, library.draft, library.archived, library.expired}
    assert found(client, admin, region="emea") == emea
    assert found(client, admin, region="Europe") == emea  # a synonym or label names the term
    assert found(client, admin, region="de") == {library.runner, library.archived}
    assert found(client, admin, region=["fr", "us"]) == {library.draft, library.boots}
    assert found(client, admin, channel="social") == {library.runner}
    assert found(client, admin, region="emea", channel="social") == {library.runner}


def test_facet_counts_cover_the_whole_result_set(
    client: TestClient, admin: dict[str, str], library: Library
) -> None:
    body = client.get(URL, headers=admin, params={"q": "trail", "page_size": 1}).json()
    assert body["total"] == 3
    assert len(body["items"]) == 1
    facets = body["facets"]
    region = {f["term"]: f["count"] for f in facets["region"]}
    assert region == {"global": 3, "emea": 3, "de": 2, "uk": 1}
    assert {f["term"]: f["label"] for f in facets["region"]}["de"] == "Germany"
    assert {f["term"]: f["count"] for f in facets["status"]} == {
        "active": 1,
        "archived": 1,
        "expired": 1,
    }
    assert facets["type"] == [{"term": "image", "label": "Image", "count": 3}]
    assert facets["campaign"] == [
        {"term": "SPRING26-EMAIL", "label": "Spring 2026 newsletter", "count": 1}
    ]
    assert facets["region"][0]["count"] >= facets["region"][-1]["count"]


@pytest.mark.parametrize(
    "params",
    [{"q": "trail"}, {"q": "tr"}, {"region": "emea"}, {}, {"q": "trail", "tag": "running"}],
)
def test_without_facet_counts_the_hits_and_total_are_the_same(
    client: TestClient, admin: dict[str, str], library: Library, params: dict[str, str]
) -> None:
    full = client.get(URL, headers=admin, params={**params, "page_size": 2}).json()
    bare = client.get(
        URL, headers=admin, params={**params, "page_size": 2, "facet_counts": "false"}
    ).json()
    assert bare["facets"] == {}
    assert full["facets"]["status"]  # counted when asked
    assert (bare["total"], bare["items"]) == (full["total"], full["items"])


def test_restricted_roles_only_match_published_live_assets(
    client: TestClient,
    admin: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
    library: Library,
) -> None:
    everything = {
        library.runner,
        library.boots,
        library.draft,
        library.archived,
        library.expired,
    }
    assert found(client, admin) == everything
    for headers in (marketer, automation):
        assert found(client, headers) == {library.runner, library.boots}
        assert found(client, headers, q="trail") == {library.runner}
        assert found(client, headers, status="archived") == set()
        body = client.get(URL, headers=headers, params={"q": "trail"}).json()
        assert body["total"] == 1
        assert {f["term"]: f["count"] for f in body["facets"]["status"]} == {"active": 1}
        assert {f["term"]: f["count"] for f in body["facets"]["region"]} == {
            "global": 1,
            "emea": 1,
            "de": 1,
        }


def test_other_filters(
    client: TestClient, ctx: Context, clock: Clock, admin: dict[str, str], library: Library
) -> None:
    assert found(client, admin, orientation="landscape") == {
        library.runner,
        library.archived,
        library.expired,
    }
    assert found(client, admin, orientation="portrait") == {library.boots}
    assert found(client, admin, orientation="square") == {library.draft}
    assert found(client, admin, tag="spring") == {library.runner}
    assert found(client, admin, campaign="spring26-email") == {library.runner}
    assert found(client, admin, type="video") == set()
    assert len(found(client, admin, review_state="draft")) == 5
    assert found(client, admin, status=["archived", "expired"]) == {
        library.archived,
        library.expired,
    }
    created = client.get(f"/api/v1/assets/{library.draft}", headers=admin).json()["created_at"]
    assert found(client, admin, created_after=created) == {
        library.draft,
        library.archived,
        library.expired,
    }
    assert found(client, admin, created_before=created) == {library.runner, library.boots}


def test_prefix_matches_the_last_word_from_two_characters(
    client: TestClient, admin: dict[str, str], library: Library
) -> None:
    assert found(client, admin, q="gran") == {library.boots}
    assert found(client, admin, q="alpine gr") == {library.boots}
    assert found(client, admin, q="g") == set()  # one character is a whole word, not a prefix
    assert found(client, admin, q="gran ") == set()  # a finished word is matched exactly
    body = client.get(URL, headers=admin, params={"q": "gran"}).json()
    assert body["items"][0]["highlights"]["title"] == "Alpine boots on <mark>granite</mark>"


def test_exclusion_and_phrases(client: TestClient, admin: dict[str, str], library: Library) -> None:
    assert found(client, admin, q="runner -granite") == {library.runner}
    assert found(client, admin, q='"trail runner"') == {library.runner}
    assert found(client, admin, q='"runner trail"') == set()
    assert found(client, admin, q='-"trail runner" runner') == {library.boots}
    assert found(client, admin, q="-trail", status="active") == {library.boots, library.draft}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"q": "x" * 501}, "501 characters"),
        ({"q": " ".join(f"w{i}" for i in range(33))}, "33 search terms"),
        ({"q": " ".join(f"w{i}" for i in range(10_000))[:5000]}, "characters"),
        ({"region": "atlantis"}, "region has no term 'atlantis'"),
        ({"type": "hologram"}, "type 'hologram' is not one of"),
        ({"campaign": "!"}, "campaign id"),
        ({"page": 1000, "page_size": 100}, "page * page_size"),
        (
            {"created_after": "2027-01-01T00:00:00Z", "created_before": "2026-01-01T00:00:00Z"},
            "created_after must be before",
        ),
    ],
)
def test_bad_queries_get_400_saying_what_is_wrong(
    client: TestClient, admin: dict[str, str], params: dict[str, Any], fragment: str
) -> None:
    response = client.get(URL, headers=admin, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_query"
    assert fragment in response.json()["detail"]


@pytest.mark.parametrize(
    "q",
    [
        '"trail runner',
        '"',
        "-",
        "- -- ---",
        "trail \u202e\u0000\u200b",
        "(((",
        "*:*",
        "trail & | !",
    ],
)
def test_odd_queries_are_handled_sensibly(
    client: TestClient, admin: dict[str, str], library: Library, q: str
) -> None:
    response = client.get(URL, headers=admin, params={"q": q})
    assert response.status_code == 200, response.text
    if "trail" in q:
        assert library.runner in ids(response)


def test_page_size_over_the_maximum_is_refused(client: TestClient, admin: dict[str, str]) -> None:
    assert client.get(URL, headers=admin, params={"page_size": 101}).status_code == 422


def test_sort_orders_and_paging(
    client: TestClient, admin: dict[str, str], library: Library
) -> None:
    newest = [library.expired, library.archived, library.draft, library.boots, library.runner]
    assert ids(client.get(URL, headers=admin)) == newest  # no q: newest first
    assert ids(client.get(URL, headers=admin, params={"sort": "oldest"})) == newest[::-1]
    by_title = [library.boots, library.draft, library.expired, library.archived, library.runner]
    assert ids(client.get(URL, headers=admin, params={"sort": "title"})) == by_title
    page2 = client.get(URL, headers=admin, params={"sort": "title", "page": 2, "page_size": 2})
    assert ids(page2) == by_title[2:4]
    assert page2.json()["total"] == 5
    assert ids(client.get(URL, headers=admin, params={"page": 3, "page_size": 2})) == newest[4:]
    assert ids(client.get(URL, headers=admin, params={"page": 4, "page_size": 2})) == []
    # Relevance: a title match outranks a description match.
    assert ids(client.get(URL, headers=admin, params={"q": "runner"}))[0] == library.runner
    ranked = ids(client.get(URL, headers=admin, params={"q": "boots"}))
    assert ranked == [library.boots]


def test_hits_carry_thumbnail_and_highlighted_snippets(
    client: TestClient, ctx: Context, marketer: dict[str, str], library: Library
) -> None:
    run_pending(ctx)  # the renditions: a hit names its thumbnail once there is one
    body = client.get(URL, headers=marketer, params={"q": "ridge"}).json()
    (hit,) = body["items"]
    assert hit["thumbnail_url"] == f"/api/v1/assets/{library.runner}/renditions/thumb?version=1"
    assert hit["highlights"]["description"] == (
        "Lifestyle photo of a trail runner on a <mark>ridge</mark> at sunrise."
    )
    assert hit["type"] == "image"
    assert hit["version"] == 1


def test_index_follows_an_edit_through_the_outbox(
    client: TestClient, ctx: Context, admin: dict[str, str], library: Library
) -> None:
    etag = client.get(f"/api/v1/assets/{library.boots}", headers=admin).headers["ETag"]
    response = client.patch(
        f"/api/v1/assets/{library.boots}",
        headers={**admin, "If-Match": etag},
        json={"title": "Summit boots on snow", "terms": {**_terms(client, admin, library.boots)}},
    )
    assert response.status_code == 200, response.text
    assert found(client, admin, q="granite") == {library.boots}  # the job has not run yet
    index_now(ctx)
    assert found(client, admin, q="granite") == set()
    assert found(client, admin, q="snow") == {library.boots}


def test_archiving_removes_an_asset_from_marketer_search(
    client: TestClient,
    ctx: Context,
    admin: dict[str, str],
    marketer: dict[str, str],
    library: Library,
) -> None:
    assert client.delete(f"/api/v1/assets/{library.boots}", headers=admin).status_code == 200
    # Visibility is re-checked on the rows, so even before the job runs it is gone.
    assert found(client, marketer, q="boots") == set()
    index_now(ctx)
    body = client.get(URL, headers=marketer, params={"q": "boots"}).json()
    assert body["total"] == 0


def _terms(client: TestClient, headers: dict[str, str], asset_id: str) -> dict[str, list[str]]:
    terms: dict[str, list[str]] = client.get(f"/api/v1/assets/{asset_id}", headers=headers).json()[
        "terms"
    ]
    return terms


def test_long_phrases_and_exclusion_of_a_word_in_the_body(
    client: TestClient, admin: dict[str, str], library: Library
) -> None:
    # Four words: past the n-gram fields, checked against word positions.
    assert found(client, admin, q='"trail runner on a ridge"') == {library.runner}
    assert found(client, admin, q='"trail runner on granite"') == set()
    # The excluded word is only in the description (body), not the title.
    assert found(client, admin, q="runner -sunrise") == {library.boots}
    assert found(client, admin, q="runner -sole") == {library.runner}


def test_a_capped_total_says_so_in_the_api_and_the_library(
    client: TestClient,
    ctx: Context,
    admin: dict[str, str],
    library: Library,
    search_backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Exact totals say "eq"; PostgreSQL stops counting a text match at MATCH_CAP and says
    "gte" (whoosh always counts everything), and the library page shows "N+"."""
    body = client.get(URL, headers=admin, params={"q": "trail", "sort": "newest"}).json()
    assert body["total_relation"] == "eq" and body["total"] == len(body["items"]) > 2
    if search_backend != "postgres":
        return
    from dam.search import postgres_backend

    monkeypatch.setattr(postgres_backend, "MATCH_CAP", 2)
    capped = client.get(URL, headers=admin, params={"q": "trail", "sort": "newest"}).json()
    assert (capped["total"], capped["total_relation"]) == (2, "gte")
    # A date-sorted page is still exact; the counts cover the two matches read.
    assert capped["items"] == body["items"]
    assert sum(c["count"] for c in capped["facets"]["type"]) == 2
    users = Users(ctx)
    sign_in(client, users.create(Role.admin, email="cap@example.com"))
    page = client.get("/library", params={"q": "trail"}).text
    assert "2+ assets" in page
    assert '<span class="count">2+</span>' in page
