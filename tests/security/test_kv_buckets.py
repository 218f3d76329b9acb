"""A key-value bucket declared in the permission model (one `KvBucket` line, e.g. the
gateway's replay cache) is created at provisioning with its TTL, and only its declared
writers and readers may use it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from nats.errors import Error as NatsError
from nats.js.errors import KeyWrongLastSequenceError

from contracts import principals as model
from tests.support.identity import connect_as
from tests.support.natsserver import start_nats

BUCKET = model.KvBucket("BAIKAL_TEST_REPLAY", ttl_seconds=60, writers=("gateway",),
                        readers=("gateway",))


async def test_a_declared_bucket_is_provisioned_and_used_only_by_its_writers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "BUCKETS", (BUCKET,))
    server = start_nats(tmp_path / "nats")
    gateway = await connect_as(server, "gateway")
    admin = await connect_as(server, "admin")
    try:
        kv = await gateway.jetstream(timeout=2).key_value(BUCKET.name)
        status = await kv.status()
        assert status.ttl == BUCKET.ttl_seconds
        await kv.create("sig-1", b"seen")
        with pytest.raises(KeyWrongLastSequenceError):  # a replay: already seen
            await kv.create("sig-1", b"seen")
        assert (await kv.get("sig-1")).value == b"seen"
        with pytest.raises((NatsError, TimeoutError)):
            await asyncio.wait_for(admin.jetstream(timeout=1).key_value(BUCKET.name), 3)
    finally:
        await gateway.close()
        await admin.close()
        server.stop()
