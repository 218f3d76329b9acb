"""The outbox relay as a stateless map: resuming in the middle of a command's events (a
publish failed, or the relay restarted) still publishes each event with its own stored
causation, correlation and actor."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from eventsourcing.cryptography import AESCipher
from eventsourcing.domain import event

from contracts.envelope import Actor
from services.runtime.context import MessageContext, using
from services.runtime.observability import Metrics
from services.runtime.relay import OutboxRelay, envelope_for
from services.runtime.settings import ServiceSettings
from services.runtime.store import Decision, stable_id, store_env
from services.runtime.traced import Aggregate
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


class Tally(Aggregate):
    """A traced counter: its events carry the context they were triggered in."""

    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.value = 0

    @staticmethod
    def create_id(name: str) -> Any:
        return stable_id("tally", name)

    @event("Added")
    def add(self, amount: int) -> None:
        self.value += amount


def _traced_log(tmp_path: Path) -> tuple[Counters, list[int]]:
    """Four commands (create, add-0..2) of one request chain, each with its command record."""
    settings = ServiceSettings(service="counters", data_dir=tmp_path,
                               cipher_key=AESCipher.create_key(32))
    app = Counters(store_env(settings, "counters"))
    actor = Actor(access_key="AKIA" + "A" * 16)

    def run(command_id: str, decide: Any) -> None:
        ctx = MessageContext(subject="bai.cmd.counters.tally.add.v1", message_id=command_id,
                             actor=actor, correlation_id="r-123")
        with using(ctx):
            app.execute(command_id, {"id": command_id}, decide)

    run("create", lambda: Decision([Tally("t")], {}))
    for n in range(3):
        run(f"add-{n}", lambda n=n: _add_tally(app, n))
    log = app.process_recorder.select_notifications(1, 100)
    return app, [n.id for n in log if not n.topic.endswith("CommandRecord.Recorded")]


def _add_tally(app: Counters, n: int) -> Decision:
    tally = app.find(stable_id("tally", "t"))
    tally.add(n)
    return Decision([tally], {})


def test_a_failed_publish_resumes_with_each_events_own_trace(tmp_path: Path) -> None:
    app, events = _traced_log(tmp_path)
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
    assert relay.position == app.process_recorder.max_notification_id()
    causes = {position: e["causation_id"] for position, e in js.published}
    assert [causes[i] for i in events] == ["create", "add-0", "add-1", "add-2"]
    assert all(e["correlation_id"] == "r-123" for _, e in js.published)
    assert all(e["actor"]["access_key"] == "AKIA" + "A" * 16 for _, e in js.published)
    app.close()


def test_the_relay_maps_each_notification_without_look_back_state(tmp_path: Path) -> None:
    """A relay started at any position (here: just before the last add's event, after its
    command record) publishes that event with its trace, having read nothing before it."""
    app, events = _traced_log(tmp_path)
    js = FlakyJetStream(set())
    fresh = OutboxRelay(app, js, "counters", translate, Metrics("counters-2"))  # type: ignore[arg-type]
    fresh.position = events[3] - 1
    asyncio.run(fresh.drain())
    [(position, published)] = js.published
    assert position == events[3]
    assert (published["causation_id"], published["correlation_id"]) == ("add-2", "r-123")
    assert not hasattr(fresh, "_context")  # nothing carried from one notification to the next
    app.close()


def test_events_stored_without_a_trace_publish_with_none(tmp_path: Path) -> None:
    """Events written outside any message (or before events carried a trace) publish with
    no actor, correlation or causation rather than someone else's."""
    settings = ServiceSettings(service="counters", data_dir=tmp_path,
                               cipher_key=AESCipher.create_key(32))
    app = Counters(store_env(settings, "counters"))
    app.save(Tally("t"))
    js = FlakyJetStream(set())
    asyncio.run(OutboxRelay(app, js, "counters", translate,  # type: ignore[arg-type]
                            Metrics("counters-3")).drain())
    [(_, published)] = js.published
    assert (published["actor"], published["correlation_id"], published["causation_id"]) == (
        None, None, None)
    app.close()


def _add(app: Counters, n: int) -> Decision:
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
