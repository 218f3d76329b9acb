"""Run rbac (with identity and quota, which it learns actors and scopes from) in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from services.rbac.main import RbacSettings, build
from services.runtime.host import ServiceHost
from tests.support.natsserver import NatsServer

T = TypeVar("T")


def rbac_settings(server: NatsServer, data_dir: Path, cipher_key: str,
                  store: str = "sqlite") -> RbacSettings:
    return RbacSettings(
        nats_url=server.url, nats_user="rbac", nats_password=server.passwords["rbac"],
        data_dir=data_dir, cipher_key=cipher_key, store=store, relay_poll_seconds=0.05,
    )


async def start_rbac(server: NatsServer, data_dir: Path, cipher_key: str,
                     store: str = "sqlite") -> ServiceHost:
    host = build(rbac_settings(server, data_dir, cipher_key, store))
    await host.start()
    return host


async def eventually(call: Callable[[], Awaitable[T]], check: Callable[[T], Any],
                     attempts: int = 200, pause: float = 0.025) -> T:
    result: Any = None
    for _ in range(attempts):
        result = await call()
        if check(result):
            return result
        await asyncio.sleep(pause)
    raise AssertionError(f"condition never held; last result: {result}")
