"""`./scripts/test` output: skipped variants are one summary line by reason, not a line each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_skips_are_summed_up_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAM_TEST_DATABASE_URL"}
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "0",
            "-q",
            "-p",
            "no:randomly",
            "tests/campaigns/test_currency.py",  # small: one test and its skipped variant
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SKIPPED [" not in run.stdout
    summary = [line for line in run.stdout.splitlines() if line.startswith("skipped ")]
    assert summary == ["skipped 1: PostgreSQL variant: set DAM_TEST_DATABASE_URL to run it (1)"], (
        run.stdout
    )
