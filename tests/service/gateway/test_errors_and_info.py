"""One error table; 503 names the silent service, 504 the slow one; /info, /health, /metrics."""

from __future__ import annotations

import re

import httpx
import pytest

from contracts.scheduler import Subjects as SchedulerSubjects
from services.gateway.errors import status_for
from tests.support.gateway import GatewayStack
from tests.support.identity import connect_as


@pytest.mark.parametrize(("code", "status"), [
    ("identity.user.not_found", 404), ("quota.policy.not_found", 404),
    ("identity.user.email_taken", 409), ("quota.policy.name_taken", 409),
    ("quota.policy.in_use", 409), ("identity.command.id_reused", 409),
    ("identity.auth.forbidden", 403), ("identity.auth.unauthenticated", 401),
    ("gateway.auth.signature_mismatch", 401), ("identity.request.malformed", 400),
    ("identity.request.invalid", 422), ("identity.user.password_too_weak", 400),
    ("quota.policy.out_of_range", 400), ("gateway.rate_limit.exceeded", 429),
    ("gateway.service.unavailable", 503), ("gateway.service.timeout", 504),
    ("identity.internal", 502), ("scheduler.session.exceeds_policy", 400),
    ("rbac.role.not_found", 404), ("rbac.role.name_taken", 409), ("rbac.role.active", 409),
    ("rbac.role.not_empty", 409), ("rbac.role.inactive", 409), ("rbac.permission.exists", 409),
    ("rbac.assignment.exists", 409), ("rbac.permission.operation_invalid", 400),
    ("rbac.permission.scope_not_in_role", 400), ("rbac.role.name_reserved", 400),
])
def test_codes_map_to_statuses_from_one_table(code: str, status: int) -> None:
    assert status_for(code) == status


def test_a_service_nobody_answers_for_is_503_naming_it(tmp_path) -> None:
    stack = GatewayStack(tmp_path, request_timeout=0.5).start()
    try:
        with stack.client() as root:
            sessions = root.get("/sessions")  # no scheduler runs in this stack
            assert sessions.status_code == 503
            assert sessions.json()["error"] == {
                "code": "gateway.service.unavailable",
                "message": "no scheduler service is answering",
                "details": {"service": "scheduler"}}
            stack.stop_service("quota")
            policies = root.get("/resource-policies/keypair")
            assert (policies.status_code, policies.json()["error"]["details"]) == (
                503, {"service": "quota"})
            assert root.get("/users").status_code == 200  # the rest goes on

            # A scheduler that takes the request and never answers: 504 after the timeout.
            # (Connected as the scheduler's NATS user: only it may listen on its subjects.)
            async def ignore(msg: object) -> None:
                return None

            async def swallow() -> object:
                nc = await connect_as(stack.nats, "scheduler")
                await nc.subscribe(SchedulerSubjects.SESSION_LIST, cb=ignore)
                await nc.subscribe(SchedulerSubjects.AGENT_LIST, cb=ignore)  # /info's probe
                await nc.flush()
                return nc

            silent = stack.run(swallow())
            slow = root.get("/sessions")
            assert (slow.status_code, slow.json()["error"]["code"]) == (
                504, "gateway.service.timeout")
            assert "scheduler did not answer within 0.5s" in slow.json()["error"]["message"]
            # The information page reports it (its probe times out), and still answers.
            info = root.get("/info")
            assert info.status_code == 200
            assert {s["service"]: s["status"] for s in info.json()["services"]}[
                "scheduler"] == "unresponsive"
            stack.run(silent.close())  # type: ignore[attr-defined]
    finally:
        stack.stop()


def test_information_lists_services_nats_stores_and_license(root: httpx.Client) -> None:
    answer = root.get("/info")
    assert answer.status_code == 200, answer.text
    info = answer.json()
    assert info["license"] == "Apache-2.0" and info["api_version"] == "v8.20240915"
    services = {s["service"]: s for s in info["services"]}
    for name in ("identity", "quota"):
        assert services[name]["status"] == "ok" and services[name]["source"] == "health"
        assert services[name]["store"] == "sqlite" and services[name]["version"]
    assert services["gateway"]["status"] == "ok"
    assert services["scheduler"]["status"] == "down"  # probed over the bus: nobody answers
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", info["nats"]["server_version"])
    assert info["nats"]["jetstream"] is True
    assert info["event_store"] == {"backends": ["sqlite", "postgresql"], "in_use": ["sqlite"]}


def test_information_is_for_admins(stack: GatewayStack, root: httpx.Client) -> None:
    from tests.support.gateway import new_user

    creds = root.post("/users", json=new_user("infouser")).json()
    with stack.client(creds["access_key"], creds["secret_key"]) as user:
        assert user.get("/info").status_code == 403


def test_api_root_health_and_metrics_per_route_template_and_status(stack: GatewayStack,
                                                                   root: httpx.Client) -> None:
    anonymous = httpx.Client(base_url=stack.url)
    assert anonymous.get("/").json()["version"] == "v8.20240915"
    health = anonymous.get("/health").json()
    assert health["status"] == "ok" and health["checks"]["nats"]["ok"] is True
    root.get("/users/nobody@example.com")
    root.get("/users/nobody@example.com")
    metrics = anonymous.get("/metrics").text
    assert re.search(r'bai_http_requests_total\{method="GET",route="/users/\{email\}",'
                     r'status="404"\} 2\.0', metrics), metrics[-3000:]
    assert 'bai_http_request_seconds_bucket{le="0.005",method="GET",route="/users/{email}"' in (
        metrics)
    unmatched = anonymous.get("/no/such/route")
    assert (unmatched.status_code, unmatched.json()["error"]["code"]) == (
        404, "gateway.route.not_found")
    assert 'route="unmatched"' in anonymous.get("/metrics").text


def test_a_request_id_is_echoed_and_carried_as_correlation(root: httpx.Client) -> None:
    answer = root.get("/users", headers={"X-Request-ID": "trace-123"})
    assert answer.headers["X-Request-ID"] == "trace-123"
    assert len(root.get("/users").headers["X-Request-ID"]) == 32


def test_idempotency_key_replays_the_first_reply(root: httpx.Client) -> None:
    from tests.support.gateway import new_user

    first = root.post("/users", json=new_user("idem"), headers={"Idempotency-Key": "create-1"})
    again = root.post("/users", json=new_user("idem"), headers={"Idempotency-Key": "create-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = root.post("/users", json=new_user("idem2"), headers={"Idempotency-Key": "create-1"})
    assert (other.status_code, other.json()["error"]["code"]) == (409,
                                                                   "identity.command.id_reused")

