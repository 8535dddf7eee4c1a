"""A refused metadata edit on the asset page: every problem at once, in the form's words with
correct plurals, each field marked, and what the person typed still in the form."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from fastapi.testclient import TestClient

from dam.models import Role
from tests.web.support import Users, new_asset, sign_in

pytestmark = pytest.mark.usefixtures("db_backend")


def _form(html: str) -> str:
    found = re.search(r'<form method="post" action="/assets/[^"]+/edit".*?</form>', html, re.S)
    assert found, html
    return found.group(0)


def _etag(html: str) -> str:
    found = re.search(r'name="etag" value="([^"]+)"', html)
    assert found
    return html_lib.unescape(found.group(1))


def test_refused_edit_keeps_the_typing_and_names_every_problem(
    client: TestClient, users: Users, designer: dict[str, str]
) -> None:
    asset_id = new_asset(client, designer, title="Harbour at dusk")
    csrf = sign_in(client, users.create(Role.designer, email="dana@example.com"))
    page = client.get(f"/assets/{asset_id}").text
    body = {
        "csrf_token": csrf,
        "etag": _etag(page),
        "title": "",
        "description": "A new description I typed with care",
        "tags": "harbour, dusk, boats",
        "rights_end": "2027-02-30",
        "terms": ["asset_type:", "usage_rights:owned", "brand:halden"],
    }
    refused = client.post(f"/assets/{asset_id}/edit", data=body)
    assert refused.status_code == 422
    text = html_lib.unescape(refused.text)
    assert "The metadata was not saved: 3 problems to fix." in text
    form = html_lib.unescape(_form(refused.text))
    for message in (
        "Title is required",
        "Usage rights end must be a date like 2027-01-31",
        "Asset type is required",
    ):
        assert message in form
    assert "facet 'asset_type'" not in text  # labels, not ids
    # What was typed is still there, the bad fields marked.
    assert "A new description I typed with care</textarea>" in form
    assert 'value="harbour, dusk, boats"' in form
    assert 'value="2027-02-30"' in form
    assert re.search(r'id="edit-title" name="title" value="" [^>]*aria-invalid="true"', form)
    assert re.search(
        r'<fieldset class="facet-field invalid"[^>]*aria-describedby="err-asset_type"', form
    )
    assert '<details class="edit-meta" open>' in refused.text
    # Nothing was saved.
    stored = client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()
    assert stored["title"] == "Harbour at dusk"

    one = client.post(
        f"/assets/{asset_id}/edit",
        data={**body, "title": "Harbour", "rights_end": "", "terms": ["asset_type:photograph"]},
    )
    one_text = html_lib.unescape(one.text)
    assert "The metadata was not saved: 1 problem to fix." in one_text
    assert "Usage rights is required" in one_text
    saved = client.post(
        f"/assets/{asset_id}/edit",
        data={
            **body,
            "title": "Harbour",
            "rights_end": "",
            "terms": ["asset_type:graphic", "usage_rights:owned", "brand:halden"],
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, html_lib.unescape(_form(saved.text))
    stored = client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()
    assert stored["title"] == "Harbour"
    assert stored["description"] == "A new description I typed with care"
