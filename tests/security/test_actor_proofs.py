"""No service believes a claimed actor: every command and query needs a proof its receiver
verifies (a token signed by identity, or a component's system proof), against a real stack
(identity, quota, rbac, scheduler, an agent) on a real nats-server."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from contracts import agent as ac
from contracts import identity, quota, rbac, scheduler
from contracts.envelope import Actor, Command, Query, Reply
from contracts.identity import Subjects as IS
from contracts.principals import SECRET_QUERIES
from contracts.scheduler import Subjects as SS
from services.runtime.client import BusClient
from services.runtime.proofs import (
    ProofSigner,
    ProofVerifier,
    new_private_key,
    parse_keys,
    public_key_of,
)
from tests.support.agent import unique_label_prefix
from tests.support.identity import (
    SUPERADMIN_EMAIL,
    SUPERADMIN_PASSWORD,
    connect_as,
    user_payload,
)
from tests.support.stack import Stack, eventually, start_stack

AGENT = "local"
STACK_ID = "test-stack"  # tests/conftest.py


def every_command_subject() -> set[str]:
    found = {s for m in (identity, quota, scheduler, rbac) for s in m.COMMAND_NEEDS}
    return found | set(ac.command_needs(AGENT))


def every_query_subject() -> set[str]:
    found = {s for m in (identity, quota, scheduler, rbac) for s in m.QUERY_PAYLOADS}
    return found - {IS.BUS_LOGIN}  # the one message that hands out a proof


async def ask_as(nc: Any, subject: str, actor: Actor, proof: str | None) -> Reply:
    body = Query(actor=actor, data={}, proof=proof)
    msg = await nc.request(subject, body.model_dump_json().encode(), timeout=10)
    return Reply.model_validate_json(msg.data)


@pytest.fixture
async def stack(nats_server, tmp_path, cipher_key: str):  # type: ignore[no-untyped-def]
    running = await start_stack(nats_server, tmp_path, cipher_key, "simulated",
                                unique_label_prefix())
    yield running
    await running.stop()


async def ask(stack: Stack, subject: str, actor: Actor, proof: str | None,
              data: dict[str, Any] | None = None) -> Reply:
    if ".cmd." in subject:
        body = Command(id=f"t-{time.monotonic_ns()}", actor=actor, data=data or {},
                       proof=proof)
    else:
        body = Query(actor=actor, data=data or {}, proof=proof)
    msg = await stack.nc.request(subject, body.model_dump_json().encode(), timeout=10)
    return Reply.model_validate_json(msg.data)


def code(reply: Reply) -> str:
    assert not reply.ok and reply.error is not None, reply
    return reply.error.code


async def user_of(stack: Stack, n: int) -> tuple[dict[str, Any], BusClient]:
    created = await stack.client.command_or_raise(IS.USER_CREATE, user_payload(f"p{n}"))
    client = BusClient(stack.nc, Actor(access_key=created["access_key"]), timeout=10,
                       positions=stack.client.positions)
    return created, client


async def test_a_claimed_actor_without_proof_is_refused_on_every_command_and_query_subject(
        stack: Stack) -> None:
    root = Actor(access_key=stack.creds["access_key"])
    subjects = sorted(every_command_subject() | every_query_subject())
    for subject in subjects:
        if subject in SECRET_QUERIES:  # only the gateway's NATS user may publish them
            continue
        for actor in (root, Actor(system="scheduler"), Actor(system="bootstrap")):
            reply = await ask(stack, subject, actor, None)
            assert code(reply).endswith(".auth.token_missing"), (subject, actor, reply)
    gateway_nc = await connect_as(stack.server, "gateway")
    try:
        for subject in SECRET_QUERIES:
            for actor in (root, Actor(system="gateway")):
                reply = await ask_as(gateway_nc, subject, actor, None)
                assert code(reply).endswith(".auth.token_missing"), (subject, actor, reply)
    finally:
        await gateway_nc.close()
    assert len(subjects) > 40


async def test_forged_tampered_and_borrowed_tokens_are_refused(stack: Stack) -> None:
    root = Actor(access_key=stack.creds["access_key"])
    forger = ProofSigner(new_private_key(), STACK_ID)  # not identity's key
    forged, _ = forger.user_token("someone", root.access_key or "")
    _, plain = await user_of(stack, 1)
    genuine = plain.current_proof() or ""
    header, claims, signature = genuine.split(".")
    swapped = json.loads(base64.urlsafe_b64decode(claims + "=="))
    swapped["ak"] = root.access_key
    tampered = ".".join([header, base64.urlsafe_b64encode(json.dumps(swapped).encode())
                         .rstrip(b"=").decode(), signature])
    for subject in (IS.USER_LIST, SS.SESSION_LIST, quota.Subjects.KEYPAIR_POLICY_GET):
        assert code(await ask(stack, subject, root, forged)).endswith(".auth.token_invalid")
        assert code(await ask(stack, subject, root, tampered)).endswith(".auth.token_invalid")
        assert code(await ask(stack, subject, root, "not.a.token")).endswith(
            ".auth.token_invalid")
        # a genuine token of a plain user, under the superadmin's name
        assert code(await ask(stack, subject, root, genuine)).endswith(".auth.token_invalid")


async def test_expired_and_other_stack_tokens_are_refused(stack: Stack) -> None:
    root = Actor(access_key=stack.creds["access_key"])
    test_key = ProofSigner.from_env()
    assert test_key is not None
    expired, _ = test_key.user_token("u", root.access_key or "", ttl=60,
                                     now=time.time() - 120)
    other = ProofSigner(_same_key(), "other-stack")  # the same key, another stack
    foreign, _ = other.user_token("u", root.access_key or "")
    for subject in (IS.USER_LIST, SS.SESSION_LIST, IS.USER_CREATE):
        assert code(await ask(stack, subject, root, expired)).endswith(".auth.token_expired")
        assert code(await ask(stack, subject, root, foreign)).endswith(".auth.token_foreign")


def _same_key() -> str:
    import os

    return os.environ["BAIKAL_SIGNING_KEY"]


async def test_a_deactivated_users_token_is_refused_right_after_the_deactivation_returns(
        stack: Stack) -> None:
    for n in range(5):
        created, user = await user_of(stack, 10 + n)
        assert (await user.query(SS.SESSION_LIST, {})).ok
        await stack.client.command_or_raise(IS.USER_DEACTIVATE, {"email": created["email"]})
        user.positions = dict(stack.client.positions)  # the position token, handed on
        for subject in (SS.SESSION_LIST, IS.USER_LIST, quota.Subjects.KEYPAIR_POLICY_GET):
            reply = await user.query(subject, {"name": "default"} if "policy" in subject
                                     else {})
            assert code(reply).endswith(".auth.inactive"), (subject, reply)


async def test_a_deactivated_keypairs_token_is_refused_right_after(stack: Stack) -> None:
    created, user = await user_of(stack, 20)
    assert (await user.query(SS.SESSION_LIST, {})).ok
    await stack.client.command_or_raise(IS.KEYPAIR_DEACTIVATE,
                                        {"access_key": created["access_key"]})
    user.positions = dict(stack.client.positions)
    assert code(await user.query(SS.SESSION_LIST, {})).endswith("scheduler.auth.inactive")
    assert code(await user.command(IS.USER_UPDATE, {"email": created["email"],
                                                    "full_name": "x"})).endswith(
        "identity.auth.inactive")


async def test_a_bus_user_logs_in_for_a_token_that_proves_it(stack: Stack) -> None:
    login = BusClient(stack.nc, Actor(), proof="")
    answer = await login.query_or_raise(IS.BUS_LOGIN, {"email": SUPERADMIN_EMAIL,
                                                       "password": SUPERADMIN_PASSWORD})
    assert "secret_key" not in answer and answer["expires_at"] > time.time()
    me = BusClient(stack.nc, Actor(access_key=answer["access_key"]), proof=answer["token"])
    assert (await me.query(SS.SESSION_LIST, {})).ok
    wrong = await login.query(IS.BUS_LOGIN, {"email": SUPERADMIN_EMAIL, "password": "nope"})
    assert code(wrong) == "identity.auth.invalid_credentials"


async def test_only_the_gateway_may_ask_for_a_users_token_or_secret(stack: Stack) -> None:
    """Even on the gateway's NATS user, a proof of another actor than the gateway is refused."""
    gateway_nc = await connect_as(stack.server, "gateway")
    try:
        as_root = BusClient(gateway_nc, Actor(access_key=stack.creds["access_key"]))
        for subject in (IS.TOKEN_ISSUE, IS.KEYPAIR_RESOLVE):
            reply = await as_root.query(subject, {"access_key": stack.creds["access_key"]})
            assert code(reply) == "identity.auth.forbidden"
        gateway = BusClient(gateway_nc, Actor(system="gateway"))
        issued = await gateway.query_or_raise(IS.TOKEN_ISSUE,
                                              {"access_key": stack.creds["access_key"]})
    finally:
        await gateway_nc.close()
    assert issued["user_id"] == stack.creds["user_id"]


