"""Restart the quota service (SIGKILL) and the NATS server in the middle of a stream of policy
updates: no update lost, no PolicyUpdated published twice, reference counts still right.

quota and identity run as real child processes against a real nats-server whose JetStream
data lives in the test's directory (so it survives the server's restart). The client sends
its updates one at a time, each with its own command id, and retries with the SAME id on a
timeout, "no responders" or a transient refusal until the update is accepted — as a real
client would. Meanwhile identity issues keypairs and users referencing the policies.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from nats.aio.client import Client

from contracts import subjects
from contracts.envelope import Actor, Command, Reply
from contracts.identity import Subjects as IS
from contracts.quota import Subjects as QS
from services.runtime.bus import connect
from services.runtime.relay import POSITION_HEADER
from tests.support.fuzz import proof_of
from tests.support.identity import SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD, user_payload
from tests.support.natsserver import NatsServer
from tests.support.process import spawn_service, stop

UPDATES = 300
KILL_AT = 100  # SIGKILL quota once this many updates were accepted
NATS_RESTART_AT = 200  # restart nats-server once this many were accepted
NOOP_EVERY = 50  # every 50th update repeats the previous values: accepted, changes nothing
POLICY = "stream"
USER_POLICY = "stream-u"
DEADLINE_SECONDS = 100
STREAM = subjects.stream("quota")
# Refusals a retry may outgrow: quota replaying identity's stream after its restart
# (actor not known yet), identity not yet having seen a policy quota announced.
TRANSIENT = {"quota.auth.unauthenticated", "identity.policy.unknown",
             "quota.command.conflict", "identity.command.conflict"}
NATS_ERRORS = (nats.errors.TimeoutError, nats.errors.NoRespondersError,
               nats.errors.ConnectionReconnectingError, nats.errors.ConnectionClosedError,
               nats.errors.OutboundBufferLimitError, nats.errors.StaleConnectionError)


def update_values(i: int) -> dict[str, Any]:
    """Update i's fields: distinct from update i-1's, except the deliberate no-ops."""
    n = i - 1 if i % NOOP_EVERY == NOOP_EVERY - 1 else i
    return {"idle_timeout": 1000 + n,
            "total_resource_slots": {"cpu": str(Decimal(n + 1) / 100), "mem": "2"}}


@dataclass
class Retrying:
    """Sends commands and queries as one actor, retrying until an answer that counts."""

    nc: Client
    actor: Actor
    deadline: float
    retries: Counter[str] = field(default_factory=Counter)

    async def request(self, subject: str, body: bytes, timeout: float = 2.0) -> Reply:
        while True:
            assert time.monotonic() < self.deadline, f"{subject}: no answer before the deadline"
            try:
                msg = await self.nc.request(subject, body, timeout=timeout)
                return Reply.model_validate_json(msg.data)
            except NATS_ERRORS as exc:
                self.retries[type(exc).__name__] += 1
                await asyncio.sleep(0.1)

    async def command(self, subject: str, data: dict[str, Any], command_id: str
                      ) -> dict[str, Any]:
        """Until accepted; the same command id every time."""
        body = Command(id=command_id, actor=self.actor, data=data,
                       proof=proof_of(self.actor.model_dump())).model_dump_json().encode()
        while True:
            reply = await self.request(subject, body)
            if reply.ok:
                return reply.data or {}
            assert reply.error is not None
            assert reply.error.code in TRANSIENT, f"{subject} {command_id}: {reply.error}"
            self.retries[reply.error.code] += 1
            await asyncio.sleep(0.1)

    async def query(self, subject: str, data: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"actor": self.actor.model_dump(), "data": data,
                           "proof": proof_of(self.actor.model_dump())}).encode()
        while True:
            reply = await self.request(subject, body)
            if reply.ok:
                return reply.data or {}
            assert reply.error is not None
            assert reply.error.code in TRANSIENT, f"{subject}: {reply.error}"
            await asyncio.sleep(0.1)


async def eventually(check: Callable[[], Awaitable[Any]], deadline: float,
                     what: str) -> Any:
    last: Any = None
    while time.monotonic() < deadline:
        ok, last = await check()
        if ok:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} never held; last: {last}")


async def read_stream(nc: Client) -> list[tuple[int, dict[str, str], dict[str, Any]]]:
    """Every message of BAI_EVT_QUOTA: (stream sequence, headers, envelope)."""
    js = nc.jetstream(timeout=5)
    info = await js.stream_info(STREAM)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(STREAM, seq=seq)
        found.append((seq, dict(msg.headers or {}), json.loads(msg.data)))
    return found


@dataclass
class References:
    """What the test made identity do: keypairs on POLICY, users on USER_POLICY."""

    keypairs: set[str] = field(default_factory=set)  # access keys now on POLICY
    users: set[str] = field(default_factory=set)  # user ids on USER_POLICY


async def add_references(client: Retrying, refs: References, tag: str, count: int) -> None:
    """Users on USER_POLICY, each with a second keypair on POLICY; one keypair moved off."""
    for n in range(count):
        user = await client.command(IS.USER_CREATE, user_payload(
            f"{tag}{n}", resource_policy=USER_POLICY), command_id=f"user-{tag}{n}")
        refs.users.add(user["user_id"])
        issued = await client.command(IS.KEYPAIR_ISSUE, {
            "email": user["email"], "resource_policy": POLICY}, command_id=f"kp-{tag}{n}")
        refs.keypairs.add(issued["access_key"])
        if n == 0:  # the user's first keypair moves onto POLICY, the issued one off it
            await client.command(IS.KEYPAIR_ASSIGN_POLICY, {
                "access_key": user["access_key"], "resource_policy": POLICY},
                command_id=f"on-{tag}{n}")
            refs.keypairs.add(user["access_key"])
            await client.command(IS.KEYPAIR_ASSIGN_POLICY, {
                "access_key": issued["access_key"], "resource_policy": "default"},
                command_id=f"off-{tag}{n}")
            refs.keypairs.discard(issued["access_key"])


@pytest.mark.timeout(150)
async def test_quota_and_nats_restart_mid_stream_lose_and_duplicate_nothing(
        nats_server: NatsServer, tmp_path: Path, cipher_key: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    started = time.monotonic()
    procs: dict[str, Any] = {}
    nc: Client | None = None
    try:
        procs["identity"] = await asyncio.to_thread(
            spawn_service, "identity", nats_server, tmp_path / "identity", cipher_key)
        procs["quota"] = await asyncio.to_thread(
            spawn_service, "quota", nats_server, tmp_path / "quota", cipher_key)
        nc = await connect(nats_server.url, user="admin",
                           password=nats_server.passwords["admin"], name="test-admin",
                           max_reconnect_attempts=-1)
        system = Retrying(nc, Actor(system="bootstrap"), deadline)
        root = await system.command(IS.BOOTSTRAP, {
            "email": SUPERADMIN_EMAIL, "password": SUPERADMIN_PASSWORD}, "bootstrap")
        client = Retrying(nc, Actor(access_key=root["access_key"]), deadline)

        await client.command(QS.KEYPAIR_POLICY_CREATE, {"name": POLICY}, "create-policy")
        await client.command(QS.USER_POLICY_CREATE, {"name": USER_POLICY}, "create-u-policy")
        refs = References()
        await add_references(client, refs, "before", 3)

        # ---- the stream, with a SIGKILL of quota and a NATS restart in the middle --------
        accepted: list[dict[str, Any]] = []
        side: list[asyncio.Task[None]] = []
        timeline: dict[str, float] = {}

        async def kill_and_respawn_quota() -> None:
            timeline["accepted at kill"] = len(accepted)
            procs["quota"].send_signal(signal.SIGKILL)
            await asyncio.to_thread(procs["quota"].wait, 10)
            timeline["quota killed"] = time.monotonic() - started
            procs["quota"] = await asyncio.to_thread(
                spawn_service, "quota", nats_server, tmp_path / "quota", cipher_key)
            timeline["quota back"] = time.monotonic() - started

        async def restart_nats() -> None:
            timeline["accepted at nats restart"] = len(accepted)
            timeline["nats restart"] = time.monotonic() - started
            await asyncio.to_thread(nats_server.restart)
            timeline["nats back"] = time.monotonic() - started

        for i in range(UPDATES):
            data = {"name": POLICY, **update_values(i)}
            reply = await client.command(QS.KEYPAIR_POLICY_UPDATE, data, f"update-{i}")
            accepted.append(reply)
            if i + 1 == KILL_AT:
                side.append(asyncio.create_task(kill_and_respawn_quota()))
                side.append(asyncio.create_task(add_references(client, refs, "down", 2)))
            elif i + 1 == NATS_RESTART_AT:
                side.append(asyncio.create_task(restart_nats()))
                side.append(asyncio.create_task(add_references(client, refs, "nats", 2)))
        await asyncio.gather(*side)
        await add_references(client, refs, "after", 2)
        timeline["stream done"] = time.monotonic() - started
        assert "quota killed" in timeline and "nats back" in timeline, timeline
        # both landed mid-stream, with updates still to send after them
        assert timeline["accepted at kill"] < NATS_RESTART_AT, timeline
        assert timeline["accepted at nats restart"] < UPDATES, timeline
        assert len(accepted) == UPDATES

        # ---- every update was accepted, in order; the final policy is the last update ----
        for i, reply in enumerate(accepted):
            expected = update_values(i)
            assert reply["policy"]["idle_timeout"] == expected["idle_timeout"], i
            cpu = reply["policy"]["total_resource_slots"]["cpu"]
            assert Decimal(cpu) == Decimal(expected["total_resource_slots"]["cpu"]), i
        final = await client.query(QS.KEYPAIR_POLICY_GET, {"name": POLICY})
        assert final["policy"] == accepted[-1]["policy"]
        assert final["policy"]["idle_timeout"] == update_values(UPDATES - 1)["idle_timeout"]

        # ---- reference counts, as counted by the quota process that lived through the NATS
        # restart (its identity consumer must have resumed): what identity holds ----------
        listed = await client.query(IS.KEYPAIR_LIST, {"is_active": None, "limit": 1000})
        on_policy = {k["access_key"] for k in listed["items"] if k["resource_policy"] == POLICY}
        assert on_policy == refs.keypairs
        users = await client.query(IS.USER_LIST, {"status": None, "limit": 1000})
        assert {u["user_id"] for u in users["items"]
                if u["resource_policy"] == USER_POLICY} == refs.users

        async def counted() -> tuple[bool, Any]:
            keypair = await client.query(QS.KEYPAIR_POLICY_GET, {"name": POLICY})
            user = await client.query(QS.USER_POLICY_GET, {"name": USER_POLICY})
            got = (keypair["references"], user["references"])
            return got == (len(refs.keypairs), len(refs.users)), got

        await eventually(counted, deadline, "reference counts match identity")
        timeline["references counted"] = time.monotonic() - started
        refused = await client.request(QS.KEYPAIR_POLICY_DELETE, Command(
            id="delete-in-use", actor=client.actor, data={"name": POLICY},
            proof=proof_of(client.actor.model_dump())).model_dump_json().encode())
        assert refused.error is not None and refused.error.code == "quota.policy.in_use"
        assert refused.error.details["references"]["keypairs"] == len(refs.keypairs)

        # ---- PolicyUpdated on BAI_EVT_QUOTA: exactly one per change, in order ------------
        changes = [i for i in range(UPDATES)
                   if i == 0 or update_values(i) != update_values(i - 1)]
        assert len(changes) == UPDATES - UPDATES // NOOP_EVERY

        async def all_published() -> tuple[bool, Any]:
            events = await read_stream(nc)
            updated = [e for _, _, e in events if e["type"] == "PolicyUpdated"
                       and e["data"]["name"] == POLICY and e["data"]["kind"] == "keypair"]
            return len(updated) >= len(changes), len(updated)

        await eventually(all_published, deadline, "every PolicyUpdated published")
        timeline["all published"] = time.monotonic() - started
        stop(procs["quota"])  # a graceful stop drains the relay: nothing more may appear
        events = await read_stream(nc)
        ids = Counter(e["id"] for _, _, e in events)
        assert [i for i, n in ids.items() if n > 1] == [], "an event was published twice"
        for _, headers, e in events:
            assert headers.get("Nats-Msg-Id") == e["id"]
        positions = [int(h[POSITION_HEADER]) for _, h, _ in events]
        assert positions == sorted(set(positions)), "the relay re-published or reordered"
        updated = [e for _, _, e in events if e["type"] == "PolicyUpdated"
                   and e["data"]["name"] == POLICY and e["data"]["kind"] == "keypair"]
        by_content = Counter((e["aggregate_id"], e["sequence"]) for e in updated)
        assert max(by_content.values()) == 1, "two PolicyUpdated for one aggregate version"
        same = Counter(json.dumps(e["data"]["policy"], sort_keys=True) for e in updated)
        assert max(same.values()) == 1, "two PolicyUpdated carry the same policy"
        assert len(updated) == len(changes), (len(updated), len(changes))
        sequences = [e["sequence"] for e in updated]
        assert sequences == list(range(sequences[0], sequences[0] + len(changes))), \
            "PolicyUpdated out of order or with gaps"
        for event, i in zip(updated, changes, strict=True):
            assert event["data"]["policy"] == accepted[i]["policy"], f"update {i}"
            assert event["data"]["changed"] == ["idle_timeout", "total_resource_slots"]
            assert event["causation_id"] == f"update-{i}", f"update {i}"
        created = [e for _, _, e in events if e["type"] == "PolicyCreated"]
        assert Counter(e["data"]["name"] for e in created)[POLICY] == 1

        # ---- and from the store, after one more (graceful) restart ---------------------
        procs["quota"] = await asyncio.to_thread(
            spawn_service, "quota", nats_server, tmp_path / "quota", cipher_key)
        await eventually(counted, deadline, "reference counts after a restart")
        again = await client.query(QS.KEYPAIR_POLICY_GET, {"name": POLICY})
        assert again["policy"] == accepted[-1]["policy"]
        print(f"timeline {timeline}; retries {dict(client.retries)}; "
              f"{len(refs.keypairs)} keypairs, {len(refs.users)} users; "
              f"total {time.monotonic() - started:.1f}s")
    finally:
        if nc is not None and not nc.is_closed:
            await nc.close()
        for proc in procs.values():
            stop(proc)
