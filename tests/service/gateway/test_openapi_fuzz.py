"""schemathesis against the published OpenAPI document, authenticated, over every operation:
no 5xx, every status documented, every body and content type as documented.

Bounded: schemathesis' examples and coverage phases (boundary values of every parameter) plus
five fuzzed cases per operation, derandomized; about 2,500 requests, under 40 s on 2 cores.
The scheduler runs in-process, so session routes answer instead of 503."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.gateway import GatewayStack

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayStack, str]]:
    stack = GatewayStack(tmp_path_factory.mktemp("fuzz"), scheduler=True).start()
    login = httpx.post(f"{stack.url}/auth/login", json={
        "email": stack.root["email"], "password": "Sup3r-secret!"}, timeout=10)
    assert login.status_code == 200, login.text
    yield stack, login.json()["token"]
    stack.stop()


@pytest.fixture(scope="module")
def api_schema(fuzzed: tuple[GatewayStack, str]) -> schemathesis.BaseSchema:
    stack, _ = fuzzed
    return schemathesis.openapi.from_url(f"{stack.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=5, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_the_openapi_document_says(case: schemathesis.Case,
                                  fuzzed: tuple[GatewayStack, str]) -> None:
    stack, token = fuzzed
    case.call_and_validate(base_url=stack.url, headers={"Authorization": f"Bearer {token}"},
                           checks=CHECKS, timeout=15)


def test_the_document_covers_every_area(api_schema: schemathesis.BaseSchema) -> None:
    paths = set(api_schema.raw_schema["paths"])
    for expected in ("/users", "/keypairs", "/domains", "/projects", "/resource-policies/keypair",
                     "/resource-policies/user", "/resource-policies/project",
                     "/keypairs/{access_key}/effective-limits", "/sessions", "/agents",
                     "/resource-indicator", "/events", "/exports/users", "/info", "/auth/login",
                     "/roles", "/roles/{role_id}/permissions", "/roles/{role_id}/assignments",
                     "/rbac/users", "/permissions/check", "/permissions/check-batch",
                     "/resource/recalculate-usage", "/resource/usage",
                     "/folders", "/folders/{name}/invite", "/folders/invitations/list",
                     "/folders/{name}/file", "/folders/{name}/files"):
        assert expected in paths
