"""Schemathesis against the dashboard's own OpenAPI schema: generated requests, valid and
invalid, to every operation never get a 5xx, and only get status codes the schema documents,
with the documented content type and body shape. The app runs in-process on a real
PostgreSQL (seeded with jobs in every state)."""

from __future__ import annotations

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from queuectl.dashboard import app as dashboard_app
from queuectl.dashboard import security
from tests.dashboard.helpers import seed_standard

CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(engine: sa.Engine):
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE jobs, job_deps, metrics, workers, config"))
    seed_standard(engine)
    app = dashboard_app.create_app(engine, guard=security.Guard(token=None, local_only=False))
    return schemathesis.openapi.from_asgi("/api/openapi.json", app)


def operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


def test_the_schema_has_every_operation(api_schema):
    labels = {op.label for op in operations(api_schema)}
    assert {"GET /api/jobs", "GET /api/jobs/{job_id}", "POST /api/jobs/{job_id}/retry",
            "POST /api/dlq/retry", "GET /api/overview", "GET /api/config"} <= labels


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_only_documented_codes_and_never_a_server_error(api_schema, mode):
    exercised = []
    for operation in operations(api_schema):

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case) -> None:
            case.call_and_validate(headers={"X-Queuectl-Action": "1"}, checks=CHECKS)

        try:
            check()
        except Unsatisfiable:
            # No invalid request exists for it (no parameters, or any string is a valid id).
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        exercised.append(operation.label)
    assert "GET /api/jobs" in exercised
