"""The worker's start command goes out through the host's bus client (a real nats-server; the
agent's side is a plain subscriber as `agent-local`): nobody answering leaves the session
SCHEDULED for the next round ("will retry"); an answer moves it on; the command carries the
scheduler's system proof, the session's chain and no positions."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client

from contracts import agent as agent_contract
from contracts.envelope import Actor
from services.runtime.client import UNTRACKED, BusClient, signed_by
from services.runtime.proofs import (
    ProofSigner,
    ProofVerifier,
    new_private_key,
    parse_keys,
    public_key_of,
)
from services.runtime.traced import event_id
from services.scheduler.domain import model as m
from services.scheduler.worker import SchedulerWorker
from tests.support.agent import AGENT_ID
from tests.support.identity import connect_as
from tests.support.natsserver import NatsServer, until_answered
from tests.unit.scheduler.test_app import Harness, heartbeat

KEY = new_private_key()


@pytest.fixture
async def worker(nats_server: NatsServer) -> AsyncIterator[tuple[SchedulerWorker, Harness]]:
    h = Harness()
    h.agents.heartbeat(heartbeat(AGENT_ID))
    nc = await connect_as(nats_server, "scheduler")
    found = SchedulerWorker(h.app, request_timeout=0.5)
    found.use_bus(BusClient(nc, Actor(system="scheduler"), 5.0,
                            proofs=signed_by(ProofSigner(KEY, "stack-w")), positions=UNTRACKED))
    yield found, h
    await nc.close()


def scheduled(h: Harness) -> dict[str, Any]:
    session_id = h.request(agent=AGENT_ID)["session_id"]
    assert h.app.schedule_once() == [(session_id, AGENT_ID)]
    return h.row(session_id)


async def agent_answering(nats_server: NatsServer, reply: bytes,
                          heard: list[dict[str, Any]]) -> Client:
    nc = await connect_as(nats_server, f"agent-{AGENT_ID}")

    async def on_start(msg: Any) -> None:
        heard.append(json.loads(msg.data))
        await msg.respond(reply)

    await nc.subscribe(agent_contract.start_subject(AGENT_ID), cb=on_start)
    await nc.flush(timeout=5)
    prober = await connect_as(nats_server, "scheduler")  # may send the agent's commands
    try:
        await until_answered(prober, agent_contract.start_subject(AGENT_ID))
    finally:
        await prober.close()
    heard.clear()
    return nc


async def test_no_agent_answering_is_retried_later(
        worker: tuple[SchedulerWorker, Harness], caplog: pytest.LogCaptureFixture) -> None:
    w, h = worker
    row = scheduled(h)
    with caplog.at_level(logging.WARNING, "services.scheduler.worker"):
        await w._send(row)
    assert h.status(row["session_id"]) == m.SCHEDULED  # nothing failed: the next round sends
    assert any("will retry" in r.getMessage() and "service.unavailable" in r.getMessage()
               for r in caplog.records)


async def test_an_answered_start_moves_the_session_on_with_the_chain_and_proof(
        worker: tuple[SchedulerWorker, Harness], nats_server: NatsServer) -> None:
    w, h = worker
    row = scheduled(h)
    placed = h.app.session(row["session_id"])  # its last event: the placement
    cause = event_id("scheduler", placed.id, placed.version)
    heard: list[dict[str, Any]] = []
    agent = await agent_answering(nats_server, b'{"status":"accepted","data":{}}', heard)
    try:
        await w._send(row)
    finally:
        await agent.close()
    assert h.status(row["session_id"]) == m.PREPARING
    (command,) = heard
    assert command["id"] == f"start:{row['session_id']}"
    assert command["correlation_id"] == placed.correlation_id
    assert command["causation_id"] == cause
    assert command["after"] == {}
    verifier = ProofVerifier(parse_keys(f"scheduler={public_key_of(KEY)}"), "stack-w")
    assert verifier.verify(command["proof"]) == Actor(system="scheduler")


async def test_a_refused_start_fails_the_session(
        worker: tuple[SchedulerWorker, Harness], nats_server: NatsServer) -> None:
    w, h = worker
    row = scheduled(h)
    refusal = json.dumps({"status": "error", "error": {
        "code": "agent.image_missing", "message": "no such image"}}).encode()
    agent = await agent_answering(nats_server, refusal, [])
    try:
        await w._send(row)
    finally:
        await agent.close()
    assert h.status(row["session_id"]) == m.ERROR
    assert h.row(row["session_id"])["reason"] == "start-refused: agent.image_missing"
