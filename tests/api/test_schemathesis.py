"""Schemathesis over the whole OpenAPI description, as an admin and as a marketer: every
operation gets generated requests (valid and invalid), and every answer must be documented
(status, content type, headers, body schema) and none may be a 5xx.

Bounded in time: a fixed number of examples per operation, no shrinking, SQLite only (the
bounds under test are the same on both databases); the whole run takes a minute or two."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dam.context import Context
from dam.models import Role
from dam.worker import run_pending
from tests.campaigns.support import new_campaign, published_asset
from tests.conftest import Keys
from tests.factories import image_bytes, upload

# tus PATCH bodies are plain bytes under their own media type.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

EXAMPLES_PER_OPERATION = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def db_backend() -> str:
    return "sqlite"


@pytest.fixture
def auths(keys: Keys) -> list[dict[str, str]]:
    """Each generated request is sent once with each key."""
    return [keys.headers(Role.admin), keys.headers(Role.marketer)]


@pytest.fixture
def api_schema(client: TestClient, ctx: Context, keys: Keys) -> schemathesis.BaseSchema:
    """The app with something in it: a published asset in a campaign, a draft, metrics."""
    designer = keys.headers(Role.designer)
    admin = keys.headers(Role.admin)
    new_campaign(client, admin, "SCHEMA-1")
    published_asset(client, ctx, designer, seed=1, campaign_ids=["SCHEMA-1"])
    upload(client, designer, image_bytes(size=(640, 480), seed=2))
    run_pending(ctx)
    return schemathesis.openapi.from_asgi("/openapi.json", client.app)


def test_every_operation_answers_as_documented_and_never_5xx(
    api_schema: schemathesis.BaseSchema, auths: list[dict[str, str]]
) -> None:
    """Driven per operation here rather than through schemathesis' pytest plugin (its lazy
    fixture loader does not run on pytest 9); every operation is run and every failure is
    reported at the end, not only the first."""
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 40
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def run(case: schemathesis.Case) -> None:
                for auth in auths:
                    case.call_and_validate(headers=auth, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                # No input of this operation can be made invalid (no parameters, or only
                # string path parameters): nothing to send in the negative mode.
                assert mode == GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # one report for every operation
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