def test_a_system_proof_verifies_only_with_the_key_of_the_component_it_names() -> None:
    scheduler_key, bootstrap_key, identity_key = (new_private_key() for _ in range(3))
    verifier = ProofVerifier(parse_keys(",".join(
        f"{n}={public_key_of(k)}" for n, k in (("scheduler", scheduler_key),
                                               ("bootstrap", bootstrap_key),
                                               ("identity", identity_key)))), STACK_ID)
    scheduler_signs = ProofSigner(scheduler_key, STACK_ID)
    assert verifier.verify(scheduler_signs.system_proof("scheduler")) == Actor(
        system="scheduler")
    for token in (scheduler_signs.system_proof("bootstrap"),  # another component's name
                  scheduler_signs.sign("scheduler", {"sys": "bootstrap"})[0],
                  scheduler_signs.user_token("u", "AKIA" + "A" * 16)[0],  # not identity
                  ProofSigner(new_private_key(), STACK_ID).system_proof("scheduler")):
        with pytest.raises(Exception) as caught:
            verifier.verify(token)
        assert getattr(caught.value, "code", "") == "auth.token_invalid", token
    assert verifier.verify(ProofSigner(identity_key, STACK_ID).user_token(
        "u", "AKIA" + "A" * 16)[0]).access_key == "AKIA" + "A" * 16


