"""The asset page's preview poll: a small JSON answer that turns ready when the worker has made
the renditions, for the version the caller may see."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from dam.context import Context
from dam.worker import run_pending
from tests.web.support import new_asset

pytestmark = pytest.mark.usefixtures("db_backend")


def test_preview_state_turns_ready_after_the_worker(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    asset_id = new_asset(client, designer)
    before = client.get(f"/assets/{asset_id}/preview-state", headers=designer)
    assert before.status_code == 200, before.text
    assert before.json()["number"] == 1
    assert before.json()["previews"]["status"] == "pending"
    assert "thumb" not in before.json()["renditions"]
    # A draft: marketers see nothing of it.
    assert client.get(f"/assets/{asset_id}/preview-state", headers=marketer).status_code == 404
    anonymous = client.get(f"/assets/{asset_id}/preview-state", follow_redirects=False)
    assert anonymous.status_code == 303  # to sign in, like every page
    run_pending(ctx)
    after = client.get(f"/assets/{asset_id}/preview-state", headers=designer).json()
    assert after["previews"]["status"] == "ready"
    assert {"thumb", "preview"} <= set(after["renditions"])
    assert len(str(after)) < 600  # the small answer, not the whole asset
