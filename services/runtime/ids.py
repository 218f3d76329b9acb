"""Deterministic ids: the one part of the runtime that domain code imports."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

NAMESPACE = uuid5(NAMESPACE_URL, "https://baikal.dev/ids")


def stable_id(*parts: str) -> UUID:
    """Deterministic id, used for index aggregates and command records."""
    return uuid5(NAMESPACE, "\x1f".join(parts))
