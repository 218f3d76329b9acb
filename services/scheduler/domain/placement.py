"""Queue ordering (FIFO, LIFO, DRF) and agent selection (dispersed, concentrated,
round-robin): pure functions over snapshots."""

from __future__ import annotations

import bisect
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


class RoomIndex:
    """Agents kept in selector order while placements consume room, so choosing an agent
    costs a short scan from one end instead of comparing every agent each time.

    Chooses exactly what `select_agent` would: dispersed takes the largest (key, agent id)
    that fits, concentrated the smallest; round-robin falls back to `select_agent`.
    """

    def __init__(self, rooms: Sequence[AgentRoom], selector: str) -> None:
        self.selector = selector
        self.rooms = {room.agent_id: room for room in rooms}
        self._order = sorted((_float_key(room), room.agent_id) for room in rooms)

    def select(self, request: s.Slots, rr_cursor: int = 0,
               designated: str | None = None) -> AgentRoom | None:
        if self.selector == "round-robin" or designated is not None:
            return select_agent(request, list(self.rooms.values()), self.selector, rr_cursor,
                                designated)
        order = self._order if self.selector == "concentrated" else reversed(self._order)
        for _, agent_id in order:
            room = self.rooms[agent_id]
            if s.fits(request, room.free):
                return room
        return None

    def consume(self, agent_id: str, used: s.Slots) -> None:
        old = self.rooms[agent_id]
        self._order.pop(bisect.bisect_left(self._order, (_float_key(old), agent_id)))
        new = AgentRoom(agent_id, old.capacity, s.sub(old.free, used))
        self.rooms[agent_id] = new
        bisect.insort(self._order, (_float_key(new), agent_id))


def _float_key(room: AgentRoom) -> tuple[float, ...]:
    return tuple(float(room.free.get(slot, Decimal(0))) for slot in s.PRIORITY)
