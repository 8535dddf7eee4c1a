"""The web UI in real headless Chromium (Debian's package), driven by Playwright.

One story across the roles: a designer uploads through the page (one compliant file, one the
brand rules block) and submits; a brand manager approves from the review queue; a marketer finds
the asset by a synonym and a facet, opens it, downloads it and tags it with a campaign. Screens
of the main pages go to test-artifacts/screenshots/ for a human to look at.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dam.app import create_app
from dam.config import Settings
from dam.context import Context, build_context
from dam.db import create_db_engine, session_scope
from dam.models import Role
from dam.search import service as search_service
from dam.worker import run_pending
from tests.conftest import ROOT, Keys
from tests.factories import image_bytes, same_picture
from tests.support.live import serve
from tests.web.support import GRAPHIC, PASSWORD, Users

CHROMIUM = Path("/usr/bin/chromium")
CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", (e) =>
  console.error("CSP violation: " + e.violatedDirective + " blocked " + e.blockedURI));
"""
SHOTS = ROOT / "test-artifacts" / "screenshots"
LONG_TITLE = (
    "Halden Summit Pro insulated expedition parka — winter 2026 hero campaign master "
    "artwork with extended bleed for large format print and out-of-home placements"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not at /usr/bin/chromium"),
]


@dataclass
class Live:
    url: str
    ctx: Context
    admin_key: str

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.admin_key}"}, timeout=30
        )


@pytest.fixture
def live(tmp_path: Path, sqlite_template: Path) -> Iterator[Live]:
    """The real app under uvicorn on 127.0.0.1; jobs run when the test calls `run_pending`."""
    settings = Settings(
        data_dir=tmp_path / "data",
        taxonomy_dir=ROOT / "taxonomy",
        run_worker=False,
        max_upload_mib=16,
    )
    settings.data_dir.mkdir(parents=True)
    db = settings.data_dir / "dam.sqlite3"
    shutil.copy(sqlite_template, db)
    ctx = build_context(settings, engine=create_db_engine(f"sqlite:///{db}"))
    ctx.store.init()
    app = create_app(ctx=ctx, run_worker=False)
    try:
        with serve(app) as (host, port):
            yield Live(url=f"http://{host}:{port}", ctx=ctx, admin_key=Keys(ctx).create(Role.admin))
    finally:
        ctx.engine.dispose()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        violations: list[str] = []
        new_context = instance.new_context

        def watched_context(*args: Any, **kwargs: Any) -> Any:
            # Every page reports what the Content-Security-Policy blocked, as Chromium does
            # in the console and as the page's own securitypolicyviolation events.
            context = new_context(*args, **kwargs)
            context.add_init_script(CSP_REPORTER)
            context.on(
                "console",
                lambda msg: (
                    violations.append(msg.text)
                    if "Content Security Policy" in msg.text or msg.text.startswith("CSP violation")
                    else None
                ),
            )
            return context

        instance.new_context = watched_context
        try:
            yield instance
        finally:
            instance.close()
        assert violations == [], "the pages broke their Content-Security-Policy"


