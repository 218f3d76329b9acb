"""Run storage in-process against a real nats-server (with identity, quota and rbac, which it
learns users, memberships, policies and grants from), and a small world to test it in."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from contracts.envelope import Actor
from contracts.identity import Subjects as IS
from contracts.storage import Subjects as SS
from services.runtime.client import BusClient
from services.runtime.host import ServiceHost
from services.storage.main import StorageSettings, build
from tests.support.natsserver import NatsServer
from tests.support.rbac import eventually


def storage_settings(server: NatsServer, data_dir: Path, cipher_key: str,
                     **extra: Any) -> StorageSettings:
    return StorageSettings(
        nats_url=server.url, nats_user="storage", nats_password=server.passwords["storage"],
        data_dir=data_dir, cipher_key=cipher_key, relay_poll_seconds=0.05, **extra)


async def start_storage(server: NatsServer, data_dir: Path, cipher_key: str,
                        **extra: Any) -> ServiceHost:
    host = build(storage_settings(server, data_dir, cipher_key, **extra))
    await host.start()
    return host


def knows(hosts: list[Any], email: str) -> bool:
    """Storage (an in-process host among `hosts`) has consumed identity's events up to this
    user (its tracked consumer may trail the actor directory, which reads the same stream)."""
    storage = next(h for h in hosts if h.settings.service == "storage")
    return storage.app.view.user_by_email(email) is not None


async def seed_world(nc: Client, root: BusClient, hosts: list[Any] | None = None
                     ) -> dict[str, Any]:
    """An admin, user A, user B (a member of project `research`) and an outsider."""
    project = await root.command_or_raise(IS.PROJECT_CREATE, {"name": "research"})
    people: dict[str, Any] = {"project_id": project["project_id"]}
    for name, role, projects in (("admin", "admin", []), ("a", "user", []),
                                 ("b", "user", [project["project_id"]]),
                                 ("outsider", "user", [])):
        made = await root.command_or_raise(IS.USER_CREATE, {
            "email": f"{name}@example.com", "password": "Passw0rd!",
            "password_confirm": "Passw0rd!", "role": role, "projects": projects})
        people[name] = BusClient(nc, Actor(access_key=made["access_key"]), timeout=10)
        people[f"{name}_key"] = made["access_key"]
    # Ready once storage knows the last user and rbac has granted them their own scope.
    last = people["outsider"]
    await eventually(lambda: last.query(SS.FOLDER_LIST, {}), lambda r: r.ok, attempts=400)
    for name in ("admin", "a", "b", "outsider"):
        # rbac's grant of the user's own scope has reached storage's guard: a creation now
        # passes it and is refused by the rules instead (nothing is created).
        await eventually(lambda c=people[name]: c.command(SS.FOLDER_CREATE, {"name": "."}),
                         lambda r: r.error is not None
                         and r.error.code == "storage.folder.name_invalid", attempts=400)
    if hosts is not None:
        await eventually(lambda: asyncio.sleep(0, knows(hosts, "outsider@example.com")),
                         bool, attempts=400)
    return people
