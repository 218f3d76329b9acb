"""SIGKILL the agent with containers running, change the engine while it is down, restart it:
the living container is adopted (not announced again), the one killed meanwhile is reported
exactly once, a labelled container its store never asked for is removed and reported."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path

import aiodocker
import pytest

from contracts import agent as c
from services.agent.domain.labels import LabelScheme
from tests.support.agent import (
    AGENT_ID,
    MIB,
    EventTail,
    scheduler,
    spawn_agent,
    start_payload,
)
from tests.support.process import stop

pytestmark = pytest.mark.docker


async def run_orphan(docker: aiodocker.Docker, label_prefix: str) -> str:
    # The agent labels with the stack id it was given (tests/conftest.py sets BAIKAL_STACK_ID).
    labels = LabelScheme(label_prefix, AGENT_ID, os.environ.get("BAIKAL_STACK_ID", "")).labels(
        "never-requested", None, {"cpu": "0.25", "mem": str(32 * MIB)}, [])
    container = await docker.containers.run(
        {"Image": "baikal/busybox:latest", "Cmd": ["sleep", "60"], "Labels": labels,
         "HostConfig": {"NetworkMode": "none", "Init": True}})
    return str(container.id)


def counts(tail: EventTail) -> Counter[tuple[str, str]]:
    return Counter((e["type"], e["data"]["session_id"]) for e in tail.events)


@pytest.mark.timeout(90)
async def test_sigkilled_agent_adopts_the_living_and_reports_the_dead_once(
        nats_server, tmp_path: Path, cipher_key: str, label_prefix: str, admin):
    data = tmp_path / "agent"
    docker = aiodocker.Docker(url=os.environ.get("DOCKER_HOST"))
    proc = spawn_agent(nats_server, data, cipher_key, "docker", label_prefix)
    try:
        tail = await EventTail().start(admin)
        client = scheduler(admin)
        alive = await client.command_or_raise(c.start_subject(AGENT_ID),
                                              start_payload("alive", ["sleep", "60"]))
        doomed = await client.command_or_raise(c.start_subject(AGENT_ID),
                                               start_payload("doomed", ["sleep", "60"]))
        await tail.wait_for("ContainerStarted", "alive")
        await tail.wait_for("ContainerStarted", "doomed")

        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        await docker.containers.container(doomed["container_id"]).kill()
        orphan_id = await run_orphan(docker, label_prefix)

        proc = spawn_agent(nats_server, data, cipher_key, "docker", label_prefix)
        exited = await tail.wait_for("ContainerExited", "doomed")
        assert exited["data"]["reason"] == "killed" and exited["data"]["exit_code"] == 137
        assert exited["data"]["while_agent_down"] is True
        orphan = await tail.wait_for("ContainerExited", "never-requested")
        assert orphan["data"]["reason"] == "orphan-removed"
        assert orphan["data"]["container_id"] == orphan_id
        assert orphan["data"]["slots"] == {"cpu": "0.25", "mem": str(32 * MIB)}

        await asyncio.sleep(1.5)  # a sweep and a relay pass later, still nothing doubled
        assert counts(tail) == Counter({
            ("ContainerStarted", "alive"): 1, ("ContainerStarted", "doomed"): 1,
            ("ContainerExited", "doomed"): 1, ("ContainerExited", "never-requested"): 1})
        listing = await client.query_or_raise(c.list_subject(AGENT_ID),
                                              {"include_exited": True})
        assert [(x["session_id"], x["container_id"], x["running"])
                for x in listing["containers"]] == [("alive", alive["container_id"], True)]
        repeated = await client.command_or_raise(c.start_subject(AGENT_ID),
                                                 start_payload("alive", ["sleep", "60"]))
        assert repeated["container_id"] == alive["container_id"]

        # The adopted container is watched like one the agent started itself.
        await docker.containers.container(alive["container_id"]).kill()
        exited = await tail.wait_for("ContainerExited", "alive", timeout=10)
        assert exited["data"]["reason"] == "killed"
        assert exited["data"]["while_agent_down"] is False
        await tail.stop()
    finally:
        proc.send_signal(signal.SIGTERM)
        stop(proc)
        await docker.close()
