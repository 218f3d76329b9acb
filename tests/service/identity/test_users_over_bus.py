"""Identity over a real nats-server: users, keypairs, idempotency, events on the stream."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from contracts import subjects
from contracts.envelope import Actor
from contracts.identity import Subjects as S
from services.runtime.client import BusClient
from tests.support.identity import (
    bootstrap,
    connect_as,
    new_id,
    start_identity,
    user_payload,
)


@pytest.fixture
async def stack(nats_server, tmp_path: Path, cipher_key: str):
    host = await start_identity(nats_server, tmp_path / "data", cipher_key)
    nc = await connect_as(nats_server, "admin")
    creds = await bootstrap(nc)
    client = BusClient(nc, Actor(access_key=creds["access_key"]))
    yield client, nc, host
    await nc.close()
    await host.stop()


async def stream_events(nc, service: str = "identity") -> list[dict]:
    js = nc.jetstream()
    info = await js.stream_info(subjects.stream(service))
    events = []
    for seq in range(1, info.state.last_seq + 1):
        msg = await js.get_msg(subjects.stream(service), seq=seq)
        events.append(json.loads(msg.data))
    return events


async def test_created_user_is_listed_with_its_default_keypair(stack):
    client, _, _ = stack
    created = await client.command_or_raise(S.USER_CREATE, user_payload(1))
    assert created["access_key"].startswith("AKIA") and len(created["access_key"]) == 20
    assert len(created["secret_key"]) == 40
    assert created["username"] == "user1"
    user = await client.query_or_raise(S.USER_GET, {"email": "USER1@example.com"})
    assert user["full_name"] == "User 1"
    assert [k["access_key"] for k in user["keypairs"]] == [created["access_key"]]
    assert "secret_key" not in user["keypairs"][0]
    listed = await client.query_or_raise(S.USER_LIST, {"email_contains": "user1"})
    assert [u["email"] for u in listed["items"]] == ["user1@example.com"]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"email": ""}, "identity.user.email_empty"),
        ({"email": "x" * 60 + "@example.com"}, "identity.user.email_too_long"),
        ({"email": "not-an-email"}, "identity.user.email_invalid"),
        ({"password": "", "password_confirm": ""}, "identity.user.password_empty"),
        ({"password_confirm": None}, "identity.user.password_confirmation_missing"),
        ({"password_confirm": "Other0rd!"}, "identity.user.password_confirmation_mismatch"),
        ({"password": "short1!", "password_confirm": "short1!"}, "identity.user.password_too_weak"),
        ({"password": "NoDigits!!", "password_confirm": "NoDigits!!"},
         "identity.user.password_too_weak"),
        ({"username": "u" * 65}, "identity.user.username_too_long"),
        ({"full_name": "f" * 65}, "identity.user.full_name_too_long"),
        ({"domain": "nowhere"}, "identity.domain.not_found"),
        ({"role": "emperor"}, "identity.request.invalid"),
    ],
)
async def test_each_invalid_field_gets_its_own_code(stack, overrides, code):
    client, _, _ = stack
    reply = await client.command(S.USER_CREATE, user_payload(2, **overrides))
    assert not reply.ok
    assert reply.error.code == code
    listed = await client.query_or_raise(S.USER_LIST, {"status": None})
    assert listed["total"] == 1  # only the superadmin: nothing was stored


async def test_email_and_username_are_unique(stack):
    client, _, _ = stack
    await client.command_or_raise(S.USER_CREATE, user_payload(3))
    taken = await client.command(S.USER_CREATE, user_payload(3, username="other"))
    assert taken.error.code == "identity.user.email_taken"
    taken = await client.command(S.USER_CREATE, user_payload(4, username="user3"))
    assert taken.error.code == "identity.user.username_taken"


async def test_duplicate_command_id_returns_first_result_and_changes_nothing(stack):
    client, nc, _ = stack
    command_id = new_id()
    first = await client.command_or_raise(S.USER_CREATE, user_payload(5), command_id=command_id)
    again = await client.command_or_raise(S.USER_CREATE, user_payload(5), command_id=command_id)
    assert again == first
    reused = await client.command(S.USER_CREATE, user_payload(6), command_id=command_id)
    assert reused.error.code == "identity.command.id_reused"
    listed = await client.query_or_raise(S.USER_LIST, {"email_contains": "user"})
    assert listed["total"] == 1
    await asyncio.sleep(0.5)
    created = [e for e in await stream_events(nc) if e["type"] == "UserCreated"]
    assert [e["data"]["email"] for e in created].count("user5@example.com") == 1


async def test_deactivation_takes_keypairs_and_reactivation_leaves_them(stack):
    client, nc, _ = stack
    created = await client.command_or_raise(S.USER_CREATE, user_payload(7))
    second = await client.command_or_raise(S.KEYPAIR_ISSUE, {"email": "user7@example.com"})
    await client.command_or_raise(S.USER_DEACTIVATE, {"email": "user7@example.com"})
    keypairs = await client.query_or_raise(S.KEYPAIR_LIST,
                                           {"is_active": None, "email_contains": "user7"})
    assert {k["access_key"]: k["is_active"] for k in keypairs["items"]} == {
        created["access_key"]: False, second["access_key"]: False}
    inactive = await client.query_or_raise(S.USER_LIST, {"status": "inactive"})
    assert [u["email"] for u in inactive["items"]] == ["user7@example.com"]

    await client.command_or_raise(S.USER_ACTIVATE, {"email": "user7@example.com"})
    keypairs = await client.query_or_raise(S.KEYPAIR_LIST,
                                           {"is_active": None, "email_contains": "user7"})
    assert not any(k["is_active"] for k in keypairs["items"])
    await client.command_or_raise(S.KEYPAIR_ACTIVATE, {"access_key": second["access_key"]})

    await asyncio.sleep(0.5)
    types = [e["type"] for e in await stream_events(nc) if e["data"].get("user_id")
             == created["user_id"]]
    assert types[:1] == ["UserCreated"]
    assert "UserDeactivated" in types and "UserActivated" in types
    deactivated = next(e for e in await stream_events(nc) if e["type"] == "UserDeactivated")
    assert sorted(deactivated["data"]["deactivated_keypairs"]) == sorted(
        [created["access_key"], second["access_key"]])
    assert deactivated["causation_id"] is not None and deactivated["actor"]["access_key"]


async def test_inactive_users_cannot_log_in_nor_authenticate(stack, nats_server):
    client, _, _ = stack
    created = await client.command_or_raise(S.USER_CREATE, user_payload(8))
    gateway = await connect_as(nats_server, "gateway")
    as_gateway = BusClient(gateway, Actor(system="gateway"))
    login = {"email": "user8@example.com", "password": "Passw0rd!"}
    ok = await as_gateway.query_or_raise(S.LOGIN, login)
    assert ok["access_key"] == created["access_key"] and ok["secret_key"] == created["secret_key"]
    wrong = await as_gateway.query(S.LOGIN, login | {"password": "Wrong0rd!"})
    assert wrong.error.code == "identity.auth.invalid_credentials"
    await client.command_or_raise(S.USER_DEACTIVATE, {"email": "user8@example.com"})
    refused = await as_gateway.query(S.LOGIN, login)
    assert refused.error.code == "identity.auth.invalid_credentials"
    resolve = await as_gateway.query(S.KEYPAIR_RESOLVE, {"access_key": created["access_key"]})
    assert resolve.error.code == "identity.keypair.inactive"
    await gateway.close()


async def test_users_without_admin_role_are_refused(stack):
    client, nc, _ = stack
    created = await client.command_or_raise(S.USER_CREATE, user_payload(9))
    as_user = BusClient(nc, Actor(access_key=created["access_key"]))
    refused = await as_user.command(S.USER_CREATE, user_payload(10))
    assert refused.error.code == "identity.auth.forbidden"
    stranger = BusClient(nc, Actor(access_key="AKIAAAAAAAAAAAAAAAAA"))
    refused = await stranger.command(S.USER_CREATE, user_payload(11))
    assert refused.error.code == "identity.auth.unauthenticated"
