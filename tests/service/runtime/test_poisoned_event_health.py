"""An event a replica cannot apply, on a real stream: the service that replicates it turns
not-ready on /health, names the stream sequence, and its metric shows it."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from contracts import subjects
from tests.support.identity import connect_as
from tests.support.natsserver import NatsServer
from tests.support.quota import start_quota
from tests.support.rbac import eventually


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (127.0.0.1)
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def health(port: int) -> tuple[int, dict[str, Any]]:
    status, body = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/health")
    return status, json.loads(body)


async def test_a_poisoned_identity_event_makes_quota_not_ready(
        nats_server: NatsServer, tmp_path: Path, cipher_key: str) -> None:
    quota = await start_quota(nats_server, tmp_path / "quota", cipher_key)
    nc = await connect_as(nats_server, "identity")
    try:
        port = quota.health.port
        status, body = await health(port)
        assert status == 200 and body["checks"]["replicas"]["ok"] is True
        js = nc.jetstream(timeout=5)
        ack = await js.publish(subjects.event("identity", "user", "created"),
                               json.dumps({"type": "UserCreated", "data": {}}).encode())
        status, body = await eventually(lambda: health(port), lambda r: r[0] == 503)
        stuck = body["checks"]["replicas"]["replicas"]["ActorDirectory:identity"]["stuck"]
        assert stuck["seq"] == ack.seq
        assert "KeyError" in stuck["error"]
        _, metrics = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/metrics")
        assert (f'bai_replica_stuck_sequence{{producer="identity",replica="ActorDirectory"}} '
                f'{float(ack.seq)}') in metrics.decode()
    finally:
        await nc.close()
        await quota.stop()
