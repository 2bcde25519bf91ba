"""Fuzz every operation of the OpenAPI schema: no input, valid or not, may cause a 5xx.

The schema is read from the app itself (/api/schema/), and each generated request goes
through the WSGI app in-process, inside the test's database transaction. Each operation
gets a bounded number of examples so the module stays well under a minute.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from core.tokens import api_token_create
from profiles.services import source_create

EXAMPLES_PER_OPERATION = 40
# A fixed seed keeps CI reproducible; FUZZ_SEED=<n> explores other inputs.
SEED = int(os.environ.get("FUZZ_SEED", "20261129"))

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": EXAMPLES_PER_OPERATION, "database": "none"},
        # Coverage enumerates every schema boundary (hundreds of cases for a batch body) and
        # stateful chains calls: both are left to a dedicated, unbounded CLI run.
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)


# Loaded at collection, from the app itself: rendering the schema touches no database.
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/?format=json", get_wsgi_application(), config=CONFIG
)


@pytest.fixture(autouse=True)
def _keep_the_test_connection(db: None) -> Any:
    """Like Django's test client: a request must not close the connection that holds the
    test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def credentials(staff_user: Any) -> dict[str, str]:
    """Authorization headers that get past authentication, by kind of operation."""
    _, write_key = source_create(name="Fuzzed site", kind="web_form")
    _, key = api_token_create(user=staff_user, name="fuzz")
    return {
        "tracking": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode(),
        "staff": f"Token {key}",
    }


@schema.parametrize()
@settings(
    deadline=None,
    # The credentials and the test transaction are meant to be shared by all examples.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_generated_request_causes_a_server_error(case: Any, credentials: dict[str, str]) -> None:
    kind = "tracking" if case.path.startswith("/v1/") else "staff"

    # One savepoint per example, rolled back: a request that breaks the transaction (a 500
    # on PostgreSQL) cannot fail the examples after it, and no example sees another's rows.
    savepoint = transaction.savepoint()
    response = case.call(headers={"Authorization": credentials[kind]})
    transaction.savepoint_rollback(savepoint)

    assert response.status_code < 500, case.as_curl_command()
