"""Consumed events: quota's policy announcements, so identity refuses unknown policy names."""

from __future__ import annotations

from contracts import subjects
from services.identity.app import IdentityApplication
from services.runtime.host import Subscription


def subscriptions(app: IdentityApplication) -> list[Subscription]:
    return [Subscription("quota", subjects.durable("identity", "quota", "policies"),
                         app.on_quota_event)]
