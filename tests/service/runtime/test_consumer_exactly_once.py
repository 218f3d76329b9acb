"""A durable consumer killed mid-batch applies each event exactly once after restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.envelope import Actor
from contracts.identity import Subjects as S
from services.runtime.client import BusClient
from services.runtime.settings import ServiceSettings
from tests.support.identity import bootstrap, connect_as, start_identity, user_payload
from tests.support.tally_consumer import build

EVENTS = 120


def spawn_tally(server, data: Path, key: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, BAIKAL_SERVICE="quota", BAIKAL_NATS_URL=server.url,
               BAIKAL_NATS_USER="quota", BAIKAL_NATS_PASSWORD=server.passwords["quota"],
               BAIKAL_DATA_DIR=str(data), BAIKAL_CIPHER_KEY=key, BAIKAL_LOG_LEVEL="WARNING",
               TALLY_DELAY="0.01")
    return subprocess.Popen([sys.executable, "-m", "tests.support.tally_main"], env=env)


@pytest.mark.timeout(180)
async def test_consumer_killed_mid_batch_applies_each_event_once(
        nats_server, tmp_path: Path, cipher_key: str):
    identity = await start_identity(nats_server, tmp_path / "identity", cipher_key)
    nc = await connect_as(nats_server, "admin")
    creds = await bootstrap(nc)
    client = BusClient(nc, Actor(access_key=creds["access_key"]))
    for n in range(EVENTS):
        await client.command_or_raise(S.USER_CREATE, user_payload(n, password="Passw0rd!"))

    tally_dir = tmp_path / "tally"
    settings = ServiceSettings(service="quota", nats_url=nats_server.url, nats_user="quota",
                               nats_password=nats_server.passwords["quota"], data_dir=tally_dir,
                               cipher_key=cipher_key)
    kills = 0
    for _ in range(3):  # kill it twice while it works through the backlog, then let it finish
        proc = spawn_tally(nats_server, tally_dir, cipher_key)
        await asyncio.sleep(1.5 + kills)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        kills += 1
        _, app = build(settings)
        partial = app.tally().counts
        app.close()
        assert all(v == 1 for v in partial.values())
        if len(partial) >= EVENTS:
            break
    assert kills >= 2 or len(partial) < EVENTS

    host, app = build(settings)
    await host.start()
    try:
        for _ in range(400):  # redelivery of what the killed process held waits ack_wait
            if len(app.tally().counts) >= EVENTS + 1:
                break
            await asyncio.sleep(0.1)
        counts = app.tally().counts
        assert len(counts) == EVENTS + 1  # every user plus the superadmin
        assert set(counts.values()) == {1}
    finally:
        await host.stop()
        await nc.close()
        await identity.stop()
