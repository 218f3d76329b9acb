"""Consumed events: identity (users, memberships, projects, keypairs), quota (policies) and
the scheduler (sessions that ended release the folders they mounted). identity's and quota's
envelopes are parsed once, here, into their typed contract events."""

from __future__ import annotations

from eventsourcing.persistence import Tracking

from contracts import identity, quota, subjects
from contracts.envelope import Event
from services.runtime.host import Subscription
from services.storage.app import StorageApplication
from services.storage.learn import learn_identity_events, learn_policy_event


def subscriptions(app: StorageApplication) -> list[Subscription]:
    def directory(envelope: Event, tracking: Tracking) -> None:
        learn_identity_events(app, identity.typed_events(envelope), tracking)

    def policies(envelope: Event, tracking: Tracking) -> None:
        learn_policy_event(app, quota.typed_event(envelope), tracking)

    return [Subscription("identity", subjects.durable("storage", "identity", "directory"),
                         directory),
            Subscription("quota", subjects.durable("storage", "quota", "policies"), policies),
            Subscription("scheduler", subjects.durable("storage", "scheduler", "sessions"),
                         app.on_scheduler_event)]
