"""A real nats-server with identity, quota and rbac in-process, and a superadmin client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from contracts.envelope import Actor
from contracts.identity import Subjects as IS
from contracts.rbac import Subjects as RS
from services.runtime.client import BusClient
from tests.support.identity import bootstrap, connect_as, start_identity, user_payload
from tests.support.quota import start_quota
from tests.support.rbac import eventually, start_rbac


@dataclass
class Stack:
    root: BusClient
    nc: Client
    creds: dict[str, Any]

    async def user(self, n: int, **kw: Any) -> dict[str, Any]:
        created = await self.root.command_or_raise(IS.USER_CREATE, user_payload(n, **kw))
        await self.known(created["user_id"])
        return created

    async def known(self, user_id: str) -> None:
        """Wait until rbac has learnt the user from identity's events."""
        await eventually(lambda: self.root.query(RS.USER_SEARCH, {"text": ""}),
                         lambda r: r.ok and user_id in {u["user_id"] for u in r.data["items"]})

    def as_user(self, created: dict[str, Any]) -> BusClient:
        return BusClient(self.nc, Actor(access_key=created["access_key"]))


@pytest.fixture
async def stack(nats_server, tmp_path: Path, cipher_key: str):
    quota = await start_quota(nats_server, tmp_path / "quota", cipher_key)
    identity = await start_identity(nats_server, tmp_path / "identity", cipher_key)
    rbac = await start_rbac(nats_server, tmp_path / "rbac", cipher_key)
    nc = await connect_as(nats_server, "admin")
    creds = await bootstrap(nc)
    root = BusClient(nc, Actor(access_key=creds["access_key"]))
    # rbac knows the actor and has learnt the default domain from identity's events
    await eventually(lambda: root.query(RS.ROLE_LIST, {"name_contains": "domain-default-admin"}),
                     lambda r: r.ok and r.data["total"] == 1)
    yield Stack(root, nc, creds)
    await nc.close()
    await rbac.stop()
    await identity.stop()
    await quota.stop()
