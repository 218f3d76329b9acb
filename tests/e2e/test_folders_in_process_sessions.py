"""Storage folders mounted into sessions on the process runtime (a bubblewrap sandbox, an
unprivileged user, a private mount namespace): a session of user A writes into a `rw` group
folder, a session of user B (a member, `ro` for them) reads the same bytes and cannot write
("Read-only file system"); a folder the session did not mount, the storage host's root and
the data dir are not in view; a non-member's session request is refused at admission, and so
is B's once B has left the project."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from contracts.envelope import Actor
from contracts.identity import Subjects as IS
from contracts.scheduler import Subjects as SS
from contracts.storage import Subjects as STS
from services.runtime.client import BusClient
from tests.support.agent import unique_label_prefix
from tests.support.rbac import eventually
from tests.support.stack import start_stack
from tests.support.storage import knows

PASSWORD = "Passw0rd!"
pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap missing: deploy/ci/setup-sandbox.sh installs it")


@pytest.fixture
async def stack(nats_server, tmp_path: Path, cipher_key: str):
    stack = await start_stack(nats_server, tmp_path, cipher_key, "process",
                              unique_label_prefix(), keep_exited=True, reserved_cpu="0",
                              reserved_mem="0")
    yield stack
    await stack.stop()


def session_log(root: Path, session_id: str) -> str:
    [log] = [p for p in (root / "agent").rglob("logs/*.log") if session_id in p.name]
    return log.read_text()


async def run(stack, root: Path, client: BusClient, name: str, script: str) -> tuple[dict, str]:
    reply = await client.command_or_raise(SS.SESSION_REQUEST, {
        "name": name, "image": "baikal/busybox:latest", "session_type": "batch",
        "command": ["sh", "-c", script], "slots": {"cpu": "0.5", "mem": "256m"},
        "mounts": [{"folder": "team-data"}]})
    row = await stack.wait_status(reply["session_id"], "TERMINATED", "ERROR", timeout=60)
    return row, (session_log(root, reply["session_id"]) if row["status"] == "TERMINATED"
                 else "")


async def test_a_group_folder_is_shared_between_process_sessions_and_read_only_where_ro(
        stack, tmp_path: Path):
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
    team = await root.command_or_raise(STS.FOLDER_CREATE, {
        "name": "team-data", "type": "group", "project": "team", "permission": "rw"})
    other = await root.command_or_raise(STS.FOLDER_CREATE, {
        "name": "other-data", "type": "group", "project": "team", "permission": "rw"})
    await root.command_or_raise(STS.FOLDER_SHARE, {
        "folder": "team-data", "email": "b@example.com", "permission": "ro"})
    vfolders = tmp_path / "storage" / "vfolders"
    other_dir = vfolders / other["folder_id"].replace("-", "")
    team_dir = vfolders / team["folder_id"].replace("-", "")
    assert other_dir.is_dir() and team_dir.is_dir()

    wrote, out = await run(stack, tmp_path, people["a"], "writer",
                           "echo hello-from-a > /home/work/team-data/note.txt && echo written")
    assert wrote["status"] == "TERMINATED", wrote
    assert "written" in out
    assert (team_dir / "note.txt").read_text() == "hello-from-a\n"

    # The sandbox makes the working directory's parents as empty directories: what the
    # agent keeps beside it (logs, process state) is not there, nor anything of storage's.
    state = next((tmp_path / "agent").rglob("logs")).parent
    looks = " ".join(f"test -e {p} && echo SEEN:{p};" for p in (
        other_dir, vfolders, tmp_path / "storage", state / "logs", state / "processes",
        team_dir))
    read, out = await run(stack, tmp_path, people["b"], "reader",
                          "cat /home/work/team-data/note.txt; "
                          f"echo x > /home/work/team-data/b.txt; {looks} echo done")
    assert read["status"] == "TERMINATED", read
    assert "hello-from-a" in out
    assert "Read-only file system" in out
    assert not (team_dir / "b.txt").exists()
    assert "SEEN:" not in out and "done" in out, out

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
