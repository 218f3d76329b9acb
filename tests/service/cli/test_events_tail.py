"""`baikal events tail` as the operator, who may not create consumers: it reads every stream
by sequence, from the start or only what comes next."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from contracts.envelope import Actor
from contracts.identity import Subjects as S
from services.cli.events import tail_events
from services.cli.stack import StackLayout
from services.runtime.client import BusClient
from tests.support.identity import bootstrap, connect_as, start_identity, user_payload
from tests.support.natsserver import NatsServer


def layout_for(server: NatsServer, root: Path) -> StackLayout:
    layout = StackLayout(root)
    layout.create()
    layout.config.write_text(json.dumps({"nats_port": server.port}))
    layout.secrets.write_text(json.dumps({"nats": server.passwords, "cipher": {}}))
    return layout


async def test_tail_from_the_start_prints_what_was_published_and_then_what_comes(
        nats_server: NatsServer, tmp_path: Path, cipher_key: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    host = await start_identity(nats_server, tmp_path / "identity", cipher_key)
    admin = await connect_as(nats_server, "admin")
    try:
        root = await bootstrap(admin)
        layout = layout_for(nats_server, tmp_path / ".baikal")
        await asyncio.wait_for(tail_events(layout, "bai.evt.identity.>", True, 2, 5), 20)
        history = capsys.readouterr().out
        assert history.count("identity") >= 2 and "UserCreated" in history

        later = asyncio.create_task(tail_events(layout, "bai.evt.>", False, 1, 10))
        await asyncio.sleep(0.5)  # only what is published from now on
        client = BusClient(admin, Actor(access_key=root["access_key"]), timeout=10)
        await client.command_or_raise(S.USER_CREATE, user_payload("tail"))
        await asyncio.wait_for(later, 20)
        printed = capsys.readouterr().out
        assert "user-tail@example.com".replace("-", "") in printed  # the new one
        assert "root@baikal.test" not in printed  # history was not replayed
    finally:
        await admin.close()
        await host.stop()
