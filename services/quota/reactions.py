"""Consumed events: identity's keypairs, users and projects tell quota who uses which policy."""

from __future__ import annotations

from contracts import subjects
from services.quota.app import QuotaApplication
from services.runtime.host import Subscription


def subscriptions(app: QuotaApplication) -> list[Subscription]:
    return [Subscription("identity", subjects.durable("quota", "identity", "references"),
                         app.on_identity_event)]
