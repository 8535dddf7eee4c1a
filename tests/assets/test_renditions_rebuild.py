"""`dam renditions rebuild`: redraw all or only missing renditions, by kind."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.assets.renditions_rebuild import rebuild_renditions
from dam.context import Context
from dam.models import AssetVersion
from tests.assets.test_previews import _use_bomb, metadata, send
from tests.factories import upload

pytestmark = pytest.mark.usefixtures("db_backend")


def versions(ctx: Context) -> dict[str, AssetVersion]:
    with Session(ctx.engine) as session:
        return {v.kind: v for v in session.exec(select(AssetVersion))}


def test_rebuild_missing_draws_only_what_is_missing_and_all_redraws_by_kind(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    send(client, designer, "graphviz.svg", "logo")
    send(client, designer, "pypdf-autocad-rotate270.pdf", "document")
    # No worker has run: everything is missing.
    progress: list[tuple[int, int]] = []
    report = rebuild_renditions(
        ctx, missing_only=True, on_progress=lambda d, t: progress.append((d, t))
    )
    assert (report.versions, report.rendered, report.renditions, report.failed) == (2, 2, 5, [])
    assert progress == [(1, 2), (2, 2)]
    made = versions(ctx)
    assert sorted(made["vector"].renditions) == ["preview", "thumb"]
    assert sorted(made["document"].renditions) == ["page-1", "preview", "thumb"]

    # Nothing is missing now.
    again = rebuild_renditions(ctx, missing_only=True)
    assert (again.versions, again.rendered, again.renditions) == (2, 0, 0)

    # A rendition whose row is lost is found in the store again; one whose object is lost too
    # is redrawn, and only it.
    def forget(name: str) -> None:
        with Session(ctx.engine) as session:
            pdf = session.get(AssetVersion, made["document"].id)
            assert pdf is not None
            pdf.renditions = {k: v for k, v in pdf.renditions.items() if k != name}
            session.add(pdf)
            session.commit()

    forget("page-1")
    reused = rebuild_renditions(ctx, kinds=["document"], missing_only=True)
    assert (reused.versions, reused.renditions) == (1, 0)
    assert "page-1" in versions(ctx)["document"].renditions
    ctx.store.delete(made["document"].renditions["page-1"])
    forget("page-1")
    one = rebuild_renditions(ctx, kinds=["document"], missing_only=True)
    assert (one.versions, one.renditions) == (1, 1)
    assert ctx.store.exists(versions(ctx)["document"].renditions["page-1"])

    # Without --missing every planned rendition of the kind is drawn again.
    full = rebuild_renditions(ctx, kinds=["vector"])
    assert (full.versions, full.rendered, full.renditions) == (1, 1, 2)


def test_rebuild_reports_versions_that_fail(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    response = upload(client, designer, _use_bomb(), filename="b.svg", metadata=metadata("logo"))
    assert response.status_code == 201
    report = rebuild_renditions(ctx, missing_only=True)
    assert len(report.failed) == 1
    assert "nodes limit reached" in report.failed[0][1]
    # Failure placeholders count as missing, so --missing tries them again.
    assert len(rebuild_renditions(ctx, missing_only=True).failed) == 1


def test_rebuild_refuses_unknown_kinds(ctx: Context) -> None:
    with pytest.raises(ValueError, match="unknown kind 'audio'"):
        rebuild_renditions(ctx, kinds=["audio"])
