"""The agent on a real Docker engine: limits seen from inside, events on BAI_EVT_AGENT,
idempotent starts, exits noticed when killed from outside, stops, heartbeats, the listing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiodocker
import httpx
import pytest

from contracts import agent as c
from contracts import subjects
from tests.support.agent import (
    MIB,
    EventTail,
    scheduler,
    start_agent,
    start_payload,
)

pytestmark = pytest.mark.docker

READ_LIMITS = (
    "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max;"
    " cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null"
    " || cat /sys/fs/cgroup/cpu.max; sleep 30"
)


async def logs_of(docker: aiodocker.Docker, container_id: str, lines: int) -> list[str]:
    for _ in range(100):
        text = "".join(await docker.containers.container(container_id).log(stdout=True))
        if len(text.split()) >= lines:
            return text.split()
        await asyncio.sleep(0.05)
    raise AssertionError(f"container printed too little: {text!r}")


@pytest.fixture
async def docker():
    client = aiodocker.Docker(url=os.environ.get("DOCKER_HOST"))
    yield client
    await client.close()


@pytest.fixture
async def agent(nats_server, tmp_path: Path, cipher_key: str, label_prefix: str):
    node = await start_agent(nats_server, tmp_path / "agent", cipher_key, "docker", label_prefix)
    yield node
    await node.stop()


async def test_a_started_container_runs_with_the_requested_limits_and_is_announced(
        agent, admin, docker):
    tail = await EventTail().start(admin)
    client = scheduler(admin)
    payload = start_payload("s-limits", ["sh", "-c", READ_LIMITS], cpu="0.5", mem=64 * MIB)
    reply = await client.command_or_raise(c.start_subject("local"), payload, command_id="cmd-1")
    assert reply["status"] == "running"
    container_id = reply["container_id"]

    memory, quota, period = await logs_of(docker, container_id, 3)
    assert int(memory) == 64 * MIB
    assert int(quota) / int(period) == 0.5

    started = await tail.wait_for("ContainerStarted", "s-limits")
    assert started["data"]["slots"] == {"cpu": "0.5", "mem": str(64 * MIB)}
    assert started["data"]["container_id"] == container_id
    assert started["data"]["access_key"] == "AKIATESTAGENT0000000"
    assert started["causation_id"] == "cmd-1" and started["actor"]["system"] == "scheduler"

    details = await docker.containers.container(container_id).show()
    assert details["HostConfig"]["NetworkMode"] == "none"
    assert details["Config"]["Labels"][agent.supervisor.labels.key("session-id")] == "s-limits"

    again = await client.command_or_raise(c.start_subject("local"), payload, command_id="cmd-2")
    assert again["container_id"] == container_id
    listing = await client.query_or_raise(c.list_subject("local"))
    assert [(x["session_id"], x["running"], x["known"]) for x in listing["containers"]] == [
        ("s-limits", True, True)]
    await tail.stop()


async def test_a_container_killed_from_outside_is_reported_and_released(agent, admin, docker):
    tail = await EventTail().start(admin)
    client = scheduler(admin)
    reply = await client.command_or_raise(c.start_subject("local"),
                                          start_payload("s-kill", ["sleep", "30"]))
    await tail.wait_for("ContainerStarted", "s-kill")
    await docker.containers.container(reply["container_id"]).kill()  # `docker kill`

    exited = await tail.wait_for("ContainerExited", "s-kill", timeout=10)
    assert exited["data"]["reason"] == "killed" and exited["data"]["exit_code"] == 137
    assert exited["data"]["slots"] == {"cpu": "0.5", "mem": str(64 * MIB)}
    assert not exited["data"]["while_agent_down"]
    assert agent.supervisor.view.allocations() == []
    for _ in range(50):  # removed from the engine right after the exit is recorded
        listing = await client.query_or_raise(c.list_subject("local"), {"include_exited": True})
        if not listing["containers"]:
            break
        await asyncio.sleep(0.1)
    assert listing["containers"] == []
    await tail.stop()


async def test_a_stop_command_ends_the_container_as_user_requested(agent, admin):
    tail = await EventTail().start(admin)
    client = scheduler(admin)
    await client.command_or_raise(c.start_subject("local"),
                                  start_payload("s-stop", ["sleep", "30"]))
    beat = await next_heartbeat(admin, lambda hb: hb.containers)
    assert beat.runtime == c.RuntimeKind.DOCKER
    assert [x.session_id for x in beat.containers] == ["s-stop"]
    assert beat.occupied["cpu"] == "0.5" and float(beat.capacity["cpu"]) >= 1

    stopped = await client.command_or_raise(c.stop_subject("local"), {"session_id": "s-stop"})
    assert (stopped["status"], stopped["reason"]) == ("exited", "user-requested")
    await tail.wait_for("ContainerExited", "s-stop")
    await asyncio.sleep(0.5)  # a late `die` event must not be reported again
    assert len(tail.of("ContainerExited", "s-stop")) == 1
    assert len(tail.of("ContainerStarted", "s-stop")) == 1

    port = agent.host.health.port
    async with httpx.AsyncClient() as http:  # the agent serves it from this event loop
        metrics = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
    assert "bai_agent_containers_running 0.0" in metrics
    assert 'bai_agent_container_exits_total{reason="user-requested"} 1.0' in metrics
    await tail.stop()


async def test_what_cannot_run_is_refused_or_reported_failed(agent, admin):
    tail = await EventTail().start(admin)
    client = scheduler(admin)
    missing = await client.command_or_raise(
        c.start_subject("local"), start_payload("s-noimage", ["true"], image="baikal/none:0"))
    assert (missing["status"], missing["reason"]) == ("failed", "image-not-found")
    failed = await tail.wait_for("ContainerFailed", "s-noimage")
    assert failed["data"]["reason"] == "image-not-found"

    too_big = await client.command(c.start_subject("local"),
                                   start_payload("s-huge", ["true"], cpu="4096"))
    assert too_big.error is not None and too_big.error.code == "agent.slots.insufficient"
    assert too_big.error.details["slot"] == "cpu"
    await tail.stop()


async def next_heartbeat(nc, where, timeout: float = 5.0) -> c.Heartbeat:
    queue: asyncio.Queue[c.Heartbeat] = asyncio.Queue()

    async def on_beat(msg) -> None:
        await queue.put(c.Heartbeat.model_validate_json(msg.data))

    sub = await nc.subscribe(subjects.heartbeat("local"), cb=on_beat)
    try:
        async with asyncio.timeout(timeout):
            while not where(beat := await queue.get()):
                pass
            return beat
    finally:
        await sub.unsubscribe()
