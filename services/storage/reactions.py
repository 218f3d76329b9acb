"""Consumed events: identity (users, memberships, projects, keypairs), quota (policies) and
the scheduler (sessions that ended release the folders they mounted)."""

from __future__ import annotations

from contracts import subjects
from services.runtime.host import Subscription
from services.storage.app import StorageApplication


def subscriptions(app: StorageApplication) -> list[Subscription]:
    return [Subscription("identity", subjects.durable("storage", "identity", "directory"),
                         app.on_identity_event),
            Subscription("quota", subjects.durable("storage", "quota", "policies"),
                         app.on_quota_event),
            Subscription("scheduler", subjects.durable("storage", "scheduler", "sessions"),
                         app.on_scheduler_event)]
