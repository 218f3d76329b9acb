"""Run the identity service in-process against a real nats-server, and talk to it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from contracts.envelope import Actor
from contracts.identity import Subjects
from services.identity.main import IdentitySettings, build
from services.runtime.bus import connect
from services.runtime.client import BusClient
from services.runtime.host import ServiceHost
from tests.support.natsserver import NatsServer

SUPERADMIN_EMAIL = "root@baikal.test"
SUPERADMIN_PASSWORD = "Sup3r-secret!"
BOOTSTRAP = Actor(system="bootstrap")


def identity_settings(server: NatsServer, data_dir: Path, cipher_key: str,
                      store: str = "sqlite") -> IdentitySettings:
    return IdentitySettings(
        nats_url=server.url, nats_user="identity", nats_password=server.passwords["identity"],
        data_dir=data_dir, cipher_key=cipher_key, store=store, relay_poll_seconds=0.2,
    )


async def start_identity(server: NatsServer, data_dir: Path, cipher_key: str,
                         store: str = "sqlite") -> ServiceHost:
    host = build(identity_settings(server, data_dir, cipher_key, store))
    await host.start()
    return host


async def connect_as(server: NatsServer, user: str) -> Client:
    return await connect(server.url, user=user, password=server.passwords[user],
                         name=f"test-{user}", max_reconnect_attempts=5)


async def bootstrap(nc: Client) -> dict[str, Any]:
    client = BusClient(nc, BOOTSTRAP)
    return await client.command_or_raise(
        Subjects.BOOTSTRAP, {"email": SUPERADMIN_EMAIL, "password": SUPERADMIN_PASSWORD},
        command_id="bootstrap")


def user_payload(n: int | str, **overrides: Any) -> dict[str, Any]:
    data = {"email": f"user{n}@example.com", "password": "Passw0rd!",
            "password_confirm": "Passw0rd!", "full_name": f"User {n}"}
    return data | overrides


def new_id() -> str:
    return str(uuid.uuid4())
