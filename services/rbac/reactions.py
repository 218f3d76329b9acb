"""Consumed events: identity's domains, projects, users and memberships (directory and
system roles)."""

from __future__ import annotations

from contracts import subjects
from services.rbac.app import RbacApplication
from services.runtime.host import Subscription


def subscriptions(app: RbacApplication) -> list[Subscription]:
    return [Subscription("identity", subjects.durable("rbac", "identity", "directory"),
                         app.on_identity_event)]
