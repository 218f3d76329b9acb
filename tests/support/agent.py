"""Run the agent (in-process or as a child process) and watch what it publishes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiodocker
from nats.aio.client import Client

from contracts import agent as c
from contracts import subjects
from contracts.envelope import Actor
from services.agent.main import AgentNode, AgentSettings, build
from services.runtime.client import BusClient
from services.runtime.proofs import ProofSigner
from services.runtime.reader import Follower, StoredMsg
from tests.support.natsserver import NatsServer
from tests.support.process import wait_healthy

AGENT_ID = "local"  # the one agent principal the embedded stack's NATS config defines
SCHEDULER = Actor(system="scheduler")
MIB = 2**20


def unique_label_prefix() -> str:
    """Each test run labels its containers apart, so teardown removes only its own."""
    return f"ai.baikal.test-{uuid.uuid4().hex[:10]}."


def agent_env(server: NatsServer, data_dir: Path, cipher_key: str, runtime: str,
              label_prefix: str, **extra: str) -> dict[str, str]:
    env = {
        "BAIKAL_AGENT_ID": AGENT_ID, "BAIKAL_RUNTIME": runtime,
        "BAIKAL_NATS_URL": server.url, "BAIKAL_NATS_USER": f"agent-{AGENT_ID}",
        "BAIKAL_NATS_PASSWORD": server.passwords[f"agent-{AGENT_ID}"],
        "BAIKAL_DATA_DIR": str(data_dir), "BAIKAL_CIPHER_KEY": cipher_key,
        "BAIKAL_RELAY_POLL_SECONDS": "0.2", "BAIKAL_RESERVED_CPU": "0",
        "BAIKAL_RESERVED_MEM": "0", "BAIKAL_HEARTBEAT_SECONDS": "0.5",
        "BAIKAL_SWEEP_SECONDS": "1", "BAIKAL_STOP_GRACE_SECONDS": "2",
        "BAIKAL_LABEL_PREFIX": label_prefix, "BAIKAL_LOG_LEVEL": "INFO",
        # Sessions of the process runtime see only a minimal system: the tests' Python too.
        "BAIKAL_PROCESS_SANDBOX_RO_PATHS": ",".join(sorted({sys.prefix, sys.base_prefix})),
    }
    return env | extra


def agent_settings(server: NatsServer, data_dir: Path, cipher_key: str, runtime: str,
                   label_prefix: str, **extra: Any) -> AgentSettings:
    env = agent_env(server, data_dir, cipher_key, runtime, label_prefix)
    values = {k.removeprefix("BAIKAL_").lower(): v for k, v in env.items()}
    return AgentSettings(**(values | extra))


async def start_agent(server: NatsServer, data_dir: Path, cipher_key: str, runtime: str,
                      label_prefix: str, **extra: Any) -> AgentNode:
    node = await build(agent_settings(server, data_dir, cipher_key, runtime, label_prefix,
                                      **extra))
    await node.start()
    assert node.host.nc is not None
    await node.host.nc.flush()  # its subscriptions are in place before a test sends anything
    return node


def spawn_agent(server: NatsServer, data_dir: Path, cipher_key: str, runtime: str,
                label_prefix: str, **extra: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ) | agent_env(server, data_dir, cipher_key, runtime, label_prefix,
                                       **extra)
    data_dir.mkdir(parents=True, exist_ok=True)
    run_file = data_dir / "run" / "agent-0.json"
    run_file.unlink(missing_ok=True)
    with open(data_dir / "agent.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "services.agent"], env=env,
                                stdout=log, stderr=log)
    wait_healthy(run_file, proc)
    return proc


def scheduler(nc: Client, timeout: float = 15.0, stack_id: str | None = None) -> BusClient:
    """As the scheduler; `stack_id`: proofs for that stack (the tests' key, another audience)."""
    signer = None
    if stack_id is not None:
        signer = ProofSigner(os.environ["BAIKAL_SIGNING_KEY"], stack_id)
    return BusClient(nc, SCHEDULER, timeout=timeout, signer=signer)


def start_payload(session_id: str, command: list[str], cpu: str = "0.5", mem: int = 64 * MIB,
                  image: str = "baikal/busybox:latest", **extra: Any) -> dict[str, Any]:
    return {"session_id": session_id, "image": image, "command": command,
            "slots": {"cpu": cpu, "mem": str(mem)}, "access_key": "AKIATESTAGENT0000000",
            **extra}


class EventTail:
    """Every event on BAI_EVT_AGENT from the start, in stream order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._sub: Any = None

    async def start(self, nc: Client) -> EventTail:
        async def on_message(msg: StoredMsg) -> None:
            self.events.append(json.loads(msg.data))

        # Read by sequence from the start (the operator may not create consumers).
        self._sub = await Follower(nc, subjects.stream(c.SERVICE), subjects.events_of(c.SERVICE),
                                   on_message, poll_seconds=0.2).start()
        return self

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.stop()

    def of(self, type_name: str, session_id: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_name
                and (session_id is None or e["data"]["session_id"] == session_id)]

    async def wait_for(self, type_name: str, session_id: str | None = None,
                       timeout: float = 15.0,
                       where: Callable[[dict[str, Any]], bool] = lambda e: True
                       ) -> dict[str, Any]:
        for _ in range(int(timeout / 0.05)):
            found = [e for e in self.of(type_name, session_id) if where(e)]
            if found:
                return found[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {type_name} for {session_id} within {timeout}s: "
                             f"{[(e['type'], e['data'].get('session_id')) for e in self.events]}")


def kill_session_processes(state_dir: Path) -> None:
    """Teardown for the process runtime: SIGKILL every process group it recorded."""
    for path in (state_dir / "processes").glob("*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            os.killpg(int(json.loads(path.read_text())["pid"]), signal.SIGKILL)


async def docker_available() -> str | None:
    """None when a Docker engine answers at DOCKER_HOST, else why not."""
    host = os.environ.get("DOCKER_HOST")
    if not host:
        return "DOCKER_HOST is not set (deploy/ci/start-docker.sh prints it)"
    try:
        docker = aiodocker.Docker(url=host)
    except (ValueError, AssertionError) as exc:
        return f"DOCKER_HOST={host} is not usable: {exc}"
    try:
        await asyncio.wait_for(docker.version(), 3)
        await docker.images.inspect("baikal/busybox:latest")
    except (aiodocker.DockerError, TimeoutError, OSError) as exc:
        return f"the Docker engine at {host} does not answer or lacks baikal/busybox: {exc}"
    finally:
        await docker.close()
    return None


async def remove_labelled(label_prefix: str) -> int:
    """Force-remove every container a test run labelled (its prefix, with or without a
    stack id after it), whatever its state."""
    docker = aiodocker.Docker(url=os.environ.get("DOCKER_HOST"))
    try:
        found = [c for c in await docker.containers.list(all=True)
                 if any(key.startswith(label_prefix) and key.endswith("agent-id")
                        for key in (c["Labels"] or {}))]
        for container in found:
            await container.delete(force=True)
        return len(found)
    finally:
        await docker.close()
