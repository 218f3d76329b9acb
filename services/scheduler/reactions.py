"""Consumed events: container lifecycle from agents, deactivations from identity (parsed
once into identity's typed contract events, `contracts.identity.typed_events`)."""

from __future__ import annotations

from eventsourcing.persistence import Tracking

from contracts import identity, subjects
from contracts.envelope import Event
from services.runtime.host import Subscription
from services.scheduler.lifecycle import Scheduler


def subscriptions(app: Scheduler) -> list[Subscription]:
    def deactivations(envelope: Event, tracking: Tracking) -> None:
        app.on_identity_events(identity.typed_events(envelope), tracking)

    return [
        Subscription("agent", subjects.durable("scheduler", "agent", "containers"),
                     app.on_agent_event),
        Subscription("identity", subjects.durable("scheduler", "identity", "deactivations"),
                     deactivations),
    ]
