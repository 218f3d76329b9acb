"""Storage restarted on the same store (SQLite and PostgreSQL): folders, shares, invitations
and what it learnt from identity survive; its consumers resume without applying twice."""

from __future__ import annotations

from pathlib import Path

from contracts.envelope import Actor
from contracts.identity import Subjects as IS
from contracts.storage import Subjects as SS
from services.runtime.client import BusClient
from tests.support.identity import bootstrap, connect_as, start_identity
from tests.support.quota import start_quota
from tests.support.rbac import eventually, start_rbac
from tests.support.storage import seed_world, start_storage


async def test_a_restart_keeps_folders_invitations_and_memberships(nats_server, tmp_path: Path,
                                                                  cipher_key: str, store_dsn):
    others = [await start_quota(nats_server, tmp_path / "quota", cipher_key),
              await start_identity(nats_server, tmp_path / "identity", cipher_key),
              await start_rbac(nats_server, tmp_path / "rbac", cipher_key)]
    data = tmp_path / "storage"
    storage = await start_storage(nats_server, data, cipher_key, store=store_dsn)
    nc = await connect_as(nats_server, "admin")
    try:
        root = BusClient(nc, Actor(access_key=(await bootstrap(nc))["access_key"]), timeout=10)
        world = await seed_world(nc, root, [storage])
        await world["admin"].command_or_raise(SS.FOLDER_CREATE, {
            "name": "shared-data", "type": "group", "project": "research", "permission": "ro"})
        await world["a"].command_or_raise(SS.FOLDER_CREATE, {"name": "notes"})
        sent = await world["a"].command_or_raise(SS.INVITATION_SEND, {
            "folder": "notes", "emails": ["b@example.com"]})
        before = await world["b"].query_or_raise(SS.FOLDER_LIST, {})
        await storage.stop()

        storage = await start_storage(nats_server, data, cipher_key, store=store_dsn)
        after = await eventually(lambda: world["b"].query(SS.FOLDER_LIST, {}),
                                 lambda r: r.ok, attempts=400)
        assert after.data == before
        invitation = sent["invitations"]["b@example.com"]
        await world["b"].command_or_raise(SS.INVITATION_ACCEPT, {"invitation_id": invitation})
        await root.command_or_raise(IS.PROJECT_REMOVE_MEMBER, {
            "project_id": world["project_id"], "email": "b@example.com"})
        listed = await eventually(lambda: world["b"].query_or_raise(SS.FOLDER_LIST, {}),
                                  lambda p: [r["name"] for r in p["items"]] == ["notes"],
                                  attempts=400)
        assert listed["items"][0]["permission_label"] == "RW"
    finally:
        await nc.close()
        await storage.stop()
        for host in reversed(others):
            await host.stop()
