"""SIGKILL identity during a burst of creates; restart; nothing accepted is lost or doubled."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from pathlib import Path

import pytest

from contracts import subjects
from contracts.envelope import Actor
from contracts.identity import Subjects as S
from services.runtime.client import BusClient, BusError
from tests.support.identity import bootstrap, connect_as, user_payload
from tests.support.process import spawn_service, stop

BURST = 500


async def stream_emails(nc, event_type: str) -> Counter[str]:
    js = nc.jetstream()
    info = await js.stream_info(subjects.stream("identity"))
    seen: Counter[str] = Counter()
    for seq in range(1, info.state.last_seq + 1):
        event = json.loads((await js.get_msg(subjects.stream("identity"), seq=seq)).data)
        if event["type"] == event_type:
            seen[event["data"]["email"]] += 1
    return seen


async def send(client: BusClient, n: int, outcomes: dict[int, str]) -> None:
    try:
        reply = await client.command(S.USER_CREATE, user_payload(n), command_id=f"burst-{n}")
        outcomes[n] = "accepted" if reply.ok else reply.error.code
    except BusError as exc:
        if not exc.no_answer:
            raise
        outcomes[n] = "lost"


@pytest.mark.timeout(240)
async def test_sigkill_mid_burst_loses_nothing_accepted_and_publishes_once(
        nats_server, tmp_path: Path, cipher_key: str):
    data = tmp_path / "identity"
    proc = spawn_service("identity", nats_server, data, cipher_key)
    nc = await connect_as(nats_server, "admin")
    try:
        creds = await bootstrap(nc)
        client = BusClient(nc, Actor(access_key=creds["access_key"]), timeout=3)
        outcomes: dict[int, str] = {}
        gate = asyncio.Semaphore(16)

        async def bounded(n: int) -> None:
            async with gate:
                await send(client, n, outcomes)

        tasks = [asyncio.create_task(bounded(n)) for n in range(BURST)]
        while sum(1 for o in outcomes.values() if o == "accepted") < 60:
            await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        await asyncio.gather(*tasks)
        accepted_before = {n for n, o in outcomes.items() if o == "accepted"}
        assert 60 <= len(accepted_before) < BURST, "the kill must land mid-burst"

        proc = spawn_service("identity", nats_server, data, cipher_key)
        # Clients retry what they did not hear back about, with the same command ids.
        retry = [n for n, o in outcomes.items() if o != "accepted"]
        await asyncio.gather(*(bounded(n) for n in retry))
        assert all(o == "accepted" for o in outcomes.values()), Counter(outcomes.values())

        listed = await client.query_or_raise(S.USER_LIST, {"email_contains": "@example.com",
                                                           "limit": 1000})
        emails = Counter(u["email"] for u in listed["items"])
        assert len(emails) == BURST and max(emails.values()) == 1
        for n in accepted_before:
            assert emails[f"user{n}@example.com"] == 1

        await asyncio.sleep(1.0)  # the relay resumes from the stream's last position
        published = await stream_emails(nc, "UserCreated")
        missing = [n for n in range(BURST) if published[f"user{n}@example.com"] != 1]
        assert missing == [], f"not published exactly once: {missing[:10]}"
        assert sum(published.values()) == BURST + 1  # + the superadmin
    finally:
        await nc.close()
        stop(proc)
