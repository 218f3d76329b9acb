"""Two stacks on one Docker engine, both with an agent called `local` and the same label
prefix, told apart only by their stack ids: neither adopts nor removes the other's
containers, even across a restart (when an agent removes what it calls orphans). Sessions
run unprivileged and without the agent's data dir."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiodocker
import pytest

from contracts import agent as c
from services.agent.domain.labels import AGENT_ID as AGENT_LABEL
from services.agent.domain.labels import LabelScheme
from tests.support.agent import (
    AGENT_ID,
    docker_available,
    scheduler,
    start_agent,
    start_payload,
    unique_label_prefix,
)
from tests.support.identity import connect_as
from tests.support.natsserver import start_nats

pytestmark = pytest.mark.docker
STACKS = ("a1b2c3d4", "e5f60718")


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    reason = await docker_available()
    if reason is not None:
        pytest.skip(f"Docker needed: {reason}")
    label_prefix = unique_label_prefix()
    yield label_prefix
    docker = aiodocker.Docker(url=os.environ.get("DOCKER_HOST"))
    try:
        for stack in STACKS:
            for container in await containers(docker, label_prefix, stack):
                await container.delete(force=True)
    finally:
        await docker.close()


async def containers(docker: aiodocker.Docker, prefix: str, stack: str) -> list:
    key = LabelScheme(prefix, AGENT_ID, stack).key(AGENT_LABEL)
    return await docker.containers.list(all=True, filters=json.dumps(
        {"label": [f"{key}={AGENT_ID}"]}))


@pytest.mark.timeout(120)
async def test_two_stacks_on_one_engine_keep_each_others_containers(
        tmp_path: Path, cipher_key: str, prefix: str) -> None:
    servers = [start_nats(tmp_path / f"nats-{s}") for s in STACKS]
    docker = aiodocker.Docker(url=os.environ.get("DOCKER_HOST"))
    nodes, operators = [], []
    try:
        for server, stack in zip(servers, STACKS, strict=True):
            nodes.append(await start_agent(server, tmp_path / f"agent-{stack}", cipher_key,
                                           "docker", prefix, stack_id=stack))
            operators.append(await connect_as(server, "admin"))
        for operator, stack in zip(operators, STACKS, strict=True):  # the same session id
            await scheduler(operator, stack_id=stack).command_or_raise(
                c.start_subject(AGENT_ID), start_payload("s-1", ["sleep", "60"]))
        first = [await containers(docker, prefix, stack) for stack in STACKS]
        assert [len(found) for found in first] == [1, 1]
        ids = [found[0].id for found in first]
        assert ids[0] != ids[1]

        # The second stack's agent restarts: its reconcile removes orphans it finds.
        await nodes[1].stop()
        nodes[1] = await start_agent(servers[1], tmp_path / f"agent-{STACKS[1]}", cipher_key,
                                     "docker", prefix, stack_id=STACKS[1])
        await asyncio.sleep(3)  # several sweeps (1 s each) of both agents
        for stack, container_id in zip(STACKS, ids, strict=True):
            found = await containers(docker, prefix, stack)
            assert [x.id for x in found] == [container_id], stack
            info = await docker.containers.get(container_id)
            assert info["State"]["Running"] is True
            assert info["HostConfig"]["Privileged"] is False
            assert not [m for m in info["Mounts"] if str(tmp_path) in m.get("Source", "")]
            assert stack in info["Name"]
    finally:
        for operator in operators:
            await operator.close()
        for node in nodes:
            await node.stop()
        await docker.close()
        for server in servers:
            server.stop()
