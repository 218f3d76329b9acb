"""Quota over a real nats-server: the seed's walk-through, deletion safety, admin-only."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from contracts import subjects
from contracts.envelope import Actor
from contracts.identity import Subjects as IS
from contracts.quota import Subjects as QS
from services.runtime.client import BusClient
from tests.support.identity import bootstrap, connect_as, start_identity, user_payload
from tests.support.quota import start_quota

GIB = 1024**3


@pytest.fixture
async def stack(nats_server, tmp_path: Path, cipher_key: str):
    quota = await start_quota(nats_server, tmp_path / "quota", cipher_key)
    identity = await start_identity(nats_server, tmp_path / "identity", cipher_key)
    nc = await connect_as(nats_server, "admin")
    creds = await bootstrap(nc)
    client = BusClient(nc, Actor(access_key=creds["access_key"]))
    await eventually(lambda: client.query(QS.KEYPAIR_POLICY_LIST, {}), lambda r: r.ok)
    yield client, nc, creds
    await nc.close()
    await identity.stop()
    await quota.stop()


async def eventually(call, check, attempts: int = 100):
    for _ in range(attempts):
        result = await call()
        if check(result):
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition never held; last result: {result}")


async def test_seed_walkthrough_default_policy_limited_to_2_cpu_4_gib_1_fgpu(stack, nats_server):
    client, _, creds = stack
    default = await client.query_or_raise(QS.KEYPAIR_POLICY_GET, {"name": "default"})
    assert default["policy"]["default_for_unspecified"] == "unlimited"
    limits = await eventually(
        lambda: client.query(QS.EFFECTIVE_LIMITS, {"access_key": creds["access_key"]}),
        lambda r: r.ok)  # quota learns the keypair from identity's KeypairIssued
    assert set(limits.data["slots"].values()) == {"unlimited"}

    listener = await connect_as(nats_server, "admin")
    received: list[dict] = []
    # The operator hears published events (core NATS); it cannot create consumers.
    await listener.subscribe(subjects.event("quota", "policy", "updated"),
                             cb=collector(received))
    await listener.flush()

    await client.command_or_raise(QS.KEYPAIR_POLICY_UPDATE, {
        "name": "default",
        "total_resource_slots": {"cpu": "2", "mem": "4", "cuda.shares": "1"},
        "default_for_unspecified": "limited"})

    got = await client.query_or_raise(QS.KEYPAIR_POLICY_GET, {"name": "default"})
    assert got["policy"]["total_resource_slots"] == {"cpu": "2", "mem": str(4 * GIB),
                                                     "cuda.shares": "1"}
    listed = await client.query_or_raise(QS.KEYPAIR_POLICY_LIST, {"name_contains": "def"})
    assert listed["items"][0]["policy"] == got["policy"]
    await eventually(lambda: asyncio.sleep(0, received), lambda r: len(r) == 1)
    event = received[0]
    assert event["type"] == "PolicyUpdated" and event["data"]["name"] == "default"
    assert event["data"]["policy"]["total_resource_slots"]["mem"] == str(4 * GIB)
    limits = await client.query_or_raise(QS.EFFECTIVE_LIMITS, {"access_key": creds["access_key"]})
    assert limits["slots"] == {"cpu": "2", "mem": str(4 * GIB), "cuda.device": "0",
                               "cuda.shares": "1"}
    await listener.close()


def collector(received: list[dict]):
    async def collect(msg) -> None:
        received.append(json.loads(msg.data))

    return collect


async def test_delete_refused_while_a_deactivated_users_keypair_uses_it(stack):
    client, _, _ = stack
    await client.command_or_raise(QS.KEYPAIR_POLICY_CREATE, {
        "name": "student", "total_resource_slots": {"cpu": 1}, "max_concurrent_sessions": 2})
    created = await client.command_or_raise(IS.USER_CREATE, user_payload(1))
    await eventually(lambda: client.command(IS.KEYPAIR_ASSIGN_POLICY, {
        "access_key": created["access_key"], "resource_policy": "student"}), lambda r: r.ok)
    await client.command_or_raise(IS.USER_DEACTIVATE, {"email": "user1@example.com"})

    # quota learns references from identity's events: wait until it has seen this one
    await eventually(lambda: client.query(QS.KEYPAIR_POLICY_GET, {"name": "student"}),
                     lambda r: r.ok and r.data["references"] == 1)
    refused = await client.command(QS.KEYPAIR_POLICY_DELETE, {"name": "student"})
    assert refused.error.code == "quota.policy.in_use"
    assert refused.error.details["references"]["keypairs"] == 1
    assert created["access_key"] in refused.error.details["examples"][0]

    await client.command_or_raise(IS.KEYPAIR_ASSIGN_POLICY, {
        "access_key": created["access_key"], "resource_policy": "default"})
    deleted = await eventually(
        lambda: client.command(QS.KEYPAIR_POLICY_DELETE, {"name": "student"}), lambda r: r.ok)
    assert deleted.data["deleted"] is True
    gone = await client.query(QS.KEYPAIR_POLICY_GET, {"name": "student"})
    assert gone.error.code == "quota.policy.not_found"


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"total_resource_slots": {"cpu": 513}}, "quota.policy.out_of_range",
     "total_resource_slots.cpu"),
    ({"total_resource_slots": {"mem": -1}}, "quota.policy.out_of_range",
     "total_resource_slots.mem"),
    ({"total_resource_slots": {"cuda.shares": "0.15"}}, "quota.policy.bad_step",
     "total_resource_slots.cuda.shares"),
    ({"total_resource_slots": {"tpu": 1}}, "quota.policy.unknown_slot",
     "total_resource_slots.tpu"),
    ({"idle_timeout": "soon"}, "quota.policy.not_a_number", "idle_timeout"),
    ({"max_concurrent_sessions": 101}, "quota.policy.out_of_range", "max_concurrent_sessions"),
    ({"max_vfolder_count": 51}, "quota.policy.out_of_range", "max_vfolder_count"),
    ({"new_name": "renamed"}, "quota.policy.name_immutable", "new_name"),
])
async def test_out_of_range_values_are_refused_naming_field_and_range(stack, fields, code, field):
    client, _, _ = stack
    reply = await client.command(QS.KEYPAIR_POLICY_UPDATE, {"name": "default", **fields})
    assert reply.error.code == code and reply.error.details["field"] == field
    got = await client.query_or_raise(QS.KEYPAIR_POLICY_GET, {"name": "default"})
    assert got["policy"]["default_for_unspecified"] == "unlimited"


async def test_policy_commands_need_a_superadmin(stack):
    client, nc, _ = stack
    created = await client.command_or_raise(IS.USER_CREATE, user_payload(2, role="admin"))
    as_admin = BusClient(nc, Actor(access_key=created["access_key"]))
    refused = await eventually(
        lambda: as_admin.command(QS.KEYPAIR_POLICY_CREATE, {"name": "mine"}),
        lambda r: not r.ok and r.error.code != "quota.auth.unauthenticated")
    assert refused.error.code == "quota.auth.forbidden"


async def test_identity_refuses_policy_names_quota_never_announced(stack):
    client, _, _ = stack
    created = await client.command_or_raise(IS.USER_CREATE, user_payload(3))
    refused = await client.command(IS.KEYPAIR_ASSIGN_POLICY, {
        "access_key": created["access_key"], "resource_policy": "ghost"})
    assert refused.error.code == "identity.policy.unknown"
    await client.command_or_raise(QS.KEYPAIR_POLICY_CREATE, {"name": "ghost"})
    await eventually(lambda: client.command(IS.KEYPAIR_ASSIGN_POLICY, {
        "access_key": created["access_key"], "resource_policy": "ghost"}), lambda r: r.ok)
