"""Sessions end to end on a real Docker engine: limits from inside the container, the seed's
policy walk-through, concurrency, and a container killed from outside."""

from __future__ import annotations

import asyncio
import json
import os
from decimal import Decimal
from pathlib import Path

import aiodocker
import pytest

from contracts.quota import Subjects as QS
from contracts.scheduler import Subjects as SS
from tests.support.stack import eventually, start_stack

MIB = 2**20
GIB = 2**30
PROBE = ("cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null "
         "|| cat /sys/fs/cgroup/memory.max; "
         "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us "
         "2>/dev/null || cat /sys/fs/cgroup/cpu.max; sleep 1")


@pytest.fixture
async def stack(nats_server, tmp_path: Path, cipher_key: str, docker_labels: str):
    stack = await start_stack(nats_server, tmp_path, cipher_key, "docker", docker_labels,
                              keep_exited=True, reserved_cpu="0", reserved_mem="0")
    yield stack
    await stack.stop()


async def container_logs(container_id: str) -> str:
    docker = aiodocker.Docker(url=os.environ["DOCKER_HOST"])
    try:
        container = await docker.containers.get(container_id)
        return "".join(await container.log(stdout=True, stderr=True))
    finally:
        await docker.close()


async def scheduler_events(stack, session_id: str) -> list[str]:
    js = stack.nc.jetstream()
    info = await js.stream_info("BAI_EVT_SCHEDULER")
    types = []
    for seq in range(1, info.state.last_seq + 1):
        event = json.loads((await js.get_msg("BAI_EVT_SCHEDULER", seq=seq)).data)
        if event["data"]["session_id"] == session_id:
            types.append(event["type"])
    return types


async def test_batch_session_runs_with_its_limits_and_ends_in_order(stack):
    reply = await stack.client.command_or_raise(SS.SESSION_REQUEST, {
        "name": "probe", "image": "baikal/busybox:latest", "session_type": "batch",
        "command": ["sh", "-c", PROBE], "slots": {"cpu": "0.5", "mem": "64m"}})
    session_id = reply["session_id"]
    running = await stack.wait_status(session_id, "RUNNING", "TERMINATED")
    done = await stack.wait_status(session_id, "TERMINATED")
    assert done["reason"] == "exited", done
    assert done["container_id"], done
    lines = (await container_logs(done["container_id"])).split()
    assert int(lines[0]) == 64 * MIB
    if len(lines) >= 3 and lines[1].isdigit():
        assert Decimal(lines[1]) / Decimal(lines[2]) == Decimal("0.5")
    else:  # cgroup v2 "50000 100000"
        assert lines[1:3] == ["50000", "100000"]
    assert running["agent_id"] == "local"
    await asyncio.sleep(0.5)
    assert await scheduler_events(stack, session_id) in (
        ["SessionRequested", "SessionScheduled", "SessionPreparing", "SessionStarted",
         "SessionTerminated"],
        ["SessionRequested", "SessionScheduled", "SessionStarted", "SessionTerminated"])
    indicator = await stack.client.query_or_raise(
        SS.RESOURCE_INDICATOR, {"access_key": stack.creds["access_key"]})
    assert indicator["used"] == {}  # usage released


