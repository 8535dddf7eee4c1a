"""The automation feed and tracked delivery links, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.context import Context
from dam.models import AssetStatus, DeliveryEvent, JobStatus, OutboxJob, Role
from dam.worker import run_pending
from tests.campaigns.support import (
    new_asset,
    new_campaign,
    new_version,
    published_asset,
    set_asset,
)
from tests.conftest import Clock, Keys, count_rows
from tests.factories import image_bytes, same_picture
from tests.workflow.support import drive_to

pytestmark = pytest.mark.usefixtures("db_backend")

FEED = "/api/v1/campaigns/FEED26/assets"
# A real Nikon JPEG tagged as an agency would (credits, licence end, GPS): see its README.
AGENCY = Path(__file__).parent.parent / "media" / "corpus" / "agency-photo.jpg"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _deliveries(ctx: Context) -> list[DeliveryEvent]:
    with Session(ctx.engine) as session:
        return list(session.exec(select(DeliveryEvent)))


def test_feed_lists_only_published_live_assets_at_their_published_version(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> None:
    new_campaign(client, marketer, "FEED26")
    live = published_asset(client, ctx, designer, seed=1, campaign_ids=["FEED26"])
    new_version(client, designer, live, seed=11)  # a newer draft must not leak
    new_asset(client, designer, seed=2, campaign_ids=["FEED26"])  # draft only
    archived = published_asset(client, ctx, designer, seed=3, campaign_ids=["FEED26"])
    set_asset(ctx, archived, status=AssetStatus.archived)
    expired_status = published_asset(client, ctx, designer, seed=4, campaign_ids=["FEED26"])
    set_asset(ctx, expired_status, status=AssetStatus.expired)
    past_rights = published_asset(client, ctx, designer, seed=5, campaign_ids=["FEED26"])
    set_asset(ctx, past_rights, rights_expire_at=clock.now - timedelta(minutes=1))
    published_asset(client, ctx, designer, seed=6, campaign_ids=[])  # other campaign

    response = client.get(FEED, headers=automation)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["id"] for item in body["items"]] == [live]
    item = body["items"][0]
    data = image_bytes(size=(1200, 800), seed=1)
    assert item["version"] == 1
    assert item["sha256"] == hashlib.sha256(data).hexdigest()
    assert (item["mime_type"], item["kind"]) == ("image/jpeg", "image")
    assert (item["width"], item["height"]) == (1200, 800)
    assert item["terms"]["asset_type"] == ["photo"]
    assert item["download_url"].startswith("http://testserver/api/v1/deliveries/")
    assert body["next_cursor"] is None


def test_feed_pages_with_cursor_and_syncs_with_updated_since(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    designer: dict[str, str],
    marketer: dict[str, str],
) -> None:
    new_campaign(client, marketer, "FEED26")
    ids = []
    for seed in range(1, 6):
        ids.append(published_asset(client, ctx, designer, seed=seed, campaign_ids=["FEED26"]))
        clock.advance(seconds=1)
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(FEED, headers=marketer, params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    since = clock.now.isoformat()
    first = ids[0]
    clock.advance(seconds=5)
    # Tagging the oldest asset with another campaign bumps it into the incremental sync.
    new_campaign(client, marketer, "OTHER")
    tagged = client.post(
        f"/api/v1/assets/{first}/campaigns", headers=marketer, json={"campaign_ids": ["OTHER"]}
    )
    assert tagged.status_code == 200
    changed = client.get(FEED, headers=marketer, params={"updated_since": since}).json()
    assert [item["id"] for item in changed["items"]] == [first]
    bad = client.get(FEED, headers=marketer, params={"cursor": "garbage!"})
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid_cursor"


def test_feed_filters_by_facet_term_and_type(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    new_campaign(client, marketer, "FEED26")
    lifestyle = published_asset(
        client, ctx, designer, seed=1, campaign_ids=["FEED26"], visual_style=["lifestyle"]
    )
    product = published_asset(
        client, ctx, designer, seed=2, campaign_ids=["FEED26"], visual_style=["product-shot"]
    )

    def ids(**params: object) -> list[str]:
        response = client.get(FEED, headers=marketer, params=params)  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids(term="visual_style:lifestyle") == [lifestyle]
    assert ids(term="Visual style:packshot") == [product]  # label and synonym
    assert sorted(ids(term=["visual_style:lifestyle", "visual_style:product-shot"])) == sorted(
        [lifestyle, product]
    )
    assert ids(term=["visual_style:lifestyle", "asset_type:logo"]) == []
    assert len(ids(type="image")) == 2
    assert ids(type="video") == []
    unknown = client.get(FEED, headers=marketer, params={"term": "mood:happy"})
    assert unknown.status_code == 422
    assert unknown.json()["error"] == "invalid_filter"


def test_scoped_automation_key_gets_404_outside_its_campaigns(
    client: TestClient, keys: Keys, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    new_campaign(client, marketer, "FEED26")
    new_campaign(client, marketer, "SECRET")
    published_asset(client, ctx, designer, seed=1, campaign_ids=["FEED26", "SECRET"])
    scoped = keys.headers(Role.automation, campaigns=["FEED26"])
    assert len(client.get(FEED, headers=scoped).json()["items"]) == 1
    outside = client.get("/api/v1/campaigns/SECRET/assets", headers=scoped)
    assert outside.status_code == 404
    assert client.get("/api/v1/campaigns/NOPE/assets", headers=scoped).status_code == 404


@pytest.mark.parametrize("storage_backend", ["fs", "s3"], indirect=True)
def test_download_url_records_delivery_and_returns_the_bytes(
    client: TestClient,
    keys: Keys,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
) -> None:
    new_campaign(client, marketer, "FEED26")
    asset_id = published_asset(client, ctx, designer, seed=1, campaign_ids=["FEED26"])
    key = keys.headers(Role.automation, campaigns=["FEED26"])
    consumer = client.get("/api/v1/me", headers=key).json()["id"]
    item = client.get(FEED, headers=key, params={"channel": "IG"}).json()["items"][0]

    # No Authorization: the signed link is the credential, as handed to an ad server.
    response = client.get(_path(item["download_url"]))
    assert response.status_code == 200, response.text
    # A delivered copy: the published file's pixels with the governed metadata written in.
    assert same_picture(response.content, image_bytes(size=(1200, 800), seed=1))
    assert response.headers["x-dam-sha256"] == hashlib.sha256(response.content).hexdigest()
    [event] = _deliveries(ctx)
    assert (str(event.asset_id), event.version, event.campaign_id) == (asset_id, 1, "FEED26")
    assert (str(event.consumer_id), event.channel) == (consumer, "instagram")
    assert event.at == ctx.now()

    resumed = client.get(_path(item["download_url"]), headers={"Range": "bytes=100-"})
    assert resumed.status_code == 206
    assert len(_deliveries(ctx)) == 1  # a resumed download is not a second delivery


def test_tampered_and_expired_links_are_refused(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> None:
    new_campaign(client, marketer, "FEED26")
    published_asset(client, ctx, designer, seed=1, campaign_ids=["FEED26"])
    other = published_asset(client, ctx, designer, seed=2, campaign_ids=["FEED26"])
    items = client.get(FEED, headers=automation).json()["items"]
    url = _path(next(i for i in items if i["id"] != other)["download_url"])
    token = url.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    other_payload = (
        _path(next(i for i in items if i["id"] == other)["download_url"])
        .rsplit("/", 1)[1]
        .split(".")[0]
    )

    for forged in (
        f"{other_payload}.{signature}",  # swapped payload, old signature
        f"{payload}.{signature[:-2]}AA",  # altered signature
        f"{payload}x.{signature}",
        "not-a-token",
    ):
        response = client.get(f"/api/v1/deliveries/{forged}")
        assert response.status_code == 403, forged
        assert response.json()["error"] == "invalid_link"

    clock.advance(seconds=ctx.settings.download_link_ttl_seconds + 1)
    expired = client.get(url)
    assert expired.status_code == 403
    assert expired.json()["error"] == "link_expired"
    assert count_rows(ctx.engine, "delivery_events") == 0


def test_link_stops_working_when_asset_leaves_campaign_or_is_archived(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    new_campaign(client, marketer, "FEED26")
    first = published_asset(client, ctx, designer, seed=1, campaign_ids=["FEED26"])
    second = published_asset(client, ctx, designer, seed=2, campaign_ids=["FEED26"])
    links = {
        i["id"]: _path(i["download_url"])
        for i in client.get(FEED, headers=marketer).json()["items"]
    }
    client.delete(f"/api/v1/assets/{first}/campaigns/FEED26", headers=marketer)
    set_asset(ctx, second, status=AssetStatus.archived)
    for asset_id in (first, second):
        response = client.get(links[asset_id])
        assert response.status_code == 404
        assert response.json()["error"] == "delivery_not_found"
    assert count_rows(ctx.engine, "delivery_events") == 0


def test_link_of_revoked_key_is_refused(
    client: TestClient,
    keys: Keys,
    ctx: Context,
    admin: dict[str, str],
    designer: dict[str, str],
    marketer: dict[str, str],
) -> None:
    new_campaign(client, marketer, "FEED26")
    published_asset(client, ctx, designer, seed=1, campaign_ids=["FEED26"])
    key = keys.headers(Role.automation)
    key_id = client.get("/api/v1/me", headers=key).json()["id"]
    url = _path(client.get(FEED, headers=key).json()["items"][0]["download_url"])
    assert client.delete(f"/api/v1/keys/{key_id}", headers=admin).status_code == 200
    response = client.get(url)
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_link"


REMOVED = "/api/v1/campaigns/FEED26/assets/removed"


def test_removed_lists_what_left_the_feed_since_a_sync(
    client: TestClient,
    keys: Keys,
    ctx: Context,
    clock: Clock,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> None:
    new_campaign(client, marketer, "FEED26")
    untagged = published_asset(client, ctx, designer, seed=1, campaign_ids=["FEED26"])
    archived = published_asset(client, ctx, designer, seed=2, campaign_ids=["FEED26"])
    lapsing = published_asset(client, ctx, designer, seed=3, campaign_ids=["FEED26"])
    stays = published_asset(client, ctx, designer, seed=4, campaign_ids=["FEED26"])
    rights_end = clock.now + timedelta(hours=1)
    set_asset(ctx, lapsing, rights_expire_at=rights_end)
    clock.advance(minutes=1)
    since = clock.now.isoformat()

    def removed(**params: object) -> dict[str, object]:
        response = client.get(REMOVED, headers=automation, params={"since": since, **params})  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    assert removed()["items"] == []  # a sync taken now has nothing to drop
    clock.advance(minutes=1)
    gone = client.delete(f"/api/v1/assets/{untagged}/campaigns/FEED26", headers=marketer)
    assert gone.status_code == 200, gone.text
    clock.advance(minutes=1)
    assert client.delete(f"/api/v1/assets/{archived}", headers=designer).status_code == 200
    clock.advance(hours=2)  # the rights of `lapsing` end; nothing writes its row

    items = removed()["items"]
    assert [(i["id"], i["reason"]) for i in items] == [
        (untagged, "untagged"),
        (archived, "archived"),
        (lapsing, "expired"),
    ]
    assert items[2]["at"].startswith(rights_end.isoformat()[:19])
    feed = client.get(FEED, headers=automation, params={"updated_since": since}).json()
    assert [i["id"] for i in feed["items"]] == []
    assert [i["id"] for i in client.get(FEED, headers=automation).json()["items"]] == [stays]

    # Pages, oldest first.
    first = removed(limit=2)
    assert [i["id"] for i in first["items"]] == [untagged, archived]
    rest = removed(limit=2, cursor=first["next_cursor"])
    assert [i["id"] for i in rest["items"]] == [lapsing]
    assert rest["next_cursor"] is None

    # Tagged again: no longer something to drop.
    back = client.post(
        f"/api/v1/assets/{untagged}/campaigns", headers=marketer, json={"campaign_ids": ["FEED26"]}
    )
    assert back.status_code == 200, back.text
    assert untagged not in [i["id"] for i in removed()["items"]]

    naive = client.get(REMOVED, headers=automation, params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    new_campaign(client, marketer, "SECRET")
    scoped = keys.headers(Role.automation, campaigns=["FEED26"])
    outside = client.get(
        "/api/v1/campaigns/SECRET/assets/removed", headers=scoped, params={"since": since}
    )
    assert outside.status_code == 404


def test_a_delivery_counts_once_per_link_and_client_within_the_window(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> None:
    """Players and download managers fetch a link as many ranged requests, re-fetch byte 0
    and retry; that is one delivery per client until DAM_DELIVERY_WINDOW_SECONDS pass."""
    new_campaign(client, marketer, "FEED26")
    published_asset(client, ctx, designer, seed=1, campaign_ids=["FEED26"])
    url = _path(client.get(FEED, headers=automation).json()["items"][0]["download_url"])
    for headers in ({}, {"Range": "bytes=0-0"}, {"Range": "bytes=0-"}, {"Range": "bytes=1-99"}):
        assert client.get(url, headers=headers).status_code in (200, 206)
    assert len(_deliveries(ctx)) == 1

    with TestClient(client.app, client=("198.51.100.20", 5000)) as elsewhere:
        assert elsewhere.get(url).status_code == 200
        assert elsewhere.get(url, headers={"Range": "bytes=0-10"}).status_code == 206
    assert len(_deliveries(ctx)) == 2

    clock.advance(seconds=ctx.settings.delivery_window_seconds + 1)
    assert client.get(url, headers={"Range": "bytes=0-"}).status_code == 206
    assert len(_deliveries(ctx)) == 3


def test_feed_states_the_digest_and_size_of_the_bytes_its_links_serve(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> None:
    """The link serves a delivered copy (governed metadata and the campaign id written in,
    GPS stripped), not the original: the feed states both, and the copy's digest only once the
    worker has made the copy that the link will serve."""
    new_campaign(client, marketer, "FEED26")
    new_campaign(client, marketer, "OTHER26")
    original = AGENCY.read_bytes()
    created = client.post(
        "/api/v1/assets",
        headers=designer,
        files={"file": ("DSC_4711.jpg", original, "image/jpeg")},
        data={
            "metadata": json.dumps(
                {
                    "terms": {
                        "asset_type": ["photo"],
                        "usage_rights": ["licensed"],
                        "brand": ["halden"],
                    },
                    "campaign_ids": ["FEED26"],
                }
            )
        },
    )
    assert created.status_code == 201, created.text
    asset_id = created.json()["id"]
    drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)

    [before] = client.get(FEED, headers=automation).json()["items"]
    assert (before["sha256"], before["size"]) == (
        hashlib.sha256(original).hexdigest(),
        len(original),
    )
    # The approval's event has not reached the worker: no copy yet, and the feed says so.
    assert (before["download_sha256"], before["download_size"]) == (None, None)

    run_pending(ctx)
    [item] = client.get(FEED, headers=automation).json()["items"]
    served = client.get(_path(item["download_url"]))
    assert served.status_code == 200, served.text
    assert item["download_sha256"] == hashlib.sha256(served.content).hexdigest()
    assert item["download_size"] == len(served.content)
    assert item["download_sha256"] != item["sha256"]  # the copy carries the governed fields
    assert b"FEED26" in served.content and b"GPSLatitude" not in served.content
    # The file's licence end (2027-06-30, stored as expiry 2027-07-01T00:00Z) leaves unchanged.
    assert b"2027-07-01" not in served.content
    assert (item["sha256"], item["size"]) == (before["sha256"], before["size"])

    # Tagged with a second campaign: that campaign's links serve a copy naming it.
    tagged = client.post(
        f"/api/v1/assets/{asset_id}/campaigns",
        headers=marketer,
        json={"campaign_ids": ["OTHER26"]},
    )
    assert tagged.status_code == 200, tagged.text
    run_pending(ctx)
    [other] = client.get("/api/v1/campaigns/OTHER26/assets", headers=automation).json()["items"]
    fetched = client.get(_path(other["download_url"])).content
    assert other["download_sha256"] == hashlib.sha256(fetched).hexdigest()
    assert other["download_size"] == len(fetched)
    assert other["download_sha256"] != item["download_sha256"]
    assert b"OTHER26" in fetched

    # An earlier rights date applies to the published view at once (it only restricts): the
    # copy that carried the old licence end is never stated again, the new one once made.
    edited = client.patch(
        f"/api/v1/assets/{asset_id}",
        headers=designer,
        json={"rights_expire_at": "2027-03-31T00:00:00Z"},
    )
    assert edited.status_code == 200, edited.text
    [stale] = client.get(FEED, headers=automation).json()["items"]
    assert (stale["download_sha256"], stale["download_size"]) == (None, None)
    run_pending(ctx)
    [fresh] = client.get(FEED, headers=automation).json()["items"]
    refetched = client.get(_path(fresh["download_url"])).content
    assert fresh["download_sha256"] == hashlib.sha256(refetched).hexdigest()
    assert fresh["download_sha256"] != item["download_sha256"]
    # plus:LicenseEndDate: the last day now covered (the rights end at midnight after it).
    assert b"2027-03-30" in refetched and b"2027-03-31" not in refetched

    # Marketers' and automation's downloads were made ahead too (the shipped pack strips
    # alike for both, so one copy), and say what they send.
    made = count_rows(ctx.engine, "delivery_copies")
    download = client.get(f"/api/v1/assets/{asset_id}/content", headers=automation)
    assert count_rows(ctx.engine, "delivery_copies") == made
    assert download.headers["x-dam-sha256"] == hashlib.sha256(download.content).hexdigest()
    assert download.headers["x-dam-original-sha256"] == item["sha256"]


def test_feed_states_no_digest_for_a_file_that_cannot_be_delivered(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> None:
    """A camera JPEG followed by a second image carrying GPS (as phones store them): the
    writer cannot remove that location, so no copy is made, the feed says null and the link
    refuses with 409 instead of leaking it."""
    new_campaign(client, marketer, "FEED26")
    corpus = AGENCY.parent
    stacked = (corpus / "r_canon.jpg").read_bytes() + AGENCY.read_bytes()
    created = client.post(
        "/api/v1/assets",
        headers=designer,
        files={"file": ("stacked.jpg", stacked, "image/jpeg")},
        data={
            "metadata": json.dumps(
                {
                    "title": "Stacked",
                    "description": "A primary image with a located second image.",
                    "terms": {
                        "asset_type": ["graphic"],
                        "usage_rights": ["owned"],
                        "brand": ["halden"],
                    },
                    "campaign_ids": ["FEED26"],
                }
            )
        },
    )
    assert created.status_code == 201, created.text
    drive_to(client, created.json()["id"], "approved", designer=designer, reviewer=brand_manager)
    run_pending(ctx)

    [item] = client.get(FEED, headers=automation).json()["items"]
    assert (item["download_sha256"], item["download_size"]) == (None, None)
    assert item["sha256"] == hashlib.sha256(stacked).hexdigest()
    refused = client.get(_path(item["download_url"]))
    assert refused.status_code == 409
    assert refused.json()["error"] == "location_not_removable"
    assert count_rows(ctx.engine, "delivery_copies") == 0
    with Session(ctx.engine) as session:
        [job] = session.exec(select(OutboxJob).where(OutboxJob.kind == "delivery.copies"))
    # Given up at once with the reason, not retried: the file will not change.
    assert (job.status, job.attempts) == (JobStatus.failed, 1)
    assert "location" in (job.last_error or "")
