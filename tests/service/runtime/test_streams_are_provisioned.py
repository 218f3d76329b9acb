"""Services never create streams: on a server nobody provisioned, a service refuses to start
with a stable code naming the fix; after `provision` it starts, and provisioning again
changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli.natsconf import new_passwords
from services.cli.stack import free_port
from services.runtime.provision import provision_blocking
from services.runtime.reader import StreamNotProvisioned
from tests.support.identity import start_identity
from tests.support.natsserver import NatsServer


async def test_a_service_refuses_to_start_on_an_unprovisioned_server(
        tmp_path: Path, cipher_key: str) -> None:
    server = NatsServer(tmp_path / "nats", free_port(), free_port(), new_passwords(),
                        provisioned=False)
    server.directory.mkdir(parents=True)
    server.start()
    try:
        with pytest.raises(StreamNotProvisioned) as refused:
            await start_identity(server, tmp_path / "identity", cipher_key)
        assert refused.value.code == "bus.stream.not_provisioned"
        assert "baikal provision" in refused.value.message
        changed = provision_blocking(server.url, server.passwords["provision"])
        assert "stream BAI_EVT_IDENTITY created" in changed
        assert provision_blocking(server.url, server.passwords["provision"]) == []
        host = await start_identity(server, tmp_path / "identity", cipher_key)
        await host.stop()
    finally:
        server.stop()
