"""Storage over a real nats-server with identity, quota and rbac: the seed's walk-through,
invitations, events on BAI_EVT_STORAGE, and refusals as stable codes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from contracts import subjects
from contracts.envelope import Actor
from contracts.identity import Subjects as IS
from contracts.storage import Subjects as SS
from services.runtime.client import BusClient, BusError
from services.runtime.reader import Follower, StoredMsg
from tests.support.identity import bootstrap, connect_as, start_identity
from tests.support.quota import start_quota
from tests.support.rbac import eventually, start_rbac
from tests.support.storage import seed_world, start_storage


@pytest.fixture
async def world(nats_server, tmp_path: Path, cipher_key: str):
    hosts = [await start_quota(nats_server, tmp_path / "quota", cipher_key),
             await start_identity(nats_server, tmp_path / "identity", cipher_key),
             await start_rbac(nats_server, tmp_path / "rbac", cipher_key),
             await start_storage(nats_server, tmp_path / "storage", cipher_key)]
    nc = await connect_as(nats_server, "admin")
    creds = await bootstrap(nc)
    root = BusClient(nc, Actor(access_key=creds["access_key"]), timeout=10)
    people = await seed_world(nc, root, hosts)
    yield people | {"root": root, "nc": nc, "data": tmp_path / "storage"}
    await nc.close()
    for host in reversed(hosts):
        await host.stop()


async def test_seed_walkthrough_group_folder_read_only_seen_by_member_without_invitation(world):
    made = await world["admin"].command_or_raise(SS.FOLDER_CREATE, {
        "name": "shared-data", "type": "group", "project": "research", "permission": "ro"})
    folder_dir = world["data"] / "vfolders" / made["folder_id"].replace("-", "")
    assert folder_dir.is_dir()
    listed = await world["b"].query_or_raise(SS.FOLDER_LIST, {})
    [row] = [r for r in listed["items"] if r["name"] == "shared-data"]
    assert (row["permission_label"], row["ownership"]) == ("R", "group")
    invitations = await world["b"].query_or_raise(SS.INVITATION_LIST, {})
    assert invitations["items"] == []
    outsider = await world["outsider"].query_or_raise(SS.FOLDER_LIST, {})
    assert outsider["items"] == []
    refused = await world["a"].command(SS.FOLDER_CREATE, {
        "name": "mine", "type": "group", "project": "research"})
    assert refused.error is not None and refused.error.code == "storage.folder.group_forbidden"


async def test_removing_a_member_hides_the_group_folder_on_a_later_request(world):
    await world["admin"].command_or_raise(SS.FOLDER_CREATE, {
        "name": "shared-data", "type": "group", "project": "research", "permission": "rw"})
    await world["root"].command_or_raise(IS.PROJECT_REMOVE_MEMBER, {
        "project_id": world["project_id"], "email": "b@example.com"})
    await eventually(lambda: world["b"].query_or_raise(SS.FOLDER_LIST, {}),
                     lambda page: page["items"] == [], attempts=400)


async def test_invitations_end_to_end_with_events_on_the_storage_stream(world):
    received: list[dict] = []

    async def collect(msg: StoredMsg) -> None:
        received.append(json.loads(msg.data))

    await world["a"].command_or_raise(SS.FOLDER_CREATE, {"name": "notes"})
    sent = await world["a"].command_or_raise(SS.INVITATION_SEND, {
        "folder": "notes", "emails": ["b@example.com"], "permission": "ro"})
    invitation = sent["invitations"]["b@example.com"]
    pending = await world["b"].query_or_raise(SS.INVITATION_LIST, {})
    assert [i["state"] for i in pending["items"]] == ["pending"]
    await world["b"].command_or_raise(SS.INVITATION_ACCEPT, {"invitation_id": invitation})
    got = await world["b"].query_or_raise(SS.FOLDER_GET, {"folder": "notes"})
    assert got["permission_label"] == "R"
    again = await world["a"].command(SS.INVITATION_SEND, {
        "folder": "notes", "emails": ["b@example.com"]})
    assert again.error is not None and again.error.code == "storage.invitation.grant_exists"
    # Read by sequence, as the operator does (it may not create consumers).
    follower = await Follower(world["nc"], subjects.stream("storage"),
                              subjects.events_of("storage"), collect, poll_seconds=0.1).start()
    try:
        await eventually(lambda: asyncio.sleep(0, received), lambda r: len(r) >= 3)
    finally:
        await follower.stop()
    assert [e["type"] for e in received[:3]] == ["FolderCreated", "InvitationSent",
                                                 "InvitationAccepted"]
    assert received[0]["actor"]["access_key"] == world["a_key"]


async def test_metrics_count_folders_by_status_and_pending_invitations(world):
    await world["a"].command_or_raise(SS.FOLDER_CREATE, {"name": "notes"})
    await world["a"].command_or_raise(SS.FOLDER_CREATE, {"name": "old"})
    await world["a"].command_or_raise(SS.FOLDER_TRASH, {"folder": "old"})
    await world["a"].command_or_raise(SS.INVITATION_SEND, {
        "folder": "notes", "emails": ["b@example.com"]})
    info = json.loads((world["data"] / "run" / "storage-0.json").read_text())
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{info['http_port']}/metrics")).text
    assert 'bai_storage_folders{ownership="user",status="ready"} 1.0' in text
    assert 'bai_storage_folders{ownership="user",status="delete-pending"} 1.0' in text
    assert "bai_storage_invitations_pending 1.0" in text


async def test_only_the_scheduler_may_mount_a_folder_for_a_session(world):
    await world["a"].command_or_raise(SS.FOLDER_CREATE, {"name": "notes"})
    refused = await world["a"].command(SS.FOLDER_MOUNT, {
        "folder": "notes", "access_key": world["a_key"], "session_id": "s-1"})
    assert refused.error is not None and refused.error.code == "storage.auth.forbidden"
    scheduler = BusClient(world["nc"], Actor(system="scheduler"), timeout=10)
    mounted = await scheduler.command_or_raise(SS.FOLDER_MOUNT, {
        "folder": "notes", "access_key": world["a_key"], "session_id": "s-1"})
    assert mounted["read_only"] is False and mounted["name"] == "notes"


async def test_the_seeds_custom_role_lets_a_user_create_folders_in_one_project(world):
    from contracts.rbac import Subjects as RS

    pid = world["project_id"]
    role = await world["root"].command_or_raise(RS.ROLE_CREATE, {
        "name": "research-folders", "scopes": [{"scope_type": "project", "scope_id": pid}]})
    await world["root"].command_or_raise(RS.ROLE_ADD_PERMISSION, {
        "role_id": role["role_id"], "scope_type": "project", "scope_id": pid,
        "entity_type": "vfolder", "operations": ["create"]})
    await world["root"].command_or_raise(RS.ROLE_ASSIGN, {
        "role_id": role["role_id"], "emails": ["a@example.com"]})
    made = await eventually(lambda: world["a"].command(SS.FOLDER_CREATE, {
        "name": "a-for-research", "type": "group", "project": "research", "permission": "rw"}),
        lambda r: r.ok, attempts=400)
    assert made.data["owner_id"] == pid
    listed = await world["b"].query_or_raise(SS.FOLDER_LIST, {})
    assert [r["name"] for r in listed["items"]] == ["a-for-research"]


async def test_a_custom_role_at_a_domain_scope_lets_a_user_create_folders_in_its_projects(world):
    from contracts.rbac import Subjects as RS

    root = world["root"]
    domains = await root.query_or_raise(IS.DOMAIN_LIST, {})
    domain_id = next(d["domain_id"] for d in domains["items"] if d["name"] == "default")
    lab = await root.command_or_raise(IS.PROJECT_CREATE, {"name": "lab"})
    await root.command_or_raise(IS.DOMAIN_CREATE, {"name": "elsewhere"})
    await root.command_or_raise(IS.PROJECT_CREATE, {"name": "far", "domain": "elsewhere"})
    role = await root.command_or_raise(RS.ROLE_CREATE, {
        "name": "domain-folders", "scopes": [{"scope_type": "domain", "scope_id": domain_id}]})
    await root.command_or_raise(RS.ROLE_ADD_PERMISSION, {
        "role_id": role["role_id"], "scope_type": "domain", "scope_id": domain_id,
        "entity_type": "vfolder", "operations": ["create", "read"]})
    await root.command_or_raise(RS.ROLE_ASSIGN, {
        "role_id": role["role_id"], "emails": ["a@example.com"]})
    a = world["a"]
    a.positions = dict(root.positions)  # the position token, handed on: no waiting needed
    for project in ("research", "lab"):
        made = await a.command(SS.FOLDER_CREATE, {
            "name": f"a-for-{project}", "type": "group", "project": project})
        assert made.ok, made
    assert made.data["owner_id"] == lab["project_id"]
    far = await a.command(SS.FOLDER_CREATE, {"name": "a-far", "type": "group",
                                             "project": "far"})
    assert far.error is not None and far.error.code in (
        "storage.project.not_found", "storage.folder.group_forbidden")
    listed = await world["b"].query_or_raise(SS.FOLDER_LIST, {})
    assert [r["name"] for r in listed["items"]] == ["a-for-research"]
    await root.command_or_raise(RS.ROLE_DEACTIVATE, {"role_id": role["role_id"]})
    a.positions = dict(root.positions)
    refused = await a.command(SS.FOLDER_CREATE, {"name": "a-late", "type": "group",
                                                 "project": "lab"})
    assert refused.error is not None and refused.error.code == "storage.folder.group_forbidden"


async def test_only_the_scheduler_asks_whether_a_session_may_mount_folders_and_how(
        world, nats_server):
    from contracts.principals import SCHEDULER_QUERIES, gateway_principal, operator_principal

    await world["admin"].command_or_raise(SS.FOLDER_CREATE, {
        "name": "shared-data", "type": "group", "project": "research", "permission": "ro"})
    await world["a"].command_or_raise(SS.FOLDER_CREATE, {"name": "notes"})
    scheduler_nc = await connect_as(nats_server, "scheduler")
    try:
        scheduler = BusClient(scheduler_nc, Actor(system="scheduler"), timeout=10)
        admitted = await scheduler.query_or_raise(SS.FOLDER_ADMIT_MOUNTS, {
            "access_key": world["b_key"], "folders": ["shared-data"]})
        [mount] = admitted["mounts"]
        assert (mount["name"], mount["permission"], mount["read_only"]) == (
            "shared-data", "ro", True)
        assert Path(mount["path"]) == (world["data"] / "vfolders" /
                                       mount["folder_id"].replace("-", "")).resolve()
        own = await scheduler.query_or_raise(SS.FOLDER_ADMIT_MOUNTS, {
            "access_key": world["a_key"], "folders": ["notes"]})
        assert own["mounts"][0]["read_only"] is False
        refused = await scheduler.query(SS.FOLDER_ADMIT_MOUNTS, {
            "access_key": world["outsider_key"], "folders": ["shared-data"]})
        assert refused.error is not None and refused.error.code == "storage.folder.not_found"
        as_user = await BusClient(scheduler_nc, Actor(access_key=world["a_key"]),
                                  timeout=10).query(SS.FOLDER_ADMIT_MOUNTS, {
            "access_key": world["a_key"], "folders": ["notes"]})
        assert as_user.error is not None and as_user.error.code == "storage.auth.forbidden"
    finally:
        await scheduler_nc.close()
    # No other bus user may even publish it (the gateway and the operator are denied).
    operator = BusClient(world["nc"], Actor(system="scheduler"), timeout=1)
    with pytest.raises(BusError, match="service.timeout"):  # the server dropped it: a violation
        await operator.query(SS.FOLDER_ADMIT_MOUNTS, {
            "access_key": world["a_key"], "folders": ["notes"]})
    assert SS.FOLDER_ADMIT_MOUNTS in SCHEDULER_QUERIES
    assert SS.FOLDER_ADMIT_MOUNTS in gateway_principal().deny_publish
    assert SS.FOLDER_ADMIT_MOUNTS in operator_principal().deny_publish