def _settle(live: Live) -> None:
    """Run the background jobs (renditions, search index), then rebuild the search index.

    The rebuild works around three whoosh-backend bugs (reported to the search owner): the
    first write to a fresh index deadlocks on its own writer lock; refreshing a searcher opened
    on an empty index raises TypeError; and the refresh closes readers the new searcher still
    shares, so the next text query raises ReaderClosed. A rebuilt generation is opened fresh.
    """
    with session_scope(live.ctx.engine) as session:
        search_service.reindex(session, ctx=live.ctx)
    run_pending(live.ctx)
    with session_scope(live.ctx.engine) as session:
        search_service.reindex(session, ctx=live.ctx)


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _sign_in(browser: Any, live: Live, email: str) -> Any:
    context = browser.new_context(base_url=live.url, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto("/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/library")
    return page


def _sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in")
    page.context.close()


def test_designer_reviewer_marketer_story(browser: Any, live: Live, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    users = Users(live.ctx)
    designer = users.create(Role.designer, name="Dana Designer")
    manager = users.create(Role.brand_manager, name="Bo Brand")
    marketer = users.create(Role.marketer, name="Mia Marketing")
    admin = users.create(Role.admin, name="Ada Admin")
    with live.api() as api:
        created = api.post(
            "/api/v1/campaigns",
            json={"id": "SPRING26-SOCIAL", "name": "Spring 2026 social", "channel": "social"},
        )
        assert created.status_code == 201, created.text
        # A second asset with a very long title, to see how cards and pages cope.
        long = api.post(
            "/api/v1/assets",
            files={"file": ("parka.jpg", image_bytes(size=(1600, 1200), seed=9), "image/jpeg")},
            data={"metadata": json.dumps({**GRAPHIC, "title": LONG_TITLE})},
        )
        assert long.status_code == 201, long.text
    _settle(live)

    # Sign-in page and a wrong password.
    context = browser.new_context(base_url=live.url, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto("/upload")
    page.get_by_label("Email").fill(designer)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong email or password")
    _shot(page, "01-sign-in-error")

    # The designer uploads two files: one on brand, one the rules block.
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/upload")
    good = tmp_path / "trail-runner-dawn.jpg"
    good.write_bytes(image_bytes(size=(1080, 1350), seed=3))
    small = tmp_path / "tiny-thumbnail.jpg"
    small.write_bytes(image_bytes(size=(300, 200), seed=5))
    page.locator("#files").set_input_files([str(good), str(small)])
    expect(page.locator(".file-row")).to_have_count(2)
    page.locator(".file-title").first.fill("Trail runner at dawn")
    page.locator("#description").fill("Trail runner on a ridge at sunrise, spring social.")
    page.locator("#tags").fill("spring, running")
    page.locator('fieldset[data-facet="asset_type"]').get_by_label("Photo", exact=True).check()
    page.locator('fieldset[data-facet="usage_rights"]').get_by_label("Owned", exact=True).check()
    channel = page.locator('fieldset[data-facet="channel"]')
    channel.get_by_label("Find a channel term").fill("insta")  # a synonym of Instagram
    expect(channel.locator(".opt[data-search]:visible")).to_have_count(1)
    channel.get_by_label("Instagram").check()
    page.locator('fieldset[data-facet="brand"]').get_by_label("Halden", exact=True).check()

    page.get_by_role("button", name="Check compliance").click()
    rows = page.locator(".file-row")
    expect(rows.nth(1).locator(".file-status")).to_have_text("Blocked")
    expect(rows.nth(0).locator(".file-status")).to_have_text("On brand")
    expect(rows.nth(1).locator(".file-problems")).to_contain_text("at least 1200 x 800")
    _shot(page, "02-upload-checked")

    page.get_by_role("button", name="Upload", exact=True).click()
    expect(rows.nth(0).locator(".file-status")).to_have_text("Uploaded")
    expect(rows.nth(0).locator(".file-result")).to_contain_text("submitted for review")
    expect(rows.nth(1).locator(".file-status")).to_have_text("Blocked")
    expect(page.locator("#upload-summary")).to_contain_text("Done")
    assert rows.nth(0).locator("progress").evaluate("p => p.value") == 100
    _shot(page, "03-upload-done")
    _settle(live)

    rows.nth(0).get_by_role("link").click()
    expect(page.locator(".asset-head")).to_contain_text("In review")
    expect(page.locator(".terms")).to_contain_text("Instagram")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    # The designer corrects the description from the asset page.
    page.locator("summary", has_text="Edit metadata").click()
    page.get_by_label("Description").fill("Trail runner on the ridge at first light.")
    page.get_by_label("Tags").fill("spring, running, ridge")
    _shot(page, "03b-edit-metadata")
    page.get_by_role("button", name="Save metadata").click()
    expect(page.get_by_role("status")).to_contain_text("Metadata saved.")
    expect(page.locator(".description")).to_have_text("Trail runner on the ridge at first light.")
    expect(page.locator(".terms")).to_contain_text("ridge")
    asset_url = page.url
    _sign_out(page)

    # The brand manager approves from the review queue.
    page = _sign_in(browser, live, manager)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review").click()
    item = page.locator(".review-item", has_text="Trail runner at dawn")
    expect(item).to_contain_text("No approved version yet")
    _shot(page, "04-review-queue")
    item.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("it is now published")
    expect(page.locator(".review-item", has_text="Trail runner at dawn")).to_have_count(0)
    _shot(page, "05-review-after-approve")
    page.goto("/governance")
    expect(page.locator(".kpis")).to_contain_text("On brand")
    _shot(page, "06-governance")
    _sign_out(page)
    _settle(live)

    # The marketer finds it by a synonym and a facet, opens, downloads and tags it.
    page = _sign_in(browser, live, marketer)
    expect(page.locator(".asset-card")).to_have_count(1)  # the unapproved parka stays hidden
    search = page.get_by_role("combobox", name="Search the library")
    search.fill("photograph")  # a synonym of the Photo term
    suggestions = page.get_by_role("listbox", name="Suggestions").get_by_role("option")
    # The matching title first, then the taxonomy's terms for the word (Photo).
    expect(suggestions.first).to_have_text("Trail runner at dawn")
    expect(page.locator("#q-suggestions .suggest-term").first).to_contain_text("Photo")
    search.press("Enter")
    page.wait_for_url("**/library?q=photograph*")
    expect(page.locator(".asset-card")).to_have_count(1)
    page.locator(".facets").get_by_role("link", name="Instagram").click()
    expect(page.locator(".chips")).to_contain_text("Instagram")
    expect(page.locator(".asset-card")).to_have_count(1)
    _shot(page, "07-library-marketer")
    page.locator(".asset-card").get_by_role("link").click()
    assert page.url == asset_url
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download", exact=True).click()
    downloaded = Path(download_info.value.path())
    # The marketer gets a delivered copy: the same picture, with the governed metadata written.
    assert same_picture(downloaded.read_bytes(), good.read_bytes())
    page.get_by_label("Add to campaign").select_option("SPRING26-SOCIAL")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("SPRING26-SOCIAL")
    expect(page.locator(".campaign-list")).to_contain_text("SPRING26-SOCIAL")
    _shot(page, "08-asset-marketer")

    asset_id = asset_url.rsplit("/", 1)[1]
    with live.api() as api:
        start = date(2026, 11, 1)
        rows_json = [
            {
                "asset_id": asset_id,
                "date": (start + timedelta(days=d)).isoformat(),
                "channel": "instagram",
                "impressions": 1000 + 150 * d,
                "clicks": 40 + 3 * d,
                "conversions": 2 + d // 3,
                "spend": "25.00",
                "revenue": str(60 + 5 * d),
            }
            for d in range(10)
        ]
        posted = api.post("/api/v1/campaigns/SPRING26-SOCIAL/metrics", json=rows_json)
        assert posted.status_code == 200, posted.text
    page.get_by_role("link", name="SPRING26-SOCIAL").click()
    expect(page.locator("table.numbers")).to_contain_text("Trail runner at dawn")
    expect(page.locator("svg.chart polyline")).to_have_count(1)
    _shot(page, "09-campaign")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    page.get_by_label("Group by").select_option(label="Channel")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".bars")).to_contain_text("Instagram")
    _shot(page, "10-campaigns")
    _sign_out(page)

    # The admin sees everything, including the draft with the long title.
    page = _sign_in(browser, live, admin)
    expect(page.locator(".asset-card")).to_have_count(2)
    _shot(page, "11-library-admin")
    page.locator(".asset-card", has_text="Halden Summit Pro").get_by_role("link").click()
    expect(page.get_by_role("button", name="Submit for review")).to_be_visible()
    _shot(page, "12-asset-draft-long-title")
    # A new version from the asset page: a file that is not what it claims, then a good one.
    fake = tmp_path / "parka-v2.jpg"
    fake.write_bytes(b"<html><body>not a photo</body></html>")
    page.get_by_label("File", exact=True).set_input_files(str(fake))
    page.get_by_role("button", name="Upload version 2").click()
    card = page.locator("#new-version")
    expect(card.locator("[data-status]")).to_have_class(re.compile("error"))
    expect(card.locator("[data-status]")).not_to_be_empty()
    _shot(page, "13-new-version-refused")
    v2 = tmp_path / "parka-v2.jpg"
    v2.write_bytes(image_bytes(size=(1600, 1200), seed=11))
    page.get_by_label("File", exact=True).set_input_files(str(v2))
    card.get_by_label("Submit for review after uploading").uncheck()
    page.get_by_role("button", name="Upload version 2").click()
    expect(page.locator("section[aria-labelledby=ver-h] tbody tr")).to_have_count(2)
    expect(page.get_by_role("button", name="Upload version 3")).to_be_visible()
    _sign_out(page)


def test_a_metadata_change_waits_for_review_beside_what_is_live(
    browser: Any, live: Live, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    users = Users(live.ctx)
    designer = users.create(Role.designer, name="Dana Designer")
    manager = users.create(Role.brand_manager, name="Bo Brand")
    marketer = users.create(Role.marketer, name="Mia Marketing")
    with live.api() as api:
        created = api.post(
            "/api/v1/assets",
            files={"file": ("dawn.jpg", image_bytes(size=(1600, 1200), seed=4), "image/jpeg")},
            data={"metadata": json.dumps(GRAPHIC)},
        )
        assert created.status_code == 201, created.text
        asset_id = created.json()["id"]
        for action in ("submit", "approve"):  # an admin may approve their own upload
            assert api.post(f"/api/v1/assets/{asset_id}/{action}").status_code == 200
    _settle(live)

    page = _sign_in(browser, live, designer)
    page.goto(f"/assets/{asset_id}")
    page.locator("summary", has_text="Edit metadata").click()
    page.get_by_label("Title").fill("Trail runner at dawn, final cut")
    page.get_by_role("button", name="Save metadata").click()
    expect(page.get_by_role("status")).to_contain_text("Metadata saved.")
    pending = page.locator("section.pending")
    expect(pending).to_contain_text("Waiting for review")
    row = pending.locator("tr", has_text="Title")
    expect(row.locator("td").nth(0)).to_have_text("Trail runner at dawn")
    expect(row.locator("td").nth(1)).to_have_text("Trail runner at dawn, final cut")
    expect(page.locator(".asset-title")).to_have_text("Trail runner at dawn, final cut")
    _shot(page, "12-metadata-pending")
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_role("status")).to_contain_text("submitted for review")
    _sign_out(page)

    page = _sign_in(browser, live, marketer)
    page.goto(f"/assets/{asset_id}")
    expect(page.locator(".asset-title")).to_have_text("Trail runner at dawn")
    expect(page.locator("section.pending")).to_have_count(0)
    _sign_out(page)

    page = _sign_in(browser, live, manager)
    page.goto("/review")
    item = page.locator(".review-item", has_text="final cut")
    expect(item).to_contain_text("only the metadata changed")
    expect(item.locator("table.changes tr", has_text="Title")).to_contain_text(
        "Trail runner at dawn, final cut"
    )
    _shot(page, "13-review-metadata-diff")
    item.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("it is now published")
    _sign_out(page)

    page = _sign_in(browser, live, marketer)
    page.goto(f"/assets/{asset_id}")
    expect(page.locator(".asset-title")).to_have_text("Trail runner at dawn, final cut")
    _sign_out(page)


PREVIEW_FILES = ROOT / "tests" / "media" / "files"


def test_previews_of_every_kind_fill_in_when_the_worker_is_done(
    browser: Any, live: Live, tmp_path: Path
) -> None:
    """SVG on a checkerboard, PDF with page thumbnails, video inline with poster and controls;
    the asset page shows "being made" and fills in without a reload once renditions exist."""
    from playwright.sync_api import expect

    designer = Users(live.ctx).create(Role.designer, name="Dana Designer")
    uploads = {
        "logo": ("graphviz.svg", "logo"),
        "doc": ("pypdf-pdflatex-4-pages.pdf", "document"),
        "video": ("pymediainfo-sample-1080p.mp4", "video"),
        "hevc": ("ffmpeg-hevc.mp4", "video"),
    }
    ids: dict[str, str] = {}
    with live.api() as api:
        for key, (name, asset_type) in uploads.items():
            meta = {
                "title": f"Preview sample {key}",
                "description": "A real file published by others, for preview tests.",
                "terms": {"asset_type": [asset_type], "usage_rights": ["owned"]},
            }
            response = api.post(
                "/api/v1/assets",
                files={
                    "file": (name, (PREVIEW_FILES / name).read_bytes(), "application/octet-stream")
                },
                data={"metadata": json.dumps(meta)},
            )
            assert response.status_code == 201, response.text
            ids[key] = response.json()["id"]

    page = _sign_in(browser, live, designer)
    page.goto(f"/assets/{ids['doc']}")
    box = page.locator("[data-preview]")
    expect(box).to_have_attribute("data-state", "pending")
    expect(box.locator("[data-pending]")).to_be_visible()
    _settle(live)  # the worker draws while the page is open
    expect(box.locator("img")).to_be_visible(timeout=15_000)
    expect(page.locator("[data-pages] img")).to_have_count(4, timeout=15_000)
    expect(box).to_have_attribute("data-state", "ready", timeout=15_000)
    natural = page.locator("[data-pages] img").first.evaluate(
        "i => [i.naturalWidth, i.naturalHeight]"
    )
    assert natural == [181, 256]
    _shot(page, "20-asset-pdf-pages")

    page.goto(f"/assets/{ids['logo']}")
    image = page.locator("[data-preview] img")
    expect(image).to_be_visible()
    assert image.evaluate("i => i.naturalWidth") == 1024
    background = page.locator("[data-preview]").evaluate("b => getComputedStyle(b).backgroundImage")
    assert "conic-gradient" in background  # the checkerboard behind transparent logos
    _shot(page, "21-asset-svg-checkerboard")

    page.goto(f"/assets/{ids['video']}")
    video = page.locator("[data-preview] video")
    expect(video).to_have_attribute("controls", "")
    # Chromium decodes H.264: the original plays, no fallback to the clip.
    page.wait_for_function("() => document.querySelector('[data-preview] video').readyState >= 1")
    state = video.evaluate("v => [v.error && v.error.code, v.currentSrc.includes('/content')]")
    assert state == [None, True]
    expect(page.locator("[data-video-fallback]")).to_be_hidden()
    assert (
        video.get_attribute("poster")
        == f"/api/v1/assets/{ids['video']}/renditions/preview?version=1"
    )
    _shot(page, "22-asset-video")

    # Chromium has no HEVC decoder: the page falls back to the H.264 preview clip.
    page.goto(f"/assets/{ids['hevc']}")
    expect(page.locator("[data-video-fallback]")).to_be_visible()
    clip = page.locator("[data-preview] video").evaluate("v => v.currentSrc")
    assert clip.endswith(f"/api/v1/assets/{ids['hevc']}/renditions/clip?version=1")

    page.goto("/library")
    expect(page.locator(".asset-card img[data-thumb]")).to_have_count(4)
    expect(page.locator(".asset-card video[data-hover-clip]")).to_have_count(2)
    card = page.locator(".asset-card", has_text="Preview sample video")
    card.hover()
    hover = card.locator("video[data-hover-clip]")
    expect(hover).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('video[data-hover-clip]')].some(v => !v.paused)"
    )
    _shot(page, "23-library-previews")
    page.context.close()


