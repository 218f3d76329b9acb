"""The whole control plane in one test process against a real nats-server: identity, quota,
rbac, storage, scheduler, and one agent (any runtime)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from contracts.envelope import Actor, Reply
from contracts.quota import Subjects as QS
from contracts.scheduler import Subjects as SS
from services.runtime.client import BusClient
from services.runtime.host import ServiceHost
from services.scheduler.lifecycle import Scheduler
from services.scheduler.main import SchedulerSettings
from services.scheduler.main import build as build_scheduler
from tests.support.agent import start_agent
from tests.support.identity import bootstrap, connect_as, start_identity
from tests.support.natsserver import NatsServer
from tests.support.quota import start_quota
from tests.support.rbac import start_rbac
from tests.support.storage import start_storage


@dataclass
class Stack:
    server: NatsServer
    nc: Client
    client: BusClient
    creds: dict[str, Any]
    scheduler: Scheduler
    hosts: list[Any] = field(default_factory=list)

    async def stop(self) -> None:
        await self.nc.close()
        for host in reversed(self.hosts):
            await host.stop()

    async def session(self, session_id: str) -> dict[str, Any]:
        return await self.client.query_or_raise(SS.SESSION_GET, {"session_id": session_id})

    async def wait_status(self, session_id: str, *statuses: str,
                          timeout: float = 30.0) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for _ in range(int(timeout / 0.1)):
            row = await self.session(session_id)
            if row["status"] in statuses:
                return row
            await asyncio.sleep(0.1)
        raise AssertionError(f"session {session_id} never reached {statuses}: {row}")


async def eventually(call: Callable[[], Awaitable[Reply]], check: Callable[[Reply], bool],
                     timeout: float = 15.0) -> Reply:
    result = None
    for _ in range(int(timeout / 0.1)):
        result = await call()
        if check(result):
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition never held; last: {result}")


async def start_stack(server: NatsServer, root: Path, cipher_key: str, runtime: str,
                      label_prefix: str, **agent_extra: Any) -> Stack:
    hosts: list[Any] = [await start_quota(server, root / "quota", cipher_key),
                        await start_identity(server, root / "identity", cipher_key),
                        await start_rbac(server, root / "rbac", cipher_key),
                        await start_storage(server, root / "storage", cipher_key)]
    settings = SchedulerSettings(
        nats_url=server.url, nats_user="scheduler",
        nats_password=server.passwords["scheduler"], data_dir=root / "scheduler",
        cipher_key=cipher_key, tick_seconds=0.2, relay_poll_seconds=0.2)
    host, app = build_scheduler(settings)
    await host.start()
    hosts.append(host)
    agent = await start_agent(server, root / "agent", cipher_key, runtime, label_prefix,
                              **agent_extra)
    hosts.append(agent)
    nc = await connect_as(server, "admin")
    creds = await bootstrap(nc)
    client = BusClient(nc, Actor(access_key=creds["access_key"]), timeout=10)
    stack = Stack(server, nc, client, creds, app, hosts)
    await eventually(lambda: client.query(QS.KEYPAIR_POLICY_GET, {"name": "default"}),
                     lambda r: r.ok)  # quota knows the superadmin too
    # Ready when the scheduler knows the agent and the superadmin's policy.
    await eventually(lambda: client.query(SS.RESOURCE_INDICATOR,
                                          {"access_key": creds["access_key"]}),
                     lambda r: r.ok and bool(r.data and r.data["capacity"]))
    return stack


__all__ = ["ServiceHost", "Stack", "eventually", "start_stack"]
