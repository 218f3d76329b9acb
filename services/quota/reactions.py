"""Consumed events: identity's keypairs, users and projects tell quota who uses which policy.
Each envelope is parsed once into its typed contract events (`contracts.identity.
typed_events`; a retired UserUpdated comes as the specific events it stood for)."""

from __future__ import annotations

from eventsourcing.persistence import Tracking

from contracts import identity, subjects
from contracts.envelope import Event
from services.quota.app import QuotaApplication
from services.runtime.host import Subscription


def subscriptions(app: QuotaApplication) -> list[Subscription]:
    def references(envelope: Event, tracking: Tracking) -> None:
        app.on_identity_events(identity.typed_events(envelope), tracking)

    return [Subscription("identity", subjects.durable("quota", "identity", "references"),
                         references)]
