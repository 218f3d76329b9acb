"""Bus security of an agent: its NATS user publishes only its own events and heartbeat and
hears only its own commands; the agent obeys only trusted system actors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest

from contracts import agent as c
from contracts import subjects
from contracts.envelope import Actor
from services.runtime.client import BusClient
from tests.support.agent import AGENT_ID, EventTail, start_agent, start_payload, unique_label_prefix


async def connect_collecting_errors(server, user: str, errors: list[str]):
    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    return await nats.connect(server.url, user=user, password=server.passwords[user],
                              error_cb=on_error, max_reconnect_attempts=1)


async def test_an_agent_user_cannot_speak_for_another_agent(nats_server, admin):
    heard: list[str] = []

    async def on_message(msg) -> None:
        heard.append(msg.subject)

    await admin.subscribe("bai.hb.>", cb=on_message)
    js = admin.jetstream()  # the stream exists: the server was provisioned
    errors: list[str] = []
    agent = await connect_collecting_errors(nats_server, f"agent-{AGENT_ID}", errors)
    try:
        await agent.publish(subjects.heartbeat(AGENT_ID), b"{}")  # its own: allowed
        await agent.publish(c.event_subject(AGENT_ID, "ContainerStarted"), b"{}")  # allowed
        await agent.publish(subjects.heartbeat("other"), b"{}")
        await agent.publish(c.event_subject("other", "ContainerStarted"), b"{}")
        await agent.publish(c.start_subject("other"), b"{}")
        await agent.subscribe(c.start_subject("other"))
        await agent.flush()
        await asyncio.sleep(0.3)
        assert heard == [subjects.heartbeat(AGENT_ID)]
        stored = await js.stream_info(subjects.stream(c.SERVICE), subjects_filter=">")
        assert stored.state.subjects == {c.event_subject(AGENT_ID, "ContainerStarted"): 1}
        violations = [e for e in errors if "permissions violation" in e]
        assert any("publish" in e and "bai.hb.agent.other" in e for e in violations)
        assert any("publish" in e and "bai.evt.agent.other." in e for e in violations)
        assert any("publish" in e and "bai.cmd.agent.other." in e for e in violations)
        assert any("subscription" in e and "bai.cmd.agent.other." in e for e in violations)
    finally:
        await agent.close()


async def test_only_trusted_system_actors_may_command_the_agent(
        nats_server, tmp_path: Path, cipher_key: str, admin):
    node = await start_agent(nats_server, tmp_path / "agent", cipher_key, "simulated",
                             unique_label_prefix())
    try:
        tail = await EventTail().start(admin)
        user = BusClient(admin, Actor(access_key="AKIAUSER000000000000"))
        refused = await user.command(c.start_subject(AGENT_ID), start_payload("s-1", ["x"]))
        assert refused.error is not None and refused.error.code == "agent.auth.forbidden"
        refused = await user.query(c.list_subject(AGENT_ID))
        assert refused.error is not None and refused.error.code == "agent.auth.forbidden"

        operator = BusClient(admin, Actor(system="operator"))
        started = await operator.command_or_raise(c.start_subject(AGENT_ID),
                                                  start_payload("s-1", ["x"]))
        assert started["container_id"].startswith("simulated-")  # clearly not real work
        event = await tail.wait_for("ContainerStarted", "s-1")
        assert event["data"]["runtime"] == "simulated"
        assert event["actor"] == {"access_key": None, "user_id": None, "system": "operator"}
        await tail.stop()
    finally:
        await node.stop()


@pytest.mark.parametrize("payload", [{"session_id": "s", "image": "", "command": [],
                                      "slots": {}}, {"unexpected": True}])
async def test_malformed_commands_are_refused_with_field_paths(
        nats_server, tmp_path: Path, cipher_key: str, admin, payload):
    node = await start_agent(nats_server, tmp_path / "agent", cipher_key, "simulated",
                             unique_label_prefix())
    try:
        reply = await BusClient(admin, Actor(system="scheduler")).command(
            c.start_subject(AGENT_ID), payload)
        assert reply.error is not None and reply.error.code == "agent.request.invalid"
    finally:
        await node.stop()
