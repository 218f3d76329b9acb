"""Heartbeats on `bai.hb.agent.<id>`: identity, capacity minus the reserve, running containers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from contracts import agent as c
from contracts import subjects
from tests.support.agent import (
    AGENT_ID,
    scheduler,
    start_agent,
    start_payload,
    unique_label_prefix,
)

GIB = 2**30


async def beats(nc, count: int, timeout: float = 5.0) -> list[c.Heartbeat]:
    received: list[c.Heartbeat] = []
    done = asyncio.Event()

    async def on_beat(msg) -> None:
        received.append(c.Heartbeat.model_validate_json(msg.data))
        if len(received) >= count:
            done.set()

    sub = await nc.subscribe(subjects.heartbeat(AGENT_ID), cb=on_beat)
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        await sub.unsubscribe()
    return received


async def test_heartbeats_report_capacity_and_what_runs(nats_server, tmp_path: Path,
                                                       cipher_key: str, admin):
    node = await start_agent(nats_server, tmp_path / "agent", cipher_key, "simulated",
                             unique_label_prefix(), capacity_cpu=64, capacity_mem=256 * GIB,
                             reserved_cpu=2, reserved_mem=4 * GIB, heartbeat_seconds=0.2)
    try:
        (first,) = await beats(admin, 1)
        assert (first.agent_id, first.runtime) == (AGENT_ID, c.RuntimeKind.SIMULATED)
        assert first.capacity == {"cpu": "62", "mem": str(252 * GIB)}
        assert first.reserved == {"cpu": "2", "mem": str(4 * GIB)}
        assert first.interval_seconds == 0.2 and first.gpus == [] and first.containers == []
        assert first.version and first.architecture

        await scheduler(admin).command_or_raise(c.start_subject(AGENT_ID),
                                                start_payload("s-1", ["x"], cpu="1.5"))
        later = (await beats(admin, 2))[-1]
        assert [(x.session_id, x.slots["cpu"]) for x in later.containers] == [("s-1", "1.5")]
        assert later.occupied["cpu"] == "1.5"
        assert later.sent_at > first.sent_at
    finally:
        await node.stop()
