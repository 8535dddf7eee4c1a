"""Every `dam` command run from a foreign working directory, with one setting broken at a time.

The `cli_env` fixture clears every DAM_ setting of the calling shell, points the data directory
at a fresh temp directory and the pack at the checkout's, and moves the working directory to a
directory that holds neither (so nothing may depend on being run from the project root).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dam.cli import app
from dam.config import get_settings

ROOT = Path(__file__).resolve().parent.parent.parent
DAM = Path(sys.executable).with_name("dam")  # the console script of this environment


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class CliEnv:
    cwd: Path
    data: Path
    env: dict[str, str] = field(default_factory=dict)

    def set(self, monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
            self.env[name] = value
        get_settings.cache_clear()

    def invoke(self, *args: str, input: str | None = None) -> Result:
        """In process, through typer's test runner (which catches nothing our code raises)."""
        get_settings.cache_clear()
        result = CliRunner().invoke(app, list(args), input=input)
        get_settings.cache_clear()
        return Result(result.exit_code, result.stdout, result.stderr)

    def child_env(self, *, unset: tuple[str, ...] = ()) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DAM_")}
        env.update({k: v for k, v in self.env.items() if k not in unset})
        env["PYTHONPATH"] = str(ROOT)  # this checkout's code, whichever one installed `dam`
        return env

    def run(
        self,
        *args: str,
        input: str | None = None,
        timeout: float = 120,
        unset: tuple[str, ...] = (),
    ) -> Result:
        """The real console script, in a child process, from the foreign working directory."""
        done = subprocess.run(
            [str(DAM), *args],
            cwd=self.cwd,
            env=self.child_env(unset=unset),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliEnv]:
    for name in list(os.environ):
        if name.startswith("DAM_"):
            monkeypatch.delenv(name)
    # S3 cases must fail on the endpoint, not wait for a credentials look-up.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    env = CliEnv(cwd=cwd, data=tmp_path / "data")
    env.set(monkeypatch, DAM_DATA_DIR=str(env.data), DAM_TAXONOMY_DIR=str(ROOT / "taxonomy"))
    yield env
    get_settings.cache_clear()


def assert_clean_failure(result: Result, *expected: str) -> None:
    """Non-zero exit, every `expected` fragment on stderr, one or two lines, no traceback."""
    assert result.code not in (0, None), result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, result.stderr
    for fragment in expected:
        assert fragment in result.stderr, result.stderr
