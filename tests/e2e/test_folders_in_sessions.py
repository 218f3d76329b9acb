"""Storage folders mounted into sessions on a real Docker engine: a session of user A writes into
a `rw` group folder, a session of user B (a member, `ro` for them) reads the same bytes and
cannot write ("Read-only file system"); a non-member's session request is refused at
admission, and so is B's once B has left the project."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiodocker
import pytest

from contracts.envelope import Actor
from contracts.identity import Subjects as IS
from contracts.scheduler import Subjects as SS
from contracts.storage import Subjects as STS
from services.runtime.client import BusClient
from tests.support.rbac import eventually
from tests.support.stack import start_stack
from tests.support.storage import knows

PASSWORD = "Passw0rd!"


@pytest.fixture
async def stack(nats_server, tmp_path: Path, cipher_key: str, docker_labels: str):
    stack = await start_stack(nats_server, tmp_path, cipher_key, "docker", docker_labels,
                              keep_exited=True, reserved_cpu="0", reserved_mem="0")
    yield stack
    await stack.stop()


async def logs(container_id: str) -> str:
    docker = aiodocker.Docker(url=os.environ["DOCKER_HOST"])
    try:
        container = await docker.containers.get(container_id)
        return "".join(await container.log(stdout=True, stderr=True))
    finally:
        await docker.close()


async def run(stack, client: BusClient, name: str, script: str) -> dict:
    reply = await client.command_or_raise(SS.SESSION_REQUEST, {
        "name": name, "image": "baikal/busybox:latest", "session_type": "batch",
        "command": ["sh", "-c", script], "slots": {"cpu": "0.5", "mem": "64m"},
        "mounts": [{"folder": "team-data"}]})
    return await stack.wait_status(reply["session_id"], "TERMINATED", "ERROR", timeout=60)


async def test_a_group_folder_is_shared_between_sessions_and_read_only_where_ro(stack):
    root = stack.client
    project = await root.command_or_raise(IS.PROJECT_CREATE, {"name": "team"})
    people = {}
    for name, projects in (("a", [project["project_id"]]), ("b", [project["project_id"]]),
                           ("outsider", [])):
        made = await root.command_or_raise(IS.USER_CREATE, {
            "email": f"{name}@example.com", "password": PASSWORD,
            "password_confirm": PASSWORD, "projects": projects})
        people[name] = BusClient(stack.nc, Actor(access_key=made["access_key"]), timeout=10)
    await eventually(lambda: people["outsider"].query(STS.FOLDER_LIST, {}), lambda r: r.ok,
                     attempts=400)
    await eventually(lambda: asyncio.sleep(0, knows(stack.hosts, "outsider@example.com")),
                     bool, attempts=400)
    await root.command_or_raise(STS.FOLDER_CREATE, {
        "name": "team-data", "type": "group", "project": "team", "permission": "rw"})
    await root.command_or_raise(STS.FOLDER_SHARE, {
        "folder": "team-data", "email": "b@example.com", "permission": "ro"})

    wrote = await run(stack, people["a"], "writer",
                      "echo hello-from-a > /home/work/team-data/note.txt && echo written")
    assert wrote["status"] == "TERMINATED", wrote
    assert "written" in await logs(wrote["container_id"])

    read = await run(stack, people["b"], "reader",
                     "cat /home/work/team-data/note.txt; echo x > /home/work/team-data/b.txt")
    assert read["status"] == "TERMINATED", read
    output = await logs(read["container_id"])
    assert "hello-from-a" in output
    assert "Read-only file system" in output

    await refused_at_admission(people["outsider"])
    # B loses access (removed from the project): B's next session cannot mount it.
    await root.command_or_raise(IS.PROJECT_REMOVE_MEMBER, {
        "project_id": project["project_id"], "email": "b@example.com"})
    people["b"].positions = dict(root.positions)  # what B's client saw returned
    await refused_at_admission(people["b"])


async def refused_at_admission(client: BusClient) -> None:
    """Storage decides at admission: the request itself is refused, nothing is placed."""
    refused = await client.command(SS.SESSION_REQUEST, {
        "name": "intruder", "image": "baikal/busybox:latest", "session_type": "batch",
        "command": ["ls", "/home/work"], "slots": {"cpu": "0.5", "mem": "64m"},
        "mounts": [{"folder": "team-data"}]})
    assert refused.error is not None, refused
    assert refused.error.code == "scheduler.session.mount_forbidden", refused
    assert refused.error.details["reason"] == "storage.folder.not_found", refused
    listed = await client.query_or_raise(SS.SESSION_LIST, {})
    assert all(row["name"] != "intruder" for row in listed["items"])


async def test_a_folder_mounted_by_a_running_session_stays_out_of_the_trash(stack):
    root = stack.client
    await root.command_or_raise(STS.FOLDER_CREATE, {"name": "team-data"})
    reply = await root.command_or_raise(SS.SESSION_REQUEST, {
        "name": "holder", "image": "baikal/busybox:latest", "session_type": "batch",
        "command": ["sleep", "60"], "slots": {"cpu": "0.5", "mem": "64m"},
        "mounts": [{"folder": "team-data", "path": "/mnt/data"}]})
    await stack.wait_status(reply["session_id"], "RUNNING", timeout=60)
    refused = await root.command(STS.FOLDER_TRASH, {"folder": "team-data"})
    assert refused.error is not None and refused.error.code == "storage.folder.mounted"
    await root.command_or_raise(SS.SESSION_TERMINATE, {"session_id": reply["session_id"]})
    await stack.wait_status(reply["session_id"], "TERMINATED", timeout=60)
    trashed = await eventually(lambda: root.command(STS.FOLDER_TRASH, {"folder": "team-data"}),
                               lambda r: r.ok, attempts=400)
    assert trashed.data["status"] == "delete-pending"
