"""The base aggregate of every service: each event stores who caused it and in which chain.

As eventsourcing's `contentmanagement` example stores `user_id`, every event of an
`Aggregate` defined here carries `actor`, `correlation_id` and `causation_id`, taken when the
event is triggered from the message being handled (`context.current()`): the command's
proven actor and correlation id, and the command's id (or, in a reaction, the consumed
event's id) as its cause. The relay copies them onto the published envelope as they are.

Events stored before these fields existed have none in their state; the class attributes
below answer None for them, so they load unchanged (no upcaster, and no `class_version`
that would collide with a service's own upcasters).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import field
from typing import Any
from uuid import UUID

from eventsourcing import domain

from contracts.envelope import Actor
from services.runtime.context import MessageContext, current, for_event, using
from services.runtime.ids import stable_id_str


class ActorFields(dict[str, str]):
    """An event's actor as stored (a JSON object), read-only: the events stamped with the same
    actor share one (a copy per event was one more dict for the collector to trace)."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("an event's actor is read-only")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _refuse  # type: ignore[assignment]
    __ior__ = _refuse  # type: ignore[assignment]


# The last actor an event was stamped with, dumped once (`Actor` is frozen): a placement pass
# stamps three events per session as the same system actor, a command a few as its caller.
_LAST_ACTOR: tuple[Actor | None, ActorFields] = (None, ActorFields())


def _actor_of(ctx: MessageContext) -> ActorFields:
    global _LAST_ACTOR
    actor, dumped = _LAST_ACTOR
    if actor is not ctx.actor:
        dumped = ActorFields(ctx.actor.model_dump(exclude_none=True))
        _LAST_ACTOR = (ctx.actor, dumped)
    return dumped


class Aggregate(domain.Aggregate):
    """eventsourcing's `Aggregate` whose events are traced; every domain inherits this one."""

    # The correlation id of the chain that last changed this aggregate (kept by `Event.apply`):
    # a background pass that acts on the aggregate later continues that chain (`caused_by`).
    # (No annotation: the library would read an annotated class body as an `__init__` field.)
    correlation_id = None

    class Event(domain.Aggregate.Event):
        # init=False: never a parameter of an @event method, always from the context, which
        # `__post_init__` reads once for all three (three default factories read it three
        # times and dumped the actor for every event: 3% of a placement's instructions).
        actor: dict[str, str] | None = field(init=False)
        correlation_id: str | None = field(init=False)
        causation_id: str | None = field(init=False)

        def __post_init__(self) -> None:
            super().__post_init__()
            ctx = current()
            state = self.__dict__  # frozen: written past its __setattr__, as __init__ does
            if ctx is None:
                state["actor"] = state["correlation_id"] = state["causation_id"] = None
            else:
                state["actor"] = _actor_of(ctx)
                state["correlation_id"] = ctx.correlation_id
                state["causation_id"] = ctx.message_id

        def apply(self, aggregate: Any) -> None:
            aggregate.correlation_id = self.correlation_id


# Defaults for events stored without the fields (the dataclass leaves no class attribute
# for a field without a default; instances made by `__init__` always set their own).
Aggregate.Event.actor = None
Aggregate.Event.correlation_id = None
Aggregate.Event.causation_id = None

TRACE_FIELDS = ("actor", "correlation_id", "causation_id")


def event_id(service: str, aggregate_id: UUID | str, version: int) -> str:
    """The published id of an aggregate's event: it depends only on its position."""
    return stable_id_str("event", service, str(aggregate_id), str(version))


def trace_of(domain_event: Any) -> dict[str, Any]:
    """The envelope fields of a stored event's trace (None where it has none)."""
    actor = getattr(domain_event, "actor", None)
    return {"correlation_id": getattr(domain_event, "correlation_id", None),
            "causation_id": getattr(domain_event, "causation_id", None),
            "actor": Actor.model_validate(actor) if actor else None}


def caused_by(aggregate: Any, service: str, actor: Actor, subject: str = "") -> MessageContext:
    """The context of work a background pass does because of an aggregate's last event (a
    placement after a request, a stop after a termination): same chain, caused by it."""
    last = event_id(service, aggregate.id, aggregate.version)
    return for_event(subject or f"{service}.pass", last,
                     getattr(aggregate, "correlation_id", None), actor)


def continuing(aggregate: Any, service: str, actor: Actor) -> AbstractContextManager[Any]:
    """Inside a message's handling, its context; outside (a timer, a placement pass), the
    aggregate's own chain continued by `caused_by`."""
    if current() is not None:
        return nullcontext()
    return using(caused_by(aggregate, service, actor))


def request_trace() -> dict[str, str | None]:
    """`correlation_id` and `causation_id` for a command or query sent now: inside a
    message's handling, its chain and its id as cause; outside, none (a chain starts)."""
    ctx = current()
    if ctx is None:
        return {"correlation_id": None, "causation_id": None}
    return {"correlation_id": ctx.correlation_id, "causation_id": ctx.message_id}
