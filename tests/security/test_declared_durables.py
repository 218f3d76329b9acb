"""A pull durable declared in the permission model (one `Durable` line) is created at
provisioning without deliver subject; its owner may pull and ack, no one else may."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest
from nats.errors import Error as NatsError

from contracts import principals as model
from contracts import subjects
from tests.support.identity import connect_as
from tests.support.natsserver import start_nats

DURABLE = model.Durable(owner="quota", producer="identity", name="quota__identity__pull",
                        filter=subjects.events_of("identity"))


async def test_a_declared_durable_is_pulled_and_acked_by_its_owner_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "DURABLES", (DURABLE,))
    server = start_nats(tmp_path / "nats")
    stream = subjects.stream("identity")
    identity, quota = [await connect_as(server, u) for u in ("identity", "quota")]
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    rbac = await nats.connect(server.url, user="rbac", password=server.passwords["rbac"],
                              inbox_prefix=subjects.inbox("rbac"), error_cb=on_error,
                              allow_reconnect=False)
    try:
        for _ in range(2):
            await identity.jetstream().publish(subjects.event("identity", "user", "created"),
                                               b"{}")
        info = await quota.jetstream().consumer_info(stream, DURABLE.name)
        assert info.config.deliver_subject is None  # pull only
        sub = await quota.jetstream().pull_subscribe_bind(DURABLE.name, stream)
        [msg] = await sub.fetch(1, timeout=5)
        await msg.ack_sync(timeout=5)
        with pytest.raises((NatsError, TimeoutError)):
            other = await rbac.jetstream(timeout=1).pull_subscribe_bind(DURABLE.name, stream)
            await asyncio.wait_for(other.fetch(1, timeout=1), 3)
        assert any("permissions violation" in e and "consumer.msg.next" in e for e in errors)
        [second] = await sub.fetch(1, timeout=5)  # rbac took nothing
        assert second.metadata.sequence.stream == 2
    finally:
        for nc in (identity, quota, rbac):
            await nc.close()
        server.stop()
