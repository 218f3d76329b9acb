"""RECALCULATE USAGE's replay reads the agents' stream itself (over a real nats-server, one
agent on the simulated runtime): every container event still on it is folded, also those a
scheduler never recorded in its own store (one deployed before it kept such records)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contracts.envelope import Actor
from contracts.scheduler import Subjects as SS
from services.runtime.client import UNTRACKED, BusClient
from services.scheduler.lifecycle import Scheduler
from services.scheduler.recalc import UsageRecalculator
from tests.support.agent import AGENT_ID
from tests.support.stack import Stack, start_stack

SLOTS = {"cpu": "0.01", "mem": "1048576"}


@pytest.fixture
async def stack(nats_server, tmp_path: Path, cipher_key: str) -> AsyncIterator[Stack]:
    found = await start_stack(nats_server, tmp_path, cipher_key, "simulated",
                              "ai.baikal.replay.", sweep_seconds=3600, heartbeat_seconds=0.5)
    found.client.timeout = 30
    yield found
    await found.stop()


async def request(stack: Stack, name: str) -> str:
    reply = await stack.client.command_or_raise(SS.SESSION_REQUEST, {
        "name": name, "image": "sim", "command": ["sleep"], "slots": dict(SLOTS)})
    return str(reply["session_id"])


async def test_the_replay_folds_the_agents_stream_also_what_the_store_never_recorded(
        stack: Stack) -> None:
    kept, ended = await request(stack, "kept"), await request(stack, "ended")
    for session_id in (kept, ended):
        await stack.wait_status(session_id, "RUNNING")
    await stack.client.command_or_raise(SS.SESSION_TERMINATE, {"session_id": ended})
    await stack.wait_status(ended, "TERMINATED")
    # A scheduler with an empty store: none of these events is in its own record.
    fresh = UsageRecalculator(Scheduler(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}))
    assert fresh.replayed.from_store().events == 0
    fresh.use_bus(BusClient(stack.nc, Actor(system="scheduler"), positions=UNTRACKED))
    seen: list[tuple[str, int, int]] = []
    replayed = await fresh.replay(lambda stage, done, total: seen.append((stage, done, total)))
    assert replayed.open == {AGENT_ID: {kept: SLOTS}}
    assert replayed.ended == {AGENT_ID: {ended}}
    assert replayed.events == 3  # two starts and one exit
    assert seen[-1] == ("replay", 3, 3)
    # The fold is kept: the next replay reads only what was published since.
    third = await request(stack, "third")
    await stack.wait_status(third, "RUNNING")
    seen.clear()
    again = await fresh.replay(lambda stage, done, total: seen.append((stage, done, total)))
    assert again.open == {AGENT_ID: {kept: SLOTS, third: SLOTS}}
    assert again.events == 4 and seen == [("replay", 1, 1)]


async def test_the_scheduler_replays_from_the_stream_through_its_command(stack: Stack) -> None:
    session_id = await request(stack, "one")
    await stack.wait_status(session_id, "RUNNING")
    result = await stack.client.command_or_raise(SS.USAGE_RECALCULATE, {})
    assert result["events_replayed"] == 1 and result["drifts"] == []
