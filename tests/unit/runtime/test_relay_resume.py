"""The outbox relay resuming in the middle of a command's events (a publish failed, or the
relay restarted) still stamps each event with its command's causation and actor."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from eventsourcing.cryptography import AESCipher

from contracts.envelope import Actor
from services.runtime.observability import Metrics
from services.runtime.relay import OutboxRelay, envelope_for
from services.runtime.settings import ServiceSettings
from services.runtime.store import Decision, command_meta, store_env
from tests.unit.runtime.test_store_writers import Counter, Counters


class FlakyJetStream:
    """Acks every publish, except the ones named in `fail` (once each)."""

    def __init__(self, fail: set[int]) -> None:
        self.fail = fail
        self.published: list[tuple[int, dict[str, Any]]] = []

    async def publish_async(self, subject: str, payload: bytes, wait_stall: float,
                            headers: dict[str, str]) -> asyncio.Future[Any]:
        import json

        position = int(headers["Bai-Notification-Id"])
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if position in self.fail:
            self.fail.discard(position)
            ack.set_exception(ConnectionError("stream unavailable"))
        else:
            self.published.append((position, json.loads(payload)))
            ack.set_result(None)
        return ack


def translate(domain_event: Any) -> tuple[str, Any]:
    return "bai.evt.counters.counter.added.v1", envelope_for(
        "counters", domain_event, "Added", {})


def test_a_failed_publish_resumes_with_the_command_context(tmp_path: Path) -> None:
    settings = ServiceSettings(service="counters", data_dir=tmp_path,
                               cipher_key=AESCipher.create_key(32))
    app = Counters(store_env(settings, "counters"))
    counter = Counter("c")

    def create() -> Decision:
        return Decision([counter], {})

    actor = Actor(access_key="AKIA" + "A" * 16)
    app.execute("create", {}, create, command_meta(actor, "create"))
    for n in range(3):
        app.execute(f"add-{n}", {"amount": n}, lambda n=n: _add(app, n),
                    command_meta(actor, f"add-{n}"))
    log = app.process_recorder.select_notifications(1, 100)
    events = [n.id for n in log if not n.topic.endswith("CommandRecord.Recorded")]
    js = FlakyJetStream(fail={events[2]})  # the second add's event fails once

    async def run() -> OutboxRelay:
        relay = OutboxRelay(app, js, "counters", translate, Metrics("counters"))  # type: ignore[arg-type]
        try:
            await relay.drain()
        except ConnectionError:
            pass
        assert relay.position == events[2] - 1  # its command record is done, it is not
        await relay.drain()
        return relay

    relay = asyncio.run(run())
    assert relay.position == log[-1].id
    causes = {position: e["causation_id"] for position, e in js.published}
    assert [causes[i] for i in events] == ["create", "add-0", "add-1", "add-2"]
    assert all(e["actor"]["access_key"] == actor.access_key for _, e in js.published)

    # a relay started afresh in the middle of a command finds its context in the log too
    fresh = OutboxRelay(app, FlakyJetStream(set()), "counters", translate,  # type: ignore[arg-type]
                        Metrics("counters-2"))
    fresh.position = events[3] - 1
    assert fresh._context_before(events[3])[0]["command_id"] == "add-2"  # type: ignore[index]
    app.close()


def _add(app: Counters, n: int) -> Decision:
    from services.runtime.store import stable_id

    counter = app.find(stable_id("counter", "c"))
    counter.add(n)
    return Decision([counter], {})


def test_commands_wait_while_the_unpublished_backlog_is_full(tmp_path: Path) -> None:
    settings = ServiceSettings(service="counters", data_dir=tmp_path,
                               cipher_key=AESCipher.create_key(32))
    app = Counters(store_env(settings, "counters"))
    js = FlakyJetStream(set())

    async def run() -> None:
        relay = OutboxRelay(app, js, "counters", translate, Metrics("counters"),  # type: ignore[arg-type]
                            backlog_limit=4)
        relay._loop = asyncio.get_running_loop()
        app.on_saved(relay.wake)
        app.save(Counter("c"))
        for n in range(4):
            app.save(*_add(app, n).aggregates)
        await asyncio.sleep(0)  # the saves' wake-ups run
        assert len(relay._fresh) >= 4 and not relay._room.is_set()  # commands would wait
        await relay.drain()
        assert relay._fresh == {} and relay._room.is_set()  # published: room again
        await asyncio.wait_for(relay.room(), timeout=1)

    asyncio.run(run())
    assert len(js.published) == 5
    app.close()
