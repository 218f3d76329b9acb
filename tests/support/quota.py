"""Run quota (and identity, which it learns actors and references from) in-process."""

from __future__ import annotations

from pathlib import Path

from services.quota.main import QuotaSettings, build
from services.runtime.host import ServiceHost
from tests.support.natsserver import NatsServer


def quota_settings(server: NatsServer, data_dir: Path, cipher_key: str,
                   store: str = "sqlite") -> QuotaSettings:
    return QuotaSettings(
        nats_url=server.url, nats_user="quota", nats_password=server.passwords["quota"],
        data_dir=data_dir, cipher_key=cipher_key, store=store, relay_poll_seconds=0.2,
    )


async def start_quota(server: NatsServer, data_dir: Path, cipher_key: str,
                      store: str = "sqlite") -> ServiceHost:
    host = build(quota_settings(server, data_dir, cipher_key, store))
    await host.start()
    return host
