"""The guard for event-shape changes: a data dir written by an earlier version
(`tests/fixtures/datadir-v1/`, made by `tests/fixtures/make_datadir.py`) opens with today's
code under `baikal up`, and everything in it is found again through the gateway."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.cli.admin_client import Credentials, GatewayClient, load_credentials
from services.cli.stack import free_port
from tests.support.up import READY, read_until, start_up, stop_up

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "datadir-v1"


def eventually(call: Callable[[], Any], check: Callable[[Any], bool],
               timeout: float = 30.0) -> Any:
    result = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = call()
        if check(result):
            return result
        time.sleep(0.2)
    raise AssertionError(f"condition never held; last: {result}")


@pytest.fixture
def opened(tmp_path: Path):
    data = tmp_path / "stack"
    shutil.copytree(FIXTURE, data)
    data.chmod(0o700)
    proc, lines = start_up(data, free_port())
    try:
        read_until(proc, lines, READY, timeout=120)
        yield data, json.loads((FIXTURE / "expected.json").read_text())
    finally:
        stop_up(proc, lines)


@pytest.mark.timeout(240)
def test_a_data_dir_of_the_first_version_opens_with_nothing_lost(opened) -> None:
    data, expected = opened
    root = GatewayClient(load_credentials(data))
    alice, bob = expected["users"]["alice"], expected["users"]["bob"]
    try:
        users = {u["email"]: u for u in eventually(
            lambda: root.call("GET", "/users", params={"status": "all", "limit": 100}),
            lambda r: r["total"] >= 3)["items"]}
        assert users["alice@example.com"]["user_id"] == alice["user_id"]
        assert users["alice@example.com"]["role"] == "user"
        assert users["bob@example.com"]["user_id"] == bob["user_id"]
        assert users["bob@example.com"]["role"] == "admin"
        shown = root.call("GET", "/users/alice@example.com")
        assert {k["access_key"] for k in shown["keypairs"]} == {
            alice["access_key"], expected["keypairs"]["alice_second"]}
        assert [p["project_id"] for p in shown["projects"]] == [
            expected["project"]["project_id"]]

        keypairs = {k["access_key"]: k for k in root.call(
            "GET", "/keypairs", params={"status": "all", "limit": 100})["items"]}
        second = keypairs[expected["policy"]["assigned_to"]]
        assert second["resource_policy"] == "fixture-policy"
        policy = root.call("GET", "/resource-policies/keypair/fixture-policy")
        assert policy["policy"]["max_concurrent_sessions"] == expected["policy"][
            "max_concurrent_sessions"]
        assert policy["policy"]["total_resource_slots"]["cpu"] in ("4", 4)

        projects = {p["project_id"]: p for p in root.call("GET", "/projects")["items"]}
        assert projects[expected["project"]["project_id"]]["name"] == "fixture-lab"
        bob_shown = root.call("GET", "/users/bob@example.com")
        assert [p["project_id"] for p in bob_shown["projects"]] == [
            expected["project"]["project_id"]]

        role = eventually(lambda: root.call("GET", f"/roles/{expected['role']['role_id']}"),
                          lambda r: bool(r["assignments"]))
        assert role["name"] == "fixture-role" and role["status"] == "active"
        assert sorted(p["permission_id"] for p in role["permissions"]) == expected["role"][
            "permission_ids"]
        assert [a["user_id"] for a in role["assignments"]] == expected["role"]["assigned"]
        check = {"user_id": alice["user_id"], "operation": "read", "entity_type": "session",
                 "scope_type": "domain", "scope_id": expected["domain_id"]}
        assert root.call("POST", "/permissions/check", body=check)["allowed"] is True

        session = root.call("GET", f"/sessions/{expected['session']['session_id']}")
        assert (session["name"], session["status"]) == ("fixture-run",
                                                        expected["session"]["status"])
    finally:
        root.close()
    # alice's stored secret (encrypted at rest with the stored cipher key) still signs
    endpoint = load_credentials(data).endpoint
    as_alice = GatewayClient(Credentials(endpoint, alice["access_key"], alice["secret_key"]))
    try:
        assert as_alice.call("GET", "/auth/whoami")["user_id"] == alice["user_id"]
    finally:
        as_alice.close()


@pytest.mark.timeout(240)
def test_todays_specific_events_flow_on_from_an_opened_data_dir_of_the_first_version(
        opened) -> None:
    """Old streams and stores, new commands: a demotion is UserRoleChanged now, and rbac
    (which learnt bob's admin role from the retired shapes) takes the domain admin role back."""
    data, expected = opened
    root = GatewayClient(load_credentials(data))
    bob = expected["users"]["bob"]
    may_create_users = {"user_id": bob["user_id"], "operation": "create", "entity_type": "user",
                        "scope_type": "domain", "scope_id": expected["domain_id"]}
    try:
        eventually(lambda: root.call("POST", "/permissions/check", body=may_create_users),
                   lambda r: r["allowed"] is True)
        root.call("PATCH", "/users/bob@example.com", body={"role": "user", "username": "bobby"})
        eventually(lambda: root.call("POST", "/permissions/check", body=may_create_users),
                   lambda r: r["allowed"] is False)
        shown = root.call("GET", "/users/bob@example.com")
        assert (shown["role"], shown["username"]) == ("user", "bobby")
    finally:
        root.close()
