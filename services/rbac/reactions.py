"""Consumed events: identity's domains, projects, users and memberships (directory and
system roles), each envelope parsed once into its typed contract events
(`contracts.identity.typed_events`) before the reaction (`learn.py`) sees it."""

from __future__ import annotations

from eventsourcing.persistence import Tracking

from contracts import identity, subjects
from contracts.envelope import Event
from services.rbac.app import RbacApplication
from services.rbac.learn import learn_identity_events
from services.runtime.host import Subscription


def subscriptions(app: RbacApplication) -> list[Subscription]:
    def directory(envelope: Event, tracking: Tracking) -> None:
        learn_identity_events(app, identity.typed_events(envelope), tracking)

    return [Subscription("identity", subjects.durable("rbac", "identity", "directory"),
                         directory)]
