"""Scheduler read models: sessions and reservations (own log), policies (quota replica),
agents (heartbeats)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from contracts import quota
from contracts.scheduler import ListSessions, SessionStatus
from services.runtime.replica import StreamReplica
from services.runtime.store import ServiceApplication
from services.runtime.views import FollowingView
from services.scheduler.domain import slots as s
from services.scheduler.domain.admission import Limits, Usage
from services.scheduler.domain.model import PENDING, TERMINAL, Ledger, Session


class SessionView(FollowingView):
    def __init__(self, app: ServiceApplication) -> None:
        super().__init__(app)
        self.sessions: dict[str, dict[str, Any]] = {}
        self.ledgers: dict[str, tuple[str, str]] = {}  # ledger id -> (kind, key)
        self.reserved: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
        # Running totals so usage questions cost O(1), not a scan of every session.
        self.reserved_total: dict[tuple[str, str], s.Slots] = {}
        self.pending_by_key: dict[str, int] = {}

    def apply(self, e: Any) -> None:
        oid = str(e.originator_id)
        at = e.timestamp.timestamp()
        if isinstance(e, Session.Requested):
            self.sessions[oid] = {
                "session_id": oid, "name": e.name, "access_key": e.access_key,
                "user_id": e.user_id, "project": e.project, "image": e.image,
                "session_type": e.session_type, "slots": dict(e.slots),
                "cluster_size": e.cluster_size, "designated_agent": e.designated_agent,
                "status": PENDING, "agent_id": None, "container_id": None,
                "failed_checks": [], "requested_at": at, "started_at": None,
                "terminated_at": None, "last_activity": at, "reason": "requested",
                "history": [{"status": PENDING, "reason": "requested", "at": at}],
                "version": e.originator_version,
            }
            self.pending_by_key[e.access_key] = self.pending_by_key.get(e.access_key, 0) + 1
        elif isinstance(e, Session.Event) and oid in self.sessions:
            self._apply_session(self.sessions[oid], e, at)
        elif isinstance(e, Ledger.Opened):
            self.ledgers[oid] = (e.kind, e.key)
            self.reserved[(e.kind, e.key)] = {}
        elif isinstance(e, Ledger.Reserved):
            key = self.ledgers[oid]
            # A reservation may be replaced (RECALCULATE USAGE corrects its slots).
            replaced = self.reserved[key].get(e.session_id, {})
            self.reserved[key][e.session_id] = dict(e.slots)
            total = s.sub(s.add(self.reserved_total.get(key, {}), s.from_wire(e.slots)),
                          s.from_wire(replaced))
            self.reserved_total[key] = {k: v for k, v in total.items() if v != 0}
        elif isinstance(e, Ledger.Released):
            key = self.ledgers[oid]
            released = self.reserved[key].pop(e.session_id, None)
            if released is not None:
                left = s.sub(self.reserved_total.get(key, {}), s.from_wire(released))
                self.reserved_total[key] = {k: v for k, v in left.items() if v != 0}

    def _apply_session(self, row: dict[str, Any], e: Any, at: float) -> None:
        row["version"] = e.originator_version
        if isinstance(e, Session.ChecksFailed):
            row["failed_checks"] = list(e.failed)
            return
        if isinstance(e, Session.Touched):
            row["last_activity"] = at
            return
        if isinstance(e, Session.MountsRequested):
            # What was asked (folder, mount path), never storage's host path: readers of the
            # session see the request, the agent gets the admitted paths from the aggregate.
            row["mounts"] = [{"folder": m["folder"], "path": m.get("path")} for m in e.mounts]
            return
        status, reason = _STATUS_OF[type(e).__name__], getattr(e, "reason", "")
        if row["status"] == PENDING and status != PENDING:
            self.pending_by_key[row["access_key"]] -= 1
        reason = reason or {"Scheduled": "placed", "Preparing": "agent-accepted",
                            "Started": "container-started"}.get(type(e).__name__, "")
        row.update(status=status, reason=reason, last_activity=at)
        row["history"].append({"status": status, "reason": reason, "at": at})
        if isinstance(e, Session.Scheduled):
            row["agent_id"] = e.agent_id
            row["failed_checks"] = []
        elif isinstance(e, Session.Started):
            row.update(container_id=e.container_id, started_at=at,
                       slots=dict(e.allocated) or row["slots"])
        elif status in TERMINAL:
            row["terminated_at"] = at

    # ---- reads (callers hold no lock; each takes it) ---------------------------------------

    def get(self, session_id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.sessions.get(session_id)
            return _public(row) if row else None

    def owner(self, session_id: str) -> str | None:
        """The user id of the session's owner (its permission scope)."""
        with self.lock:
            row = self.sessions.get(session_id)
            return row["user_id"] if row else None

    def by_status(self, *statuses: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.sessions.values() if r["status"] in statuses]

    def usage(self, access_key: str) -> Usage:
        with self.lock:
            key = ("keypair", access_key)
            return Usage(dict(self.reserved_total.get(key, {})),
                         len(self.reserved.get(key, {})),
                         self.pending_by_key.get(access_key, 0))

    def agent_reserved(self, agent_id: str) -> s.Slots:
        with self.lock:
            return dict(self.reserved_total.get(("agent", agent_id), {}))

    def snapshot(self) -> tuple[list[dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
        """Every session (without history) and every ledger's reservations, at one position."""
        with self.lock:
            rows = [{k: v for k, v in r.items() if k != "history"}
                    for r in self.sessions.values()]
            ledgers = {key: {sid: dict(slots) for sid, slots in entries.items()}
                       for key, entries in self.reserved.items()}
        return rows, ledgers

    def list(self, q: ListSessions, readable: Callable[[str], bool] = lambda uid: True
             ) -> dict[str, Any]:
        """Only the sessions whose owner (user id) `readable` admits count and show."""
        with self.lock:
            rows = [r for r in self.sessions.values()
                    if (not q.status or r["status"] in q.status)
                    and q.access_key in (None, r["access_key"])
                    and q.user_id in (None, r["user_id"])
                    and q.project in (None, r["project"])
                    and readable(r["user_id"])]
            rows.sort(key=lambda r: -r["requested_at"])
            page = [_public(r, history=False) for r in rows[q.offset:q.offset + q.limit]]
        return {"total": len(rows), "offset": q.offset, "limit": q.limit, "items": page}


_STATUS_OF = {"Scheduled": SessionStatus.SCHEDULED, "Preparing": SessionStatus.PREPARING,
              "Started": SessionStatus.RUNNING, "Terminating": SessionStatus.TERMINATING,
              "Terminated": SessionStatus.TERMINATED, "Cancelled": SessionStatus.CANCELLED,
              "Errored": SessionStatus.ERROR}


def _public(row: dict[str, Any], history: bool = True) -> dict[str, Any]:
    data = dict(row)
    if not history:
        data.pop("history", None)
    return data


class PolicyBook(StreamReplica):
    """Keypair resource policies as quota announced them."""

    def __init__(self) -> None:
        super().__init__("quota")
        self.policies: dict[str, dict[str, Any]] = {}
        self._limits: dict[str, Limits] = {}

    def apply(self, envelope: dict[str, Any]) -> None:
        e = quota.typed_event_of(envelope["type"], envelope["data"])
        if e is None or e.kind != quota.PolicyKind.KEYPAIR:
            return
        self._limits.pop(e.name, None)
        if isinstance(e, quota.PolicyCreated | quota.PolicyUpdated):
            self.policies[e.name] = e.policy
        else:
            self.policies.pop(e.name, None)

    def limits(self, name: str) -> Limits | None:
        with self.lock:
            if name not in self._limits and name in self.policies:
                self._limits[name] = Limits.from_policy(self.policies[name])
            return self._limits.get(name)


class AgentRegistry:
    """Agents as their heartbeats describe them; silent past the timeout → LOST."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.agents: dict[str, dict[str, Any]] = {}
        # Agents that stored sessions are placed on, not heard since this scheduler started
        # (monotonic time they were first expected): heartbeats are not stored, so an agent
        # that died while the scheduler was down would otherwise never become LOST.
        self.expected: dict[str, float] = {}

    def heartbeat(self, beat: dict[str, Any]) -> bool:
        """Record a heartbeat; True when the agent is new or came back."""
        known = self.agents.get(beat["agent_id"])
        returning = known is None or known["status"] == "LOST"
        self.agents[beat["agent_id"]] = {**beat, "last_seen": time.monotonic(),
                                         "status": "ALIVE"}
        self.expected.pop(beat["agent_id"], None)
        return returning

    def expect(self, agent_ids: Iterable[str]) -> None:
        """Agents the stored sessions are placed on: each one not heard within the timeout
        from now is reported LOST by `expire`, like an agent that fell silent."""
        now = time.monotonic()
        for agent_id in agent_ids:
            if agent_id not in self.agents:
                self.expected.setdefault(agent_id, now)

    def expire(self) -> list[str]:
        now = time.monotonic()
        lost = [a for a, info in self.agents.items()
                if info["status"] == "ALIVE" and now - info["last_seen"] > self.timeout]
        for agent_id in lost:
            self.agents[agent_id]["status"] = "LOST"
        silent = [a for a, since in self.expected.items() if now - since > self.timeout]
        for agent_id in silent:  # never heard since the restart: its sessions end too
            del self.expected[agent_id]
        return lost + silent

    def alive(self) -> list[dict[str, Any]]:
        return [a for a in self.agents.values() if a["status"] == "ALIVE"]

    def capacity(self, agent: dict[str, Any]) -> s.Slots:
        return s.from_wire(agent["capacity"])

    def cluster_capacity(self) -> s.Slots:
        total: s.Slots = {}
        for agent in self.alive():
            total = s.add(total, self.capacity(agent))
        return total

    def capacities(self) -> list[s.Slots]:
        return [self.capacity(a) for a in self.alive()]

    def largest(self) -> s.Slots | None:
        alive = self.alive()
        if not alive:
            return None
        return {slot: max(self.capacity(a).get(slot, Decimal(0)) for a in alive)
                for slot in s.KNOWN}
