"""SchedulerApplication: session commands, placement, and reactions to agents and identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Tracking

from contracts import scheduler as c
from contracts.envelope import Actor
from services.runtime.actors import ActorDirectory
from services.runtime.errors import CodedError
from services.runtime.store import Decision, ServiceApplication
from services.runtime.traced import continuing
from services.scheduler.domain import admission, placement
from services.scheduler.domain import slots as s
from services.scheduler.domain.errors import refuse
from services.scheduler.domain.model import (
    PENDING,
    PREPARING,
    RUNNING,
    SCHEDULED,
    Ledger,
    Session,
    ledger_id,
)
from services.scheduler.views import AgentRegistry, PolicyBook, SessionView

SYSTEM = Actor(system="scheduler")  # who the scheduler's own passes act as


@dataclass
class _Pass:
    """One batch of placements, not yet committed."""

    rooms: placement.RoomIndex
    sessions: list[Session] = field(default_factory=list)
    ledgers: dict[tuple[str, str], Ledger] = field(default_factory=dict)
    placed: list[tuple[str, str]] = field(default_factory=list)
    extra: dict[str, tuple[s.Slots, int]] = field(default_factory=dict)

    def add_usage(self, access_key: str, slots: s.Slots) -> None:
        held, count = self.extra.get(access_key, ({}, 0))
        self.extra[access_key] = (s.add(held, slots), count + 1)

    def usage(self, access_key: str, saved: admission.Usage) -> admission.Usage:
        held, count = self.extra.get(access_key, ({}, 0))
        return admission.Usage(s.add(saved.slots, held), saved.active_sessions + count,
                               saved.pending_sessions - count)


@dataclass
class Placement:
    algorithm: str = "fifo"       # fifo | lifo | drf
    selector: str = "dispersed"   # dispersed | concentrated | round-robin


class SchedulerApplication(ServiceApplication):
    name = "scheduler"

    def __init__(self, env: dict[str, str] | None = None,
                 directory: ActorDirectory | None = None, policies: PolicyBook | None = None,
                 agents: AgentRegistry | None = None, placement_: Placement | None = None
                 ) -> None:
        super().__init__(env)
        self.directory = directory or ActorDirectory()
        self.policies = policies or PolicyBook()
        self.agents = agents or AgentRegistry(timeout=40)
        self.placement = placement_ or Placement()
        self.view = SessionView(self)
        self._rr_cursor = 0

    def session(self, session_id: str) -> Session:
        try:
            found = self.find(UUID(session_id))
        except ValueError:
            found = None
        if not isinstance(found, Session):
            raise refuse("session.not_found", "no such session", field="session_id")
        return found

    def limits_of(self, access_key: str) -> admission.Limits:
        keypair = self.directory.keypair(access_key)
        if keypair is None:
            raise refuse("auth.unauthenticated", "unknown access key")
        limits = self.policies.limits(keypair.resource_policy)
        if limits is None:
            raise refuse("policy.unknown", f"policy '{keypair.resource_policy}' is not known "
                         "to the scheduler yet; retry", policy=keypair.resource_policy)
        return limits

    # ---- commands -----------------------------------------------------------------------------

    def request_session(self, command_id: str, actor: Actor, p: c.RequestSession,
                        mounts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """`mounts`: what storage admitted for `p.mounts` (host path, read-only); None: the
        folders as named, checked when the session starts."""
        def decide() -> Decision:
            principal = self.directory.resolve(actor)
            assert actor.access_key is not None
            request = s.parse_request(p.slots)
            limits = self.limits_of(actor.access_key)
            admission.refuse_at_once(request, p.cluster_size, limits,
                                     self.view.usage(actor.access_key),
                                     self.agents.capacities())
            session = Session(
                name=p.name, access_key=actor.access_key, user_id=principal.user_id,
                project=p.project, image=p.image, command=p.command,
                session_type=str(p.session_type), slots=s.to_wire(request),
                cluster_size=p.cluster_size, priority=p.priority, designated_agent=p.agent)
            if p.mounts:
                session.request_mounts(mounts if mounts is not None
                                       else [m.model_dump() for m in p.mounts])
            return Decision([session], {"session_id": str(session.id), "status": PENDING})

        return self.execute(command_id, p.model_dump(mode="json"), decide)

    def terminate_session(self, command_id: str, actor: Actor,
                          p: c.TerminateSession) -> dict[str, Any]:
        def decide() -> Decision:
            # Who may: the guard checked session:soft-delete at the owner's scope.
            session = self.session(p.session_id)
            return Decision(self._end(session, p.reason),
                            {"session_id": p.session_id, "status": session.status})

        return self.execute(command_id, p.model_dump(), decide)

    def touch(self, actor: Actor, session_id: str) -> dict[str, Any]:
        # Who may: the guard checked session:update at the owner's scope.
        session = self.session(session_id)
        if session.status == RUNNING:
            session.touch()
            self.save(session)
        return {"session_id": session_id, "status": session.status}

    def _end(self, session: Session, reason: str) -> list[Any]:
        """Pending → CANCELLED; placed or running → TERMINATING (the worker stops it)."""
        if session.status == PENDING:
            session.cancel(reason)
        elif session.status in (SCHEDULED, PREPARING, RUNNING):
            session.begin_termination(reason)
        return [session]

    # ---- placement ------------------------------------------------------------------------

    def schedule_once(self, budget: int = 1000, batch: int = 64) -> list[tuple[str, str]]:
        """Place what can be placed now.

        Placements are committed in batches: each batch saves its sessions with every ledger
        it touched in one transaction, so a conflict with another scheduler loses the whole
        batch (decided again next tick) and nothing is ever over-admitted. Within a batch,
        usage counts the batch's own, not yet saved, reservations.
        """
        self.view.catch_up()
        queue = [placement.Pending(r["session_id"], r["access_key"], r["requested_at"],
                                   s.from_wire(r["slots"]), r["designated_agent"])
                 for r in self.view.by_status(PENDING)]
        usage = {p.access_key: self.view.usage(p.access_key).slots for p in queue}
        ordered = placement.order(queue, self.placement.algorithm, usage,
                                  self.agents.cluster_capacity())
        placed: list[tuple[str, str]] = []
        current = _Pass(placement.RoomIndex(self._rooms(), self.placement.selector))
        for pending in ordered[:budget]:
            agent_id = self._try_place(pending, current)
            if agent_id is not None:
                current.placed.append((pending.session_id, agent_id))
            if len(current.placed) >= batch:
                placed += self._commit(current)
                current = _Pass(current.rooms)
        return placed + self._commit(current)

    def _commit(self, current: _Pass) -> list[tuple[str, str]]:
        if not current.sessions:
            return []
        ledgers = list(current.ledgers.values())
        try:
            self.save(*current.sessions, *ledgers)
        except IntegrityError:
            self.forget(*ledgers)
            return []  # another scheduler moved first; the next tick decides again
        return current.placed

    def _try_place(self, pending: placement.Pending, current: _Pass) -> str | None:
        session = self.session(pending.session_id)
        try:
            limits = self.limits_of(session.access_key)
        except CodedError as exc:  # recorded as a failed check, retried next tick
            return self._record_checks(session, [f"policy: {exc.message}"])
        usage = current.usage(session.access_key, self.view.usage(session.access_key))
        failed = admission.failed_predicates(pending.request, session.cluster_size, limits,
                                             usage)
        total = s.scale(pending.request, session.cluster_size)
        room = None
        if not failed:
            room = current.rooms.select(total, self._rr_cursor, pending.designated_agent)
            if room is None:
                failed = ["agent_capacity: no agent has room for the request now"]
        if room is None:
            return self._record_checks(session, failed)
        self._rr_cursor += 1
        slots = s.to_wire(total)
        with continuing(session, self.name, SYSTEM):  # the request's chain, caused by it
            session.schedule(room.agent_id)
            for kind, key in (("keypair", session.access_key), ("agent", room.agent_id)):
                if (kind, key) not in current.ledgers:
                    current.ledgers[(kind, key)] = self._ledger(kind, key)
                current.ledgers[(kind, key)].reserve(pending.session_id, slots)
        current.sessions.append(session)
        current.add_usage(session.access_key, total)
        current.rooms.consume(room.agent_id, total)
        return room.agent_id

    def _record_checks(self, session: Session, failed: list[str]) -> None:
        # Compare which checks failed, not their numbers, so waiting costs no writes.
        if [f.split(":")[0] for f in failed] != [f.split(":")[0] for f in session.failed_checks]:
            with continuing(session, self.name, SYSTEM):
                session.record_checks(failed)
            self.save(session)
        return None

    def _rooms(self) -> list[placement.AgentRoom]:
        rooms = []
        for agent in self.agents.alive():
            capacity = self.agents.capacity(agent)
            free = s.sub(capacity, self.view.agent_reserved(agent["agent_id"]))
            rooms.append(placement.AgentRoom(agent["agent_id"], capacity, free))
        return rooms

    def _ledger(self, kind: str, key: str) -> Ledger:
        # Not copied: a keypair's ledger holds every session it runs; see forget() above.
        found = self.find(ledger_id(kind, key), copy=False)
        return found if found is not None else Ledger(kind=kind, key=key)

    def save_guarded(self, *aggregates: Any, tracking: Tracking | None = None) -> None:
        """Save; if it fails, drop the uncopied ledgers from the cache before re-raising."""
        try:
            if tracking is None:
                self.save(*aggregates)
            else:
                self.save_tracked(tracking, *aggregates)
        except Exception:
            self.forget(*(a for a in aggregates if isinstance(a, Ledger)))
            raise

    def _release(self, session: Session) -> list[Any]:
        ledgers = [self._ledger("keypair", session.access_key)]
        if session.agent_id:
            ledgers.append(self._ledger("agent", session.agent_id))
        for ledger in ledgers:
            if str(session.id) in ledger.reservations:
                ledger.release(str(session.id))
        return ledgers
