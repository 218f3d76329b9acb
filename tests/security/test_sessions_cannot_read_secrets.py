"""A session tries to read the stack's secrets file in the agent's data dir: on the process
runtime (a bubblewrap sandbox, an unprivileged user) and on Docker it cannot, while the file
is right there for the agent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from contracts import agent as c
from tests.support.agent import (
    AGENT_ID,
    EventTail,
    docker_available,
    remove_labelled,
    scheduler,
    start_agent,
    start_payload,
    unique_label_prefix,
)
from tests.support.identity import connect_as
from tests.support.natsserver import NatsServer

SECRET = "s3cret-nats-password-do-not-leak"
# Exit 0: read the secrets; 3: could not, but runs as root; 4: sees the file, cannot read
# it; 7: does not see it and is unprivileged.
ATTEMPT = ('cat {path} && exit 0; test "$(id -u)" = 0 && exit 3; '
           'test -e {path} && exit 4; exit 7')


def plant_secrets(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / "secrets.json"
    path.write_text(f'{{"nats": {{"admin": "{SECRET}"}}}}')
    path.chmod(0o600)
    return path


async def run_attempt(server: NatsServer, data_dir: Path, cipher_key: str, runtime: str,
                      prefix: str, secrets: Path) -> dict:
    node = await start_agent(server, data_dir, cipher_key, runtime, prefix, keep_exited=True)
    admin = await connect_as(server, "admin")
    try:
        tail = await EventTail().start(admin)
        command = ["sh", "-c", ATTEMPT.format(path=secrets)]
        started = await scheduler(admin).command_or_raise(
            c.start_subject(AGENT_ID), start_payload("thief", command))
        assert started["status"] == "running", started
        exited = await tail.wait_for("ContainerExited", "thief", timeout=30)
        await tail.stop()
        return exited["data"]
    finally:
        await admin.close()
        await node.stop()


@pytest.mark.skipif(shutil.which("bwrap") is None,
                    reason="bubblewrap missing: deploy/ci/setup-sandbox.sh installs it")
async def test_a_process_session_cannot_read_the_data_dirs_secrets(
        nats_server: NatsServer, tmp_path: Path, cipher_key: str) -> None:
    data_dir = tmp_path / "agent"
    secrets = plant_secrets(data_dir)
    exited = await run_attempt(nats_server, data_dir, cipher_key, "process",
                               unique_label_prefix(), secrets)
    assert exited["exit_code"] == 7, exited  # not readable, not root, data dir not in view
    assert SECRET in secrets.read_text()  # the agent itself still reads it


async def test_a_docker_session_cannot_read_the_data_dirs_secrets(
        nats_server: NatsServer, tmp_path: Path, cipher_key: str) -> None:
    reason = await docker_available()
    if reason is not None:
        pytest.skip(f"Docker needed: {reason}")
    prefix = unique_label_prefix()
    data_dir = tmp_path / "agent"
    secrets = plant_secrets(data_dir)
    try:
        exited = await run_attempt(nats_server, data_dir, cipher_key, "docker", prefix,
                                   secrets)
    finally:
        await remove_labelled(prefix)
    # The image's own root user, in a container without the data dir: it cannot read it.
    assert exited["exit_code"] == 3, exited
