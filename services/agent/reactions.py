"""Consumed events: none. The agent acts only on directed commands addressed to it."""

from __future__ import annotations

from services.runtime.host import Subscription


def subscriptions() -> list[Subscription]:
    return []
