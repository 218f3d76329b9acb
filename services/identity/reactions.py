"""Reactions to other services' events, each receiving the typed contract event (parsed
once, here): quota's policy announcements keep identity's catalogs of policy names, so
identity refuses names quota never announced."""

from __future__ import annotations

from eventsourcing.persistence import Tracking

from contracts import quota, subjects
from contracts.envelope import Event
from services.identity.app import IdentityApplication
from services.runtime.host import Subscription


def subscriptions(app: IdentityApplication) -> list[Subscription]:
    def policy_announced(envelope: Event, tracking: Tracking) -> None:
        app.on_policy_event(quota.typed_event(envelope), tracking)

    return [Subscription("quota", subjects.durable("identity", "quota", "policies"),
                         policy_announced)]
