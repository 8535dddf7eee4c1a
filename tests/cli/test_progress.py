"""Long commands draw a progress bar on a terminal only, and end with a summary line either way."""

from __future__ import annotations

import hashlib
import os
import pty
import select
import subprocess

import pytest

from dam.config import get_settings
from dam.context import build_context
from dam.db import session_scope, upgrade
from dam.models import Asset, AssetVersion
from dam.storage import blob_key
from tests.cli.conftest import DAM, ROOT, CliEnv

SVG = ROOT / "tests" / "media" / "files" / "feather-camera.svg"


def _add_versions(count: int) -> None:
    ctx = build_context(get_settings())
    upgrade(ctx.engine)
    for n in range(count):
        data = SVG.read_bytes() + f"<!-- {n} -->".encode()
        sha = hashlib.sha256(data).hexdigest()
        ctx.store.put_bytes(blob_key(sha), data, content_type="image/svg+xml")
        with session_scope(ctx.engine) as session:
            asset = Asset(title=f"Camera {n}", current_version=1)
            session.add(asset)
            session.flush()
            session.add(
                AssetVersion(
                    asset_id=asset.id,
                    number=1,
                    blob_key=blob_key(sha),
                    sha256=sha,
                    size=len(data),
                    mime_type="image/svg+xml",
                    format="SVG",
                    kind="vector",
                    filename=f"camera-{n}.svg",
                    media={"kind": "vector", "format": "SVG", "mime_type": "image/svg+xml"},
                )
            )
    ctx.engine.dispose()


def _run_on_a_terminal(cli_env: CliEnv, *args: str) -> tuple[int, str]:
    """Run `dam` with stdout and stderr on a pseudo-terminal; everything it wrote there."""
    primary, secondary = pty.openpty()
    env = cli_env.child_env()
    env.update(TERM="xterm-256color", COLUMNS="100")
    env.pop("NO_COLOR", None)
    child = subprocess.Popen(
        [str(DAM), *args], cwd=cli_env.cwd, env=env, stdout=secondary, stderr=secondary
    )
    os.close(secondary)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([primary], [], [], 60)
        if not ready:
            child.kill()
            break
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    return child.wait(timeout=60), b"".join(chunks).decode(errors="replace")


COMMANDS = [
    (("storage", "check", "--deep"), "hashing blobs", "checked 3 referenced blobs (deep)"),
    (("search", "reindex"), "indexing", "indexed 3 assets with whoosh"),
    (("governance", "recheck"), "re-checking", ": 3 assets checked: "),
    (("renditions", "rebuild"), "renditions", "3 versions, 3 redrawn, 6 renditions, 0 failed"),
]


@pytest.mark.parametrize(("command", "bar", "summary"), COMMANDS, ids=lambda c: str(c))
def test_progress_on_a_terminal_and_the_summary_either_way(
    cli_env: CliEnv, command: tuple[str, ...], bar: str, summary: str
) -> None:
    _add_versions(3)
    code, terminal = _run_on_a_terminal(cli_env, *command)
    assert code == 0, terminal
    assert bar in terminal
    assert "3/3" in terminal  # rich's "done/total" column
    assert summary in terminal
    piped = cli_env.run(*command)
    assert piped.code == 0, piped.output
    assert summary in piped.output
    assert bar not in piped.stderr  # no bar where no terminal is
    assert "\x1b[" not in piped.output
