"""The process runtime (hosts without Docker): a session runs within its memory limit and on
its cores; a memory hog beyond the limit fails; a command that cannot exec is reported."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from contracts import agent as c
from tests.support.agent import (
    MIB,
    EventTail,
    kill_session_processes,
    scheduler,
    spawn_agent,
    start_agent,
    start_payload,
    unique_label_prefix,
)
from tests.support.process import stop

LIMIT = 256 * MIB
# Prints the tightest memory limit it runs under (its cgroup's, else RLIMIT_AS) and how
# many cores it may use, then allocates well within the limit.
PROBE = """
import os, resource
limits = [resource.getrlimit(resource.RLIMIT_AS)[0]]
for line in open('/proc/self/cgroup'):
    _, controllers, path = line.strip().split(':', 2)
    for name in ('/sys/fs/cgroup/memory%s/memory.limit_in_bytes' % path,
                 '/sys/fs/cgroup%s/memory.max' % path):
        if path != '/' and os.path.exists(name):
            limits.append(int(open(name).read().strip().replace('max', '-1')))
print(min(x for x in limits if x > 0), len(os.sched_getaffinity(0)))
block = bytearray(32 * 2**20)
"""
HOG = "block = bytearray(1024 * 2**20); block[::4096] = b'x' * len(block[::4096])"


@pytest.fixture(params=[True, False], ids=["cgroups-if-allowed", "rlimits-only"])
async def agent(request, nats_server, tmp_path: Path, cipher_key: str):
    node = await start_agent(nats_server, tmp_path / "agent", cipher_key, "process",
                             unique_label_prefix(), keep_exited=True,
                             process_cgroups=request.param)
    yield node
    for live in node.supervisor.view.running():  # leave no process behind
        await node.supervisor.runtime.stop(live.container_id, 1)
    await node.stop()


async def test_a_process_runs_within_its_limits_and_a_memory_hog_fails(agent, admin, tmp_path):
    tail = await EventTail().start(admin)
    client = scheduler(admin)
    within = await client.command_or_raise(c.start_subject("local"), start_payload(
        "p-within", [sys.executable, "-c", PROBE], cpu="1", mem=LIMIT))
    hog = await client.command_or_raise(c.start_subject("local"), start_payload(
        "p-hog", [sys.executable, "-c", HOG], cpu="0.5", mem=LIMIT))
    assert within["status"] == hog["status"] == "running"

    ok = await tail.wait_for("ContainerExited", "p-within")
    assert (ok["data"]["exit_code"], ok["data"]["reason"]) == (0, "exited")
    failed = await tail.wait_for("ContainerExited", "p-hog")
    assert failed["data"]["exit_code"] != 0
    if agent.supervisor.runtime.cgroups is not None:
        assert failed["data"]["reason"] == "oom-killed"  # the kernel's OOM killer, seen

    name = agent.supervisor.labels.container_name("p-within")
    log = (tmp_path / "agent" / "agent" / "local" / "logs" / f"{name}.log").read_text()
    limit, cores = log.split()
    assert int(limit) == LIMIT and int(cores) == 1
    await tail.stop()


async def test_a_command_that_cannot_start_is_reported_failed_and_a_stop_ends_one(agent, admin):
    tail = await EventTail().start(admin)
    client = scheduler(admin)
    missing = await client.command_or_raise(c.start_subject("local"), start_payload(
        "p-missing", ["/nonexistent/program"], mem=LIMIT))
    assert (missing["status"], missing["reason"]) == ("failed", "start-failed")
    failed = await tail.wait_for("ContainerFailed", "p-missing")
    assert "No such file" in failed["data"]["detail"]

    await client.command_or_raise(c.start_subject("local"),
                                  start_payload("p-sleep", ["sleep", "30"], mem=LIMIT))
    listing = await client.query_or_raise(c.list_subject("local"))
    assert [x["session_id"] for x in listing["containers"]] == ["p-sleep"]
    stopped = await client.command_or_raise(c.stop_subject("local"), {"session_id": "p-sleep"})
    assert (stopped["reason"], stopped["exit_code"]) == ("user-requested", 143)
    assert (await client.query_or_raise(c.list_subject("local")))["containers"] == []
    await tail.stop()


@pytest.mark.timeout(60)
async def test_a_restarted_agent_adopts_its_processes_and_reports_the_dead(
        nats_server, tmp_path: Path, cipher_key: str, admin):
    data = tmp_path / "agent"
    prefix = unique_label_prefix()
    proc = spawn_agent(nats_server, data, cipher_key, "process", prefix)
    try:
        tail = await EventTail().start(admin)
        client = scheduler(admin)
        for session in ("p-alive", "p-doomed"):
            await client.command_or_raise(c.start_subject("local"),
                                          start_payload(session, ["sleep", "30"], mem=LIMIT))
        doomed = await tail.wait_for("ContainerStarted", "p-doomed")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        os.killpg(int(doomed["data"]["container_id"].split("-")[1]), signal.SIGKILL)

        proc = spawn_agent(nats_server, data, cipher_key, "process", prefix)
        exited = await tail.wait_for("ContainerExited", "p-doomed")
        assert exited["data"]["reason"] == "lost-while-agent-down"
        assert exited["data"]["while_agent_down"] is True
        listing = await client.query_or_raise(c.list_subject("local"))
        assert [x["session_id"] for x in listing["containers"]] == ["p-alive"]
        stopped = await client.command_or_raise(c.stop_subject("local"),
                                                {"session_id": "p-alive"})
        assert stopped["reason"] == "user-requested"
        await asyncio.sleep(0.5)
        assert [e["type"] for e in tail.events if e["data"]["session_id"] == "p-alive"] == [
            "ContainerStarted", "ContainerExited"]
        await tail.stop()
    finally:
        stop(proc)
        kill_session_processes(data / "agent" / "local")
