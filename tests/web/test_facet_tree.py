"""Library facets are trees: a term listed under its parent term, collapsible."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from dam.context import Context
from dam.models import Role
from dam.worker import run_pending
from tests.web.support import GRAPHIC, Users, new_asset, sign_in

pytestmark = pytest.mark.usefixtures("db_backend")


def test_channel_terms_nest_under_their_parent(
    client: TestClient, ctx: Context, users: Users, designer: dict[str, str]
) -> None:
    terms = GRAPHIC["terms"]
    new_asset(client, designer, seed=1, terms={**terms, "channel": ["instagram"]})
    new_asset(client, designer, seed=2, terms={**terms, "channel": ["social"]})
    new_asset(client, designer, seed=3, terms={**terms, "channel": ["email"]})
    run_pending(ctx)
    sign_in(client, users.create(Role.designer, email="dana@example.com"))
    page = client.get("/library").text
    assert '<ul class="facet-tree">' in page
    social = re.search(
        r'<details class="facet-children" open><summary><a href="[^"]*channel=social"'
        r".*?</summary>\s*<ul>(.*?)</ul></details>",
        page,
        re.S,
    )
    assert social, page
    assert 'channel=instagram"' in social.group(1)
    assert 'channel=email"' not in social.group(1)
