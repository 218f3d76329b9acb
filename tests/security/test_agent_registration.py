"""`baikal agent add`: a node agent gets its own NATS user from the permission model; the
running nats-server reloads it; the new credential can do its own node's job and nothing of
another's (its heartbeat and events only, its directed commands only)."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.errors import Error as NatsError

from contracts import subjects
from services.cli.agents import AgentRegistrationError, add_agent, write_nats_conf
from services.cli.stack import StackLayout, nats_binary, wait_for_port
from services.runtime.provision import provision_blocking


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[StackLayout]:
    """What `baikal up` prepares and starts first: data dir, secrets, nats-server."""
    layout = StackLayout(tmp_path / ".baikal")
    layout.create()
    secrets_ = layout.load_secrets()
    config = layout.load_config(0, None)
    write_nats_conf(layout, config, secrets_)
    log = open(tmp_path / "nats.log", "ab")  # noqa: SIM115 - closed below
    server = subprocess.Popen([nats_binary(), "-c", str(layout.nats_conf)], stdout=log,
                              stderr=log)
    try:
        wait_for_port(config["nats_port"])
        provision_blocking(url(layout), secrets_["nats"]["provision"])
        yield layout
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def url(layout: StackLayout) -> str:
    return f"nats://127.0.0.1:{json.loads(layout.config.read_text())['nats_port']}"


async def connect(layout: StackLayout, user: str, password: str, errors: list[str]):
    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    return await nats.connect(url(layout), user=user, password=password, error_cb=on_error,
                              allow_reconnect=False, connect_timeout=2)


async def test_a_registered_agent_connects_and_may_do_only_its_own_nodes_job(
        stack: StackLayout) -> None:
    with pytest.raises((NatsError, OSError)):  # authorization violation
        await connect(stack, "agent-gpu-1", "guess", [])
    path, creds, reloaded = add_agent(stack, "gpu-1")
    assert reloaded is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert creds["nats_user"] == "agent-gpu-1"
    nc = None
    for _ in range(50):  # the reload is asynchronous
        try:
            errors: list[str] = []
            nc = await connect(stack, creds["nats_user"], creds["nats_password"], errors)
            break
        except (NatsError, OSError):
            await asyncio.sleep(0.1)
    assert nc is not None, "the new agent's credentials never worked"
    await nc.publish(subjects.heartbeat("gpu-1"), b"{}")
    await nc.publish(subjects.heartbeat("local"), b"{}")
    await nc.publish(subjects.event("agent", "local", "container-started"), b"{}")
    await nc.subscribe(subjects.directed_commands_of("gpu-1"))
    await nc.subscribe(subjects.directed_commands_of("local"))
    await nc.flush(timeout=2)
    await asyncio.sleep(0.2)
    refused = " ".join(e for e in errors if "permissions violation" in e)
    assert "bai.hb.agent.gpu-1" not in refused
    assert "bai.hb.agent.local" in refused and "bai.evt.agent.local." in refused
    assert "bai.cmd.agent.local.>" in refused and "bai.cmd.agent.gpu-1.>" not in refused
    await nc.close()

    secrets_ = stack.load_secrets()["nats"]  # the local agent still gets in
    local = await connect(stack, "agent-local", secrets_["agent-local"], [])
    await local.close()


def test_an_agent_cannot_be_registered_twice_or_under_an_invalid_id(
        stack: StackLayout) -> None:
    add_agent(stack, "gpu-2")
    with pytest.raises(AgentRegistrationError, match="already registered"):
        add_agent(stack, "gpu-2")
    for bad in ("GPU", "a.b", "x>", "-x", ""):
        with pytest.raises(AgentRegistrationError, match="invalid agent id"):
            add_agent(stack, bad)
