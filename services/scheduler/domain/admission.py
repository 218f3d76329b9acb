"""Admission: refusals decided at request time, and predicates checked at scheduling time."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from services.scheduler.domain import slots as s
from services.scheduler.domain.errors import refuse


@dataclass(frozen=True)
class Limits:
    """A keypair's effective policy, unlimited as Infinity."""

    slots: s.Slots
    max_concurrent_sessions: Decimal = s.INF
    max_containers_per_session: Decimal = s.INF
    max_pending_session_count: Decimal = s.INF
    idle_timeout: Decimal = s.INF
    max_session_lifetime: Decimal = s.INF

    @classmethod
    def from_policy(cls, policy: dict[str, Any]) -> Limits:
        """Quota's policy dict (wire form) → limits with every known slot resolved."""
        fallback = s.INF if policy.get("default_for_unspecified") == s.UNLIMITED else Decimal(0)
        named = s.from_wire(policy.get("total_resource_slots", {}))
        resolved = {slot: named.get(slot, fallback) for slot in s.KNOWN}
        return cls(resolved, **{name: _scalar(policy.get(name, s.UNLIMITED)) for name in (
            "max_concurrent_sessions", "max_containers_per_session",
            "max_pending_session_count", "idle_timeout", "max_session_lifetime")})

    @classmethod
    def unlimited(cls) -> Limits:
        return cls({slot: s.INF for slot in s.KNOWN})


def _scalar(value: Any) -> Decimal:
    return s.INF if value in (s.UNLIMITED, None) else Decimal(str(value))


@dataclass
class Usage:
    """What one keypair holds now."""

    slots: s.Slots = field(default_factory=dict)
    active_sessions: int = 0
    pending_sessions: int = 0


def refuse_at_once(request: s.Slots, cluster_size: int, limits: Limits, usage: Usage,
                   agents: list[s.Slots] | None) -> None:
    """Requests that can never run under this policy or on this cluster are refused now."""
    if cluster_size > limits.max_containers_per_session:
        raise refuse("session.exceeds_policy",
                     f"cluster size {cluster_size} is over max_containers_per_session "
                     f"{limits.max_containers_per_session}", limit="max_containers_per_session",
                     requested=cluster_size, allowed=str(limits.max_containers_per_session))
    total = s.scale(request, cluster_size)
    over = s.shortfall(total, limits.slots)
    if over:
        slot = next(iter(over))
        raise refuse("session.exceeds_policy",
                     f"{slot} request is over the keypair policy by {over[slot]}",
                     limit=f"total_resource_slots.{slot}", over_by=over,
                     # not to_wire: it drops zeros, and a 0 limit is the common case
                     allowed={k: format(limits.slots[k].normalize(), "f") for k in over})
    if agents:
        # A session's containers are placed together on one agent: some agent must hold all.
        if not any(s.fits(total, capacity) for capacity in agents):
            nearest = min((s.shortfall(total, capacity) for capacity in agents),
                          key=lambda over: len(over))
            slot = next(iter(nearest))
            raise refuse("session.exceeds_cluster",
                         f"no agent in the cluster can ever hold this request ({slot} over "
                         f"the closest agent by {nearest[slot]})", limit=f"cluster.{slot}",
                         over_by=nearest)
    if usage.pending_sessions >= limits.max_pending_session_count:
        raise refuse("session.too_many_pending",
                     f"{usage.pending_sessions} sessions already wait; the policy allows "
                     f"{limits.max_pending_session_count}", limit="max_pending_session_count")


def failed_predicates(request: s.Slots, cluster_size: int, limits: Limits,
                      usage: Usage) -> list[str]:
    """Why a PENDING session cannot be scheduled now (empty: it may be placed)."""
    failed = []
    if usage.active_sessions >= limits.max_concurrent_sessions:
        failed.append(f"concurrency: {usage.active_sessions} of "
                      f"{limits.max_concurrent_sessions} sessions already run")
    need = s.add(usage.slots, s.scale(request, cluster_size))
    over = s.shortfall(need, limits.slots)
    if over:
        failed.append("keypair_resource_limit: over by " +
                      ", ".join(f"{k} {v}" for k, v in sorted(over.items())))
    return failed
