from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dam.cli import app as dam_app
from dam.cli.governance import app
from dam.config import get_settings
from tests.governance.factories import MINI_TAXONOMY, SHIPPED_PACK, write_pack

runner = CliRunner()


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_check_valid_pack_prints_a_summary_and_exits_0(tmp_path: Path) -> None:
    directory = write_pack(tmp_path / "pack", MINI_TAXONOMY)

    result = runner.invoke(app, ["check", "--dir", str(directory)])

    assert result.exit_code == 0
    assert result.output == (
        f"{directory}: revision t1 is valid: 3 facets, 12 terms (2 deprecated), "
        "0 rules (0 enabled)\n"
    )


def test_check_shipped_pack_exits_0() -> None:
    result = runner.invoke(app, ["check", "--dir", str(SHIPPED_PACK)])

    assert result.exit_code == 0
    assert "revision 2026.11.2 is valid" in result.output


def test_check_broken_pack_lists_problems_and_exits_1(tmp_path: Path) -> None:
    rules = """\
        rules:
          - id: r
            description: d
            severity: maybe
            check: transparency_required
        """
    directory = write_pack(tmp_path / "pack", MINI_TAXONOMY, rules)

    result = runner.invoke(app, ["check", "--dir", str(directory)])

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{directory / 'brand_rules.yaml'}:4: rule 'r': severity must be block or warn, "
        "not 'maybe'",
        f"1 problem in {directory}",
    ]


def test_check_defaults_to_the_configured_taxonomy_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    monkeypatch.setenv("DAM_TAXONOMY_DIR", str(tmp_path / "missing"))

    # Through the `dam` command, which turns the error into its message.
    result = runner.invoke(dam_app, ["governance", "check"])

    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        f"error: governance pack directory not found: {tmp_path / 'missing'}"
    )