async def test_the_stack_still_works_with_proofs(stack: Stack) -> None:
    created, user = await user_of(stack, 30)
    reply = await eventually(lambda: user.command(SS.SESSION_REQUEST, {
        "name": "p", "image": "baikal/busybox:latest", "session_type": "batch",
        "command": ["true"], "slots": {"cpu": "0.1", "mem": "64m"}}), lambda r: r.ok)
    assert reply.data is not None and reply.data["status"] == "PENDING"


async def test_baikal_login_keeps_a_private_token_that_the_bus_commands_use(
        stack: Stack, tmp_path: Path) -> None:
    import asyncio

    from typer.testing import CliRunner

    from services.cli.main import app

    data_dir = tmp_path / "cli"
    data_dir.mkdir()
    (data_dir / "stack.json").write_text(json.dumps({"nats_port": stack.server.port}))
    (data_dir / "secrets.json").write_text(json.dumps(
        {"nats": {"admin": stack.server.passwords["admin"]}}))
    runner = CliRunner()

    def baikal(*args: str) -> Any:
        return runner.invoke(app, [*args, "--data-dir", str(data_dir)])

    refused = await asyncio.to_thread(baikal, "login", "--email", SUPERADMIN_EMAIL,
                                      "--password", "wrong")
    assert refused.exit_code == 3, refused.output
    done = await asyncio.to_thread(baikal, "login", "--email", SUPERADMIN_EMAIL,
                                   "--password", SUPERADMIN_PASSWORD)
    assert done.exit_code == 0, done.output
    session = data_dir / "bus-session.json"
    assert session.stat().st_mode & 0o777 == 0o600
    assert "secret_key" not in json.loads(session.read_text())
    created = await asyncio.to_thread(baikal, "bus", "command", IS.USER_CREATE,
                                      json.dumps(user_payload("cli")))
    assert created.exit_code == 0, created.output
    assert json.loads(session.read_text())["positions"]["identity"] > 0
    listed = await asyncio.to_thread(baikal, "bus", "query", SS.SESSION_LIST, "{}")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)["status"] == "accepted"
