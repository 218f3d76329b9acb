"""Consumed events: container lifecycle from agents, deactivations from identity."""

from __future__ import annotations

from contracts import subjects
from services.runtime.host import Subscription
from services.scheduler.lifecycle import Scheduler


def subscriptions(app: Scheduler) -> list[Subscription]:
    return [
        Subscription("agent", subjects.durable("scheduler", "agent", "containers"),
                     app.on_agent_event),
        Subscription("identity", subjects.durable("scheduler", "identity", "deactivations"),
                     app.on_identity_event),
    ]