async def test_seed_walkthrough_policy_caps_what_a_session_may_take(stack):
    key = stack.creds["access_key"]
    indicator = await stack.client.query_or_raise(SS.RESOURCE_INDICATOR, {"access_key": key})
    capacity = indicator["capacity"]
    whole = await stack.client.command_or_raise(SS.SESSION_REQUEST, {
        "name": "whole", "image": "baikal/busybox:latest", "command": ["sleep", "30"],
        "slots": {"cpu": capacity["cpu"], "mem": capacity["mem"]}})
    await stack.wait_status(whole["session_id"], "RUNNING")
    await stack.client.command_or_raise(SS.SESSION_TERMINATE,
                                        {"session_id": whole["session_id"]})
    await stack.wait_status(whole["session_id"], "TERMINATED")

    await stack.client.command_or_raise(QS.KEYPAIR_POLICY_UPDATE, {
        "name": "default", "default_for_unspecified": "limited",
        "total_resource_slots": {"cpu": "2", "mem": "4", "cuda.shares": "1"}})
    indicator = await eventually(
        lambda: stack.client.query(SS.RESOURCE_INDICATOR, {"access_key": key}),
        lambda r: r.ok and r.data["limit"].get("cpu") == "2")
    assert indicator.data["limit"] == {"cpu": "2", "mem": str(4 * GIB), "cuda.shares": "1"}
    assert Decimal(indicator.data["allocatable"]["mem"]) <= 4 * GIB
    refused = await stack.client.command(SS.SESSION_REQUEST, {
        "name": "big", "image": "baikal/busybox:latest", "slots": {"cpu": 1, "mem": "5g"}})
    assert refused.error.code == "scheduler.session.exceeds_policy"
    assert refused.error.details["limit"] == "total_resource_slots.mem"
    assert refused.error.details["over_by"] == {"mem": str(GIB)}


async def test_concurrency_cap_runs_three_and_releases_one_per_termination(stack):
    await stack.client.command_or_raise(QS.KEYPAIR_POLICY_UPDATE, {
        "name": "default", "max_concurrent_sessions": 3})
    await eventually(lambda: stack.client.query(SS.RESOURCE_INDICATOR,
                                                {"access_key": stack.creds["access_key"]}),
                     lambda r: r.ok and r.data["sessions"]["max_concurrent"] == "3")
    requests = [stack.client.command_or_raise(SS.SESSION_REQUEST, {
        "name": f"s{n}", "image": "baikal/busybox:latest", "command": ["sleep", "60"],
        "slots": {"cpu": "0.1", "mem": "16m"}}) for n in range(50)]
    ids = [r["session_id"] for r in await asyncio.gather(*requests)]

    async def statuses() -> dict[str, list[str]]:
        listed = await stack.client.query_or_raise(SS.SESSION_LIST, {"limit": 100})
        by: dict[str, list[str]] = {}
        for row in listed["items"]:
            by.setdefault(row["status"], []).append(row["session_id"])
        return by

    async def live_count() -> int:
        by = await statuses()
        return sum(len(by.get(s, [])) for s in ("SCHEDULED", "PREPARING", "RUNNING"))

    for _ in range(100):
        if len((await statuses()).get("RUNNING", [])) == 3:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    by = await statuses()
    assert len(by.get("RUNNING", [])) == 3 and await live_count() == 3
    assert len(by["PENDING"]) == 47
    waiting = await stack.session(by["PENDING"][0])
    assert waiting["failed_checks"][0].startswith("concurrency")

    for _ in range(2):
        victim = (await statuses())["RUNNING"][0]
        await stack.client.command_or_raise(SS.SESSION_TERMINATE, {"session_id": victim})
        await stack.wait_status(victim, "TERMINATED")
        for _ in range(100):
            if len((await statuses()).get("RUNNING", [])) == 3:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        assert await live_count() == 3
    assert len((await statuses())["PENDING"]) == 45
    for session_id in ids:  # clean up the queue before the stack stops
        await stack.client.command(SS.SESSION_TERMINATE, {"session_id": session_id})


async def test_container_killed_from_outside_ends_the_session_and_frees_usage(stack):
    reply = await stack.client.command_or_raise(SS.SESSION_REQUEST, {
        "name": "victim", "image": "baikal/busybox:latest", "command": ["sleep", "300"],
        "slots": {"cpu": "0.5", "mem": "32m"}})
    running = await stack.wait_status(reply["session_id"], "RUNNING")
    docker = aiodocker.Docker(url=os.environ["DOCKER_HOST"])
    try:
        await (await docker.containers.get(running["container_id"])).kill()
    finally:
        await docker.close()
    ended = await stack.wait_status(reply["session_id"], "TERMINATED", "ERROR")
    assert ended["reason"] == "killed", ended
    indicator = await stack.client.query_or_raise(
        SS.RESOURCE_INDICATOR, {"access_key": stack.creds["access_key"]})
    assert indicator["used"] == {} and indicator["sessions"]["active"] == 0