AGENCY = ROOT / "tests" / "media" / "corpus" / "agency-photo.jpg"


def test_the_upload_form_shows_what_the_file_prefills_and_takes_overrides(
    browser: Any, live: Live, tmp_path: Path
) -> None:
    """A real agency JPEG (a Nikon file tagged with exiftool: title, caption, creator, credit,
    copyright, usage terms, licence end, keywords, GPS): picking it shows each value with the
    key it came from, before anything is checked; what the designer changes wins, what they
    leave is stored as the file says and reported as taken from it."""
    from playwright.sync_api import expect

    designer = Users(live.ctx).create(Role.designer, name="Dana Designer")
    photo = tmp_path / "DSC_4711.jpg"
    shutil.copy(AGENCY, photo)
    page = _sign_in(browser, live, designer)
    page.goto("/upload")
    page.locator("#files").set_input_files([str(photo)])
    row = page.locator(".file-row")
    panel = row.locator(".file-embedded")
    expect(panel).to_be_visible()
    expect(row.locator(".file-title")).to_have_value("Trail runner above the fjord")
    expect(row.locator(".file-title-source")).to_have_text("Title from XMP dc:title")
    expect(panel.get_by_label("Description")).to_have_value(
        "A trail runner crosses the ridge above Ålesund at sunrise."
    )
    expect(panel.get_by_label("Credit line")).to_have_value("Nordlys Agency / Ingrid Solberg")
    expect(panel.get_by_label("Copyright notice")).to_have_value("© 2026 Nordlys Agency AS")
    expect(panel.get_by_label("Creator")).to_have_value("Ingrid Solberg")
    # plus:LicenseEndDate 2027-06-30: the last day the licence covers.
    expect(panel.get_by_label("Usage rights end")).to_have_value("2027-06-30")
    keywords = panel.get_by_label("Keywords (tags)").input_value()
    assert "fjord" in keywords.split(", ")
    sources = panel.locator(".source").all_text_contents()
    assert "from XMP dc:description" in sources
    assert "from XMP photoshop:Credit" in sources
    assert "from XMP plus:LicenseEndDate" in sources
    expect(panel.locator(".embedded-terms")).to_contain_text("Visual style: lifestyle")
    expect(panel.locator(".embedded-location")).to_contain_text("GPS coordinates")
    _shot(page, "30-upload-prefilled")

    # The designer corrects the credit line and leaves the rest as the file says.
    panel.get_by_label("Credit line").fill("Nordlys Agency")
    expect(panel.locator(".source").nth(3)).to_have_text("changed by you")
    page.locator('fieldset[data-facet="asset_type"]').get_by_label("Photo", exact=True).check()
    licensed = page.locator('fieldset[data-facet="usage_rights"]').get_by_label("Licensed")
    licensed.check()
    page.locator('fieldset[data-facet="brand"]').get_by_label("Halden", exact=True).check()
    page.get_by_label("Submit for review after uploading").uncheck()
    page.get_by_role("button", name="Check compliance").click()
    expect(row.locator(".file-status")).to_have_text(re.compile("On brand|Warnings"))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(row.locator(".file-status")).to_have_text("Uploaded")
    expect(row.locator(".file-prefilled")).to_contain_text("description")
    _shot(page, "31-upload-prefilled-done")

    asset_id = row.get_by_role("link").get_attribute("href").rsplit("/", 1)[-1]
    with live.api() as api:
        asset = api.get(f"/api/v1/assets/{asset_id}").json()
    assert asset["title"] == "Trail runner above the fjord"
    assert asset["description"] == "A trail runner crosses the ridge above Ålesund at sunrise."
    assert asset["extra"]["credit"] == "Nordlys Agency"  # the designer's value won
    assert asset["extra"]["copyright"] == "© 2026 Nordlys Agency AS"
    assert asset["rights_expire_at"] == "2027-07-01T00:00:00Z"
    assert "fjord" in asset["tags"]
    prefilled = asset["current_version"]["embedded"]["prefilled"]
    assert {"title", "description", "copyright", "rights_expire_at", "tags"} <= set(prefilled)
    assert "credit" not in prefilled
    page.context.close()


