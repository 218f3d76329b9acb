"""Queue ordering (FIFO, LIFO, DRF) and agent selection (dispersed, concentrated,
round-robin): pure functions over snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from services.scheduler.domain import slots as s


@dataclass(frozen=True)
class Pending:
    session_id: str
    access_key: str
    requested_at: float
    request: s.Slots  # per container × cluster size
    designated_agent: str | None


@dataclass(frozen=True)
class AgentRoom:
    agent_id: str
    capacity: s.Slots
    free: s.Slots


def order(queue: Sequence[Pending], algorithm: str,
          usage: dict[str, s.Slots] | None = None, capacity: s.Slots | None = None
          ) -> list[Pending]:
    if algorithm == "lifo":
        return sorted(queue, key=lambda p: -p.requested_at)
    if algorithm == "drf":
        usage, capacity = usage or {}, capacity or {}
        return sorted(queue, key=lambda p: (
            s.dominant_share(usage.get(p.access_key, {}), capacity), p.requested_at))
    return sorted(queue, key=lambda p: p.requested_at)


def _room_key(room: AgentRoom) -> tuple[Decimal, ...]:
    return tuple(room.free.get(slot, Decimal(0)) for slot in s.PRIORITY)


def select_agent(request: s.Slots, rooms: Sequence[AgentRoom], selector: str,
                 rr_cursor: int = 0, designated: str | None = None) -> AgentRoom | None:
    candidates = [r for r in rooms if s.fits(request, r.free)
                  and (designated is None or r.agent_id == designated)]
    if not candidates:
        return None
    if selector == "concentrated":
        return min(candidates, key=lambda r: (_room_key(r), r.agent_id))
    if selector == "round-robin":
        ordered = sorted(candidates, key=lambda r: r.agent_id)
        return ordered[rr_cursor % len(ordered)]
    return max(candidates, key=lambda r: (_room_key(r), r.agent_id))
