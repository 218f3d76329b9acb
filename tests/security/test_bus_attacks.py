"""The attacks of issue 11 on the bus, each run with a real credential against a real
nats-server configured from the generated permissions (and provisioned as `baikal up` does):
every one is refused, and the streams stay as the operator provisioned them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import ConsumerConfig, RePublish, StreamConfig

from contracts import principals as model
from contracts import subjects
from contracts.envelope import Actor
from contracts.identity import Subjects as S
from services.cli.natsconf import principals
from services.runtime.client import BusClient
from services.runtime.host import ServiceHost
from tests.support.identity import bootstrap, connect_as, start_identity, user_payload
from tests.support.natsserver import NatsServer

ATTACKERS = ("agent-local", "admin")  # the node credential and the operator
GATEWAY_INBOX = f"{subjects.inbox('gateway')}.>"
AGENT_STREAM = subjects.stream("agent")


class Attacker:
    """A bare connection (no reconnects) that records the server's refusals."""

    def __init__(self, nc: Client, errors: list[str]) -> None:
        self.nc = nc
        self.errors = errors
        self.js = nc.jetstream(timeout=1.0)

    def refused(self, action: str, subject: str) -> bool:
        return any("permissions violation" in e and action in e and subject.lower() in e
                   for e in self.errors)

    async def attempt(self, call: Any) -> None:
        """Run a JetStream call that the server must refuse: no answer comes back."""
        with pytest.raises((NatsError, TimeoutError)):
            await call
        await self.nc.flush(timeout=2)
        await asyncio.sleep(0.1)


async def attacker(server: NatsServer, user: str) -> Attacker:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    nc = await nats.connect(server.url, user=user, password=server.passwords[user],
                            error_cb=on_error, allow_reconnect=False,
                            inbox_prefix=subjects.inbox(user))
    return Attacker(nc, errors)


@pytest.fixture
async def operator(nats_server: NatsServer) -> AsyncIterator[Client]:
    nc = await connect_as(nats_server, "admin")
    yield nc
    await nc.close()


def server_streams(server: NatsServer) -> list[str]:
    """Every stream the server has, from its monitoring endpoint (no bus user may list)."""
    jsz = httpx.get(f"http://127.0.0.1:{server.monitor_port}/jsz?streams=true", timeout=5).json()
    return [stream["name"] for account in jsz.get("account_details", [])
            for stream in account.get("stream_detail", [])]


async def stream_subjects(nc: Client, name: str) -> list[str]:
    return list((await nc.jetstream().stream_info(name)).config.subjects or [])


@pytest.mark.parametrize("user", ATTACKERS)
async def test_updating_a_stream_to_capture_logins_and_the_gateways_inbox_is_refused(
        nats_server: NatsServer, operator: Client, user: str) -> None:
    a = await attacker(nats_server, user)
    stream = AGENT_STREAM if user.startswith("agent-") else subjects.stream("identity")
    before = await stream_subjects(operator, stream)
    captured = [*before, S.LOGIN, GATEWAY_INBOX]
    await a.attempt(a.js.update_stream(StreamConfig(name=stream, subjects=captured)))
    assert a.refused("publish", f"$js.api.stream.update.{stream}")
    assert await stream_subjects(operator, stream) == before
    await a.nc.close()


@pytest.mark.parametrize("user", ATTACKERS)
async def test_setting_republish_into_a_command_subject_is_refused(
        nats_server: NatsServer, operator: Client, user: str) -> None:
    a = await attacker(nats_server, user)
    republish = RePublish(src=subjects.events_of_agent("local"), dest=S.USER_UPDATE)
    await a.attempt(a.js.update_stream(StreamConfig(
        name=AGENT_STREAM, subjects=[subjects.events_of("agent")], republish=republish)))
    assert a.refused("publish", f"$js.api.stream.update.{AGENT_STREAM}")
    assert (await operator.jetstream().stream_info(AGENT_STREAM)).config.republish is None
    await a.nc.close()


@pytest.mark.parametrize("user", ATTACKERS)
async def test_creating_a_stream_on_the_gateways_inbox_is_refused(
        nats_server: NatsServer, operator: Client, user: str) -> None:
    a = await attacker(nats_server, user)
    await a.attempt(a.js.add_stream(StreamConfig(name="TAP", subjects=[GATEWAY_INBOX])))
    assert a.refused("publish", "$js.api.stream.create.tap")
    assert "TAP" not in server_streams(nats_server)
    assert set(server_streams(nats_server)) == {s.name for s in model.STREAMS} | {
        subjects.kv_stream(b.name) for b in model.BUCKETS}
    await a.nc.close()


@pytest.mark.parametrize("user", ATTACKERS)
async def test_a_push_consumer_delivering_into_a_command_subject_cannot_be_created(
        nats_server: NatsServer, operator: Client, user: str) -> None:
    a = await attacker(nats_server, user)
    push = ConsumerConfig(name="into-identity", deliver_subject=S.USER_UPDATE,
                          deliver_group="identity")
    await a.attempt(a.js.add_consumer(AGENT_STREAM, push))
    assert a.refused("publish", f"$js.api.consumer.create.{AGENT_STREAM}")
    assert (await operator.jetstream().stream_info(AGENT_STREAM)).state.consumer_count == 0
    await a.nc.close()