def test_a_marketer_uploads_a_google_ads_export_previews_registers_and_stores_it(
    browser: Any, live: Live, tmp_path: Path
) -> None:
    """Issue 16's UI: the campaign page previews a Google Ads ad report (the fixture of
    tests/campaigns/test_sources.py, built from the published layout), first refused for its
    undeclared number format, then with two ad ids that match no placement; the marketer
    registers them from the preview, previews again and stores the figures, which the
    campaign page then shows per asset; the asset page lists its placements."""
    from playwright.sync_api import expect

    from tests.campaigns.test_sources import GOOGLE

    marketer = Users(live.ctx).create(Role.marketer, name="Mia Marketing")
    ids: dict[str, str] = {}
    with live.api() as api:
        created = api.post(
            "/api/v1/campaigns", json={"id": "ADS26", "name": "Spring ads", "channel": "instagram"}
        )
        assert created.status_code == 201, created.text
        for key, title, seed in (("hero", "Hero tent", 21), ("banner", "Banner tent", 22)):
            response = api.post(
                "/api/v1/assets",
                files={"file": (f"{key}.jpg", image_bytes(size=(64, 48), seed=seed), "image/jpeg")},
                data={
                    "metadata": json.dumps({**GRAPHIC, "title": title, "campaign_ids": ["ADS26"]})
                },
            )
            assert response.status_code == 201, response.text
            ids[key] = response.json()["id"]
            for action in ("submit", "approve"):
                assert api.post(f"/api/v1/assets/{ids[key]}/{action}").status_code == 200
        registered = api.post(
            "/api/v1/campaigns/ADS26/placements",
            json={"platform": "google_ads", "external_id": "6001", "asset_id": ids["hero"]},
        )
        assert registered.status_code == 201, registered.text
    export = tmp_path / "Ad report.csv"
    export.write_text(GOOGLE, encoding="utf-8")

    page = _sign_in(browser, live, marketer)
    page.goto("/campaigns/ADS26")
    card = page.locator("#export")
    expect(card.get_by_label("Source")).to_have_value("google_ads")
    expect(card.locator("[data-daily-hint]")).to_contain_text("segment Time > Day")
    card.get_by_label("Export file").set_input_files(str(export))
    # The wrong source: a Google Ads file read as a Braze data series is refused, named.
    card.get_by_label("Source").select_option("braze")
    expect(card.get_by_label("Placement id")).to_be_visible()
    card.get_by_role("button", name="Preview").click()
    status = card.locator("[data-status]")
    expect(status).to_have_class(re.compile("error"))
    expect(status).to_contain_text("no header line with the Braze campaign data series's")
    preview = page.locator("#export-preview")
    expect(preview).to_be_hidden()
    card.get_by_label("Source").select_option("google_ads")
    expect(card.get_by_label("Placement id")).to_be_hidden()
    card.get_by_role("button", name="Preview").click()
    # Without a declared number format, "12,010" impressions are refused, not guessed.
    refused = preview.locator("[data-rejected] tbody tr")
    expect(refused).to_have_count(2)
    expect(refused.first).to_contain_text("Impr.")
    expect(refused.first).to_contain_text("declare the export's number locale")
    expect(preview.locator("[data-commit]")).to_be_disabled()

    card.get_by_label("Number format").select_option("en")
    expect(preview.locator("[data-commit-note]")).to_contain_text("preview again")
    card.get_by_role("button", name="Preview").click()
    expect(preview.locator("[data-rejected-block]")).to_be_hidden()
    unmatched = preview.locator("[data-unmatched] tbody tr")
    expect(unmatched).to_have_count(2)
    expect(unmatched.first).to_contain_text("6002")
    expect(unmatched.first).to_contain_text("no placement is registered")
    expect(preview.locator("[data-summary]")).to_contain_text("2 rows match a placement")
    expect(preview.locator("[data-commit]")).to_be_disabled()
    _shot(page, "40-export-unmatched")

    # Register the two ids from the preview: the form is filled with the platform and the id.
    unmatched.first.get_by_role("button", name="Register 6002 as a placement").click()
    form = page.locator("#placement-form")
    expect(form.get_by_label("External id")).to_have_value("6002")
    expect(form.get_by_label("Platform")).to_have_value("google_ads")
    form.get_by_label("Asset").select_option(label="Hero tent")
    form.get_by_label("Version").fill("9")
    form.get_by_role("button", name="Save placement").click()
    expect(form.locator("[data-status]")).to_contain_text("has no version 9")
    form.get_by_label("Version").fill("")
    form.get_by_role("button", name="Save placement").click()
    done = page.locator("[data-export-done]")
    expect(done).to_contain_text("6002 points to “Hero tent” version 1")
    expect(page.locator('#placements tr[data-placement="6002"]')).to_contain_text("Hero tent")
    page.locator("#placement-details summary").click()
    form.get_by_label("Platform").fill("google_ads")
    form.get_by_label("External id").fill("6003")
    form.get_by_label("Asset").select_option(label="Banner tent")
    form.get_by_role("button", name="Save placement").click()
    expect(page.locator('#placements tr[data-placement="6003"]')).to_contain_text("Banner tent")

    card.get_by_label("Number format").select_option("en")
    card.get_by_label("Export file").set_input_files(str(export))
    card.get_by_role("button", name="Preview").click()
    expect(preview.locator("[data-summary]")).to_contain_text("4 rows match a placement")
    totals = preview.locator("[data-totals]")
    expect(totals.locator("div", has_text="Impressions")).to_contain_text("14,310")
    expect(totals.locator("div", has_text="Conversions")).to_contain_text("4.16")
    expect(totals.locator("div", has_text="Revenue")).to_contain_text("1,244.50 USD")
    versions = preview.locator("[data-attributed] tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.filter(has_text="Hero tent")).to_contain_text("3")
    expect(versions.filter(has_text="Banner tent")).to_contain_text("1")
    expect(preview.locator("[data-skipped]")).to_contain_text("lines 1, 2, 8, 9")
    _shot(page, "41-export-preview")
    preview.get_by_role("button", name="Store 4 rows").click()
    expect(page.locator("[data-export-done]")).to_contain_text("Stored 4 rows from Ad report.csv")
    kpis = page.locator("dl.kpis")
    expect(kpis.locator("div", has_text="Impressions")).to_contain_text("14,310")
    table = page.locator("section[aria-labelledby=perf-h] table.numbers")
    expect(table.locator("tr", has_text="Hero tent")).to_contain_text("13,810")
    expect(table.locator("tr", has_text="Banner tent")).to_contain_text("500")
    _shot(page, "42-export-stored")

    page.goto(f"/assets/{ids['hero']}")
    placed = page.locator("section[aria-labelledby=place-h] tbody tr")
    expect(placed).to_have_count(2)
    expect(placed.filter(has_text="6001")).to_contain_text("2026-11-20")
    expect(placed.filter(has_text="6001")).to_contain_text("2026-11-21")
    _shot(page, "43-asset-placements")
    page.context.close()
