"""Traced aggregates: every event stores the actor, correlation and causation of the message
being handled when it was triggered; events stored without them load with None; every
service's aggregates are traced."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import pkgutil
from typing import Any
from uuid import UUID

import pytest
from eventsourcing import domain
from eventsourcing.domain import event

import services
from contracts.envelope import Actor
from services.runtime.context import MessageContext, using
from services.runtime.store import stable_id
from services.runtime.traced import TRACE_FIELDS, Aggregate, caused_by, event_id


class Lamp(Aggregate):
    @event("Installed")
    def __init__(self, room: str) -> None:
        self.room = room
        self.on = False

    @staticmethod
    def create_id(room: str) -> UUID:
        return stable_id("lamp", room)

    @event("Switched")
    def switch(self, on: bool) -> None:
        self.on = on


USER = Actor(access_key="AKIA" + "B" * 16)


def handling(message_id: str, correlation_id: str) -> MessageContext:
    return MessageContext(subject="bai.cmd.test.lamp.switch.v1", message_id=message_id,
                          actor=USER, correlation_id=correlation_id)


def test_an_event_carries_the_context_it_was_triggered_in() -> None:
    with using(handling("cmd-1", "r-123")):
        lamp = Lamp("hall")
        lamp.switch(True)
    installed, switched = lamp.collect_events()
    for e in (installed, switched):
        assert (e.actor, e.correlation_id, e.causation_id) == (  # type: ignore[attr-defined]
            {"access_key": USER.access_key}, "r-123", "cmd-1")
    assert lamp.correlation_id == "r-123"


def test_events_share_a_read_only_actor_and_a_new_actor_is_taken() -> None:
    other = Actor(system="test")
    with using(handling("cmd-1", "r-123")):
        lamp = Lamp("porch")
        lamp.switch(True)
    with using(MessageContext(subject="s", message_id="cmd-2", actor=other,
                              correlation_id="r-456")):
        lamp.switch(False)
    installed, switched, back = lamp.collect_events()
    with pytest.raises(TypeError):
        installed.actor["access_key"] = "changed"  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        installed.actor.update(system="x")  # type: ignore[attr-defined]
    assert switched.actor == {"access_key": USER.access_key}  # type: ignore[attr-defined]
    assert json.loads(json.dumps(switched.actor)) == {"access_key": USER.access_key}
    assert (back.actor, back.correlation_id, back.causation_id) == (  # type: ignore[attr-defined]
        {"system": "test"}, "r-456", "cmd-2")


def test_a_context_is_restored_after_its_block_also_on_error() -> None:
    from services.runtime.context import current

    with using(handling("cmd-1", "r-1")) as outer:
        with pytest.raises(RuntimeError), using(handling("cmd-2", "r-2")) as inner:
            assert current() is inner
            raise RuntimeError("inside")
        assert current() is outer
    assert current() is None


def test_an_event_triggered_outside_any_message_carries_none() -> None:
    lamp = Lamp("attic")
    [installed] = lamp.collect_events()
    assert [getattr(installed, f) for f in TRACE_FIELDS] == [None, None, None]


def test_an_event_stored_before_events_were_traced_loads_with_none() -> None:
    """The mapper rebuilds an event from its stored state without calling `__init__`."""
    old = object.__new__(Lamp.Switched)
    object.__setattr__(old, "__dict__", {"originator_id": stable_id("lamp", "hall"),
                                         "originator_version": 2, "on": True,
                                         "timestamp": None})
    assert [getattr(old, f) for f in TRACE_FIELDS] == [None, None, None]


def test_a_background_pass_continues_the_chain_of_the_aggregate_it_acts_on() -> None:
    with using(handling("cmd-1", "r-123")):
        lamp = Lamp("hall")
    ctx = caused_by(lamp, "test", Actor(system="test"))
    assert (ctx.correlation_id, ctx.message_id) == ("r-123", event_id("test", lamp.id, 1))
    with using(ctx):
        lamp.switch(True)
    switched = lamp.collect_events()[-1]
    assert switched.causation_id == event_id("test", lamp.id, 1)  # type: ignore[attr-defined]
    assert switched.actor == {"system": "test"}  # type: ignore[attr-defined]


def domain_aggregates() -> list[type[Any]]:
    found = []
    for info in pkgutil.walk_packages(services.__path__, "services."):
        if ".domain" not in info.name:
            continue
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, domain.Aggregate) and value.__module__ == module.__name__:
                found.append(value)
    return found


AGGREGATES = domain_aggregates()


def test_the_services_have_aggregates_to_check() -> None:
    assert len(AGGREGATES) >= 20


@pytest.mark.parametrize("aggregate", AGGREGATES, ids=[a.__qualname__ for a in AGGREGATES])
def test_every_domain_aggregate_is_traced(aggregate: type[Any]) -> None:
    assert issubclass(aggregate, Aggregate), (
        f"{aggregate.__module__}.{aggregate.__qualname__}: inherit services.runtime.traced."
        "Aggregate, so its events carry actor, correlation and causation")
    for _, value in inspect.getmembers(aggregate, inspect.isclass):
        if issubclass(value, domain.CanMutateAggregate) and dataclasses.is_dataclass(value):
            fields = {f.name: f for f in dataclasses.fields(value)}
            for name in TRACE_FIELDS:  # never taken as a method's parameter instead
                assert name in fields and not fields[name].init, (value, name)


class RecordingBus:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def request(self, subject: str, payload: bytes, timeout: float) -> Any:
        import json

        self.sent.append(json.loads(payload))

        class Msg:
            data = b'{"status":"accepted","data":{}}'
        return Msg()


def test_a_request_sent_while_handling_a_message_joins_its_chain() -> None:
    import asyncio

    from services.runtime.client import BusClient

    nc = RecordingBus()
    client = BusClient(nc, Actor(system="test"), proof="")  # type: ignore[arg-type]

    async def send() -> None:
        await client.command("bai.cmd.test.lamp.switch.v1", {})  # outside: a chain starts
        with using(handling("evt-9", "r-123")):
            await client.command("bai.cmd.test.lamp.switch.v1", {})
            await client.query("bai.qry.test.lamp.get.v1", {})

    asyncio.run(send())
    assert [(m["correlation_id"], m["causation_id"]) for m in nc.sent] == [
        (None, None), ("r-123", "evt-9"), ("r-123", "evt-9")]
