"""What ships for deployment, checked without a Docker engine: the compose file against the
Compose specification's JSON schema, start-up order by health, the image's user and health
check, and the lock files against pyproject.toml."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "tests/support/compose_spec/compose-spec.json").read_text())
WAITING_CONDITIONS = {"service_healthy", "service_completed_successfully"}


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def schema_errors(document: dict[str, Any]) -> list[str]:
    validator = Draft202012Validator(SCHEMA)
    return [
        f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, args = line.strip().partition(" ")
            out.append((instruction.upper(), " ".join(args.split())))
    return out


# --- compose ---------------------------------------------------------------------------------


def test_compose_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["title"] == "Compose Specification"


def test_compose_file_matches_the_compose_specification() -> None:
    assert schema_errors(compose()) == []


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        (
            ("services", "app", "depends_on", "postgres", "condition"),
            "service_ready",
            "services.app.depends_on: {'postgres': {'condition': 'service_ready'}",
        ),
        (
            ("services", "worker", "restart_policy"),
            "always",
            "services.worker: Unevaluated properties are not allowed ('restart_policy'",
        ),
    ],
)
def test_schema_catches_a_broken_compose_file(
    path: tuple[str, ...], value: str, error: str
) -> None:
    broken = copy.deepcopy(compose())
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    assert any(message.startswith(error) for message in schema_errors(broken))


def test_compose_services_start_only_after_what_they_need_is_healthy_or_done() -> None:
    services = compose()["services"]
    image_has_healthcheck = any(i == "HEALTHCHECK" for i, _ in dockerfile_instructions())

    waits = {}
    for name, service in services.items():
        for needed, how in service.get("depends_on", {}).items():
            waits[(name, needed)] = how.get("condition")
            if how.get("condition") == "service_healthy":
                healthcheck = services[needed].get("healthcheck")
                if healthcheck is None:
                    # A service built from the Dockerfile inherits its HEALTHCHECK.
                    assert services[needed].get("build") == "." and image_has_healthcheck
                else:
                    assert healthcheck.get("disable") is not True, needed
                    assert healthcheck["test"], needed

    assert set(waits.values()) <= WAITING_CONDITIONS
    assert waits == {
        ("storage-init", "minio"): "service_healthy",
        ("app", "postgres"): "service_healthy",
        ("app", "storage-init"): "service_completed_successfully",
        ("worker", "app"): "service_healthy",
        ("worker", "storage-init"): "service_completed_successfully",
    }


def test_compose_disables_the_api_health_check_where_no_api_runs() -> None:
    services = compose()["services"]

    for name in ("storage-init", "worker"):
        assert services[name]["build"] == "."
        assert services[name]["healthcheck"] == {"disable": True}


# --- image -----------------------------------------------------------------------------------


def test_image_runs_as_an_unprivileged_user_with_a_writable_data_volume() -> None:
    instructions = dockerfile_instructions()
    names = [i for i, _ in instructions]
    users = [args for i, args in instructions if i == "USER"]

    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert names.index("USER") > names.index("VOLUME") > names.index("RUN")
    # Ownership set in the image before VOLUME is what a new named volume starts with.
    chown = [n for n, (i, args) in enumerate(instructions) if i == "RUN" and "chown" in args]
    assert chown and chown[-1] < names.index("VOLUME")
    assert "chown dam:dam /data" in instructions[chown[-1]][1]
    assert ("VOLUME", '["/data"]') in instructions
    assert any(i == "ENV" and "DAM_DATA_DIR=/data" in args for i, args in instructions)


def test_image_health_check_asks_readyz() -> None:
    (healthcheck,) = [args for i, args in dockerfile_instructions() if i == "HEALTHCHECK"]

    assert "CMD" in healthcheck
    assert "http://127.0.0.1:8000/readyz" in healthcheck


def test_image_installs_only_from_the_lock_with_hashes() -> None:
    runs = [args for i, args in dockerfile_instructions() if i == "RUN" and "pip install" in args]

    assert runs == [
        "pip install --require-hashes -r requirements.lock",
        "pip install --no-deps --no-build-isolation . && rm -rf build dam.egg-info",
    ]


# --- locks -----------------------------------------------------------------------------------


def pins(lock: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) for every pin of a lock file."""
    text = (ROOT / lock).read_text()
    out: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9_.\-\[\]]+)==(\S+)", block)
        if match:
            name = canonicalize_name(match.group(1).split("[")[0])
            out[name] = (match.group(2), block.count("--hash=sha256:"))
    return out


def test_every_pin_of_both_locks_carries_hashes() -> None:
    for lock in ("requirements.lock", "requirements-test.lock"):
        pinned = pins(lock)
        assert pinned, lock
        assert {name: n for name, (_, n) in pinned.items() if n == 0} == {}, lock


def test_runtime_lock_is_the_test_lock_without_the_test_tools() -> None:
    runtime, test = pins("requirements.lock"), pins("requirements-test.lock")

    assert {name: version for name, (version, _) in runtime.items()} == {
        name: test[name][0] for name in runtime
    }
    assert "pytest" in test and "pytest" not in runtime


def test_locks_pin_every_pyproject_requirement_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime, test = pins("requirements.lock"), pins("requirements-test.lock")
    wanted = [
        (lock, Requirement(spec))
        for lock, specs in (
            (runtime, project["project"]["dependencies"] + project["build-system"]["requires"]),
            (test, project["project"]["optional-dependencies"]["test"]),
        )
        for spec in specs
    ]

    for lock, requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{requirement} is not in the lock: run scripts/lock"
        version = lock[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} is outside {requirement}: run scripts/lock"
        )