@pytest.mark.parametrize("user", sorted(set(model.users(["local"])) - {"gateway"}))
async def test_no_one_but_the_gateway_may_hear_the_gateways_replies(
        nats_server: NatsServer, user: str) -> None:
    a = await attacker(nats_server, user)
    for pattern in (GATEWAY_INBOX, "_INBOX_gateway.*", "_INBOX.>", ">", "*.>"):
        await a.nc.subscribe(pattern)
    await a.nc.flush(timeout=2)
    await asyncio.sleep(0.2)
    for pattern in (GATEWAY_INBOX, "_INBOX_gateway.*", "_INBOX.>", ">", "*.>"):
        assert a.refused("subscription", pattern), (user, pattern)
    await a.nc.close()


@pytest.mark.parametrize("user", sorted(set(model.users(["local"])) - {"gateway"}))
async def test_no_one_but_the_gateway_may_ask_the_secret_returning_queries(
        nats_server: NatsServer, user: str) -> None:
    a = await attacker(nats_server, user)
    for subject in model.SECRET_QUERIES:
        await a.nc.publish(subject, b"{}")
    await a.nc.flush(timeout=2)
    await asyncio.sleep(0.2)
    for subject in model.SECRET_QUERIES:
        assert a.refused("publish", subject), (user, subject)
    await a.nc.close()


def test_only_the_provisioner_may_create_or_change_streams_and_consumers() -> None:
    for principal in principals({"agent-local": "x", "agent-gpu-1": "x",
                                 **{u: "x" for u in model.users([])}}):
        changing = [s for s in principal.publish
                    if s.startswith(("$JS.API.STREAM.CREATE", "$JS.API.STREAM.UPDATE",
                                     "$JS.API.STREAM.DELETE", "$JS.API.CONSUMER.CREATE",
                                     "$JS.API.CONSUMER.DURABLE", "$JS.API.>"))
                    or s in (">", "$JS.>")]
        assert (principal.user == model.PROVISIONER) == bool(changing), principal.user
        assert not [s for s in principal.subscribe if s.startswith("_INBOX")
                    and s != f"{subjects.inbox(principal.user)}.>"], principal.user


async def test_seventy_messages_that_are_not_envelopes_leave_identity_answering(
        nats_server: NatsServer, operator: Client, tmp_path: Path, cipher_key: str) -> None:
    host: ServiceHost = await start_identity(nats_server, tmp_path / "identity", cipher_key)
    try:
        root = await bootstrap(operator)
        garbage = [b"", b"not json", b"[]", b'{"id": 1}', json.dumps({"data": []}).encode()]
        answers = await asyncio.gather(*(
            operator.request(S.USER_UPDATE, garbage[n % len(garbage)], timeout=10)
            for n in range(70)))  # more than the 64 in-flight slots
        codes = {json.loads(a.data)["error"]["code"] for a in answers}
        assert codes <= {"identity.request.malformed", "identity.request.invalid"}
        for _ in range(70):  # and some with no reply subject: dropped, slot freed
            await operator.publish(S.USER_UPDATE, b"{}")
        await operator.flush(timeout=2)
        client = BusClient(operator, Actor(access_key=root["access_key"]), timeout=10)
        reply = await client.command(S.USER_CREATE, user_payload("after-garbage"))
        assert reply.ok, reply.error
        async with httpx.AsyncClient(timeout=5) as http:
            answer = await http.get(f"http://127.0.0.1:{host.health.port}/health")
        assert answer.status_code == 200
        dispatch = answer.json()["checks"]["dispatch"]
        assert dispatch["ok"] is True and dispatch["in_flight"] == 0
    finally:
        await host.stop()


async def test_an_agent_reads_only_the_last_of_its_own_events_never_another_agents(
        tmp_path: Path) -> None:
    from services.cli.natsconf import new_passwords
    from services.cli.stack import free_port

    (tmp_path / "nats").mkdir()
    server = NatsServer(tmp_path / "nats", free_port(), free_port(),
                        new_passwords(("local", "gpu-1"))).start()
    try:
        other = await attacker(server, "agent-gpu-1")
        await other.js.publish(f"{subjects.events_of_agent('gpu-1')[:-1]}container.started",
                               b"{}", timeout=5)
        mine = await attacker(server, "agent-local")
        await mine.js.publish(f"{subjects.events_of_agent('local')[:-1]}container.started",
                              b'{"own": true}', timeout=5)
        # Its relay's position: the last of its own events, by a subject that names them.
        own = await mine.js.get_msg(AGENT_STREAM, subject=subjects.events_of_agent("local"),
                                    direct=True)
        assert own.data == b'{"own": true}'
        # Another agent's last event, any message by sequence, and the non-direct get: refused.
        await mine.attempt(mine.js.get_msg(
            AGENT_STREAM, subject=subjects.events_of_agent("gpu-1"), direct=True))
        assert mine.refused("publish", f"$js.api.direct.get.{AGENT_STREAM}.bai.evt.agent.gpu-1")
        await mine.attempt(mine.js.get_msg(AGENT_STREAM, seq=1, direct=True))
        assert mine.refused("publish", f'"$js.api.direct.get.{AGENT_STREAM.lower()}"')
        await mine.attempt(mine.js.get_msg(AGENT_STREAM, seq=1))
        assert mine.refused("publish", f"$js.api.stream.msg.get.{AGENT_STREAM}")
        await mine.nc.close()
        await other.nc.close()
    finally:
        server.stop()
