"""Scheduler aggregates: Session (status lifecycle) and the occupancy ledgers."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from contracts.scheduler import SessionStatus
from services.runtime.ids import stable_id
from services.runtime.traced import Aggregate
from services.scheduler.domain.errors import refuse

_S = SessionStatus  # the one list of session statuses (contracts.scheduler)
PENDING, SCHEDULED, PREPARING, RUNNING = _S.PENDING, _S.SCHEDULED, _S.PREPARING, _S.RUNNING
TERMINATING, TERMINATED, CANCELLED, ERROR = _S.TERMINATING, _S.TERMINATED, _S.CANCELLED, _S.ERROR
TERMINAL = (TERMINATED, CANCELLED, ERROR)
ACTIVE = (SCHEDULED, PREPARING, RUNNING, TERMINATING)

# Allowed transitions (reference §5.2, simplified to one container per session).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    PENDING: (SCHEDULED, CANCELLED, ERROR),
    SCHEDULED: (PREPARING, RUNNING, TERMINATING, TERMINATED, ERROR),
    PREPARING: (RUNNING, TERMINATING, TERMINATED, ERROR),
    RUNNING: (TERMINATING, TERMINATED, ERROR),
    TERMINATING: (TERMINATED, ERROR),
    TERMINATED: (),
    CANCELLED: (),
    ERROR: (),
}


class Session(Aggregate):
    @event("Requested")
    def __init__(self, name: str, access_key: str, user_id: str, project: str | None,
                 image: str, command: list[str], session_type: str, slots: dict[str, str],
                 cluster_size: int, priority: int, designated_agent: str | None) -> None:
        self.name = name
        self.access_key = access_key
        self.user_id = user_id
        self.project = project
        self.image = image
        self.command = list(command)
        self.session_type = session_type
        self.slots = dict(slots)
        self.cluster_size = cluster_size
        self.priority = priority
        self.designated_agent = designated_agent
        self.status: str = PENDING
        self.agent_id: str | None = None
        self.container_id: str | None = None
        self.failed_checks: list[str] = []
        self.exit_code: int | None = None
        self.reason = ""
        self.history: list[dict[str, Any]] = [{"status": PENDING, "reason": "requested"}]

    def _move(self, status: str, reason: str) -> None:
        if status not in TRANSITIONS[self.status]:
            raise refuse("session.invalid_transition",
                         f"a {self.status} session cannot become {status}",
                         status=self.status, target=status)
        self.status = status
        self.reason = reason
        self.history.append({"status": status, "reason": reason})

    def can_move(self, status: str) -> bool:
        return status in TRANSITIONS[self.status]

    @event("MountsRequested")
    def request_mounts(self, mounts: list[dict[str, Any]]) -> None:
        """Storage folders to mount: (folder, path), with what storage admitted when the
        session was requested (folder_id, source, read_only); held with storage at start."""
        self.mounts = [dict(m) for m in mounts]

    @event("ChecksFailed")
    def record_checks(self, failed: list[str]) -> None:
        self.failed_checks = list(failed)

    # The placement pass's own events (Scheduled here, Reserved on two ledgers) are explicit
    # event classes, triggered by keyword: the same stored topic and fields as `@event`, without
    # its per-call signature mapping (measured: ~6% of a placement's instructions).
    class Scheduled(Aggregate.Event):
        agent_id: str

        def apply(self, session: Session) -> None:
            super().apply(session)
            session._move(SCHEDULED, "placed")
            session.agent_id = self.agent_id
            session.failed_checks = []

    def schedule(self, agent_id: str) -> None:
        self.trigger_event(self.Scheduled, agent_id=agent_id)

    @event("Preparing")
    def prepare(self) -> None:
        self._move(PREPARING, "agent-accepted")

    @event("Started")
    def start(self, container_id: str, allocated: dict[str, str]) -> None:
        self._move(RUNNING, "container-started")
        self.container_id = container_id
        self.slots = dict(allocated) or self.slots

    @event("Terminating")
    def begin_termination(self, reason: str) -> None:
        self._move(TERMINATING, reason)

    @event("Terminated")
    def terminate(self, reason: str, exit_code: int | None) -> None:
        self._move(TERMINATED, reason)
        self.exit_code = exit_code

    @event("Cancelled")
    def cancel(self, reason: str) -> None:
        self._move(CANCELLED, reason)

    @event("Errored")
    def fail(self, reason: str) -> None:
        self._move(ERROR, reason)

    @event("Touched")
    def touch(self) -> None:
        """A user interaction: resets the idle clock."""


class Ledger(Aggregate):
    """What is reserved against one keypair or one agent, session by session.

    Saved with each admission and release, so two schedulers racing on the same keypair or
    agent conflict at commit instead of over-admitting.
    """

    @event("Opened")
    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        self.reservations: dict[str, dict[str, str]] = {}

    @staticmethod
    def create_id(kind: str, key: str) -> UUID:
        return ledger_id(kind, key)

    class Reserved(Aggregate.Event):  # explicit, as Session.Scheduled (a placement's events)
        session_id: str
        slots: dict[str, str]

        def apply(self, ledger: Ledger) -> None:
            super().apply(ledger)
            ledger.reservations[self.session_id] = dict(self.slots)

    class Released(Aggregate.Event):
        session_id: str

        def apply(self, ledger: Ledger) -> None:
            super().apply(ledger)
            ledger.reservations.pop(self.session_id, None)

    def reserve(self, session_id: str, slots: dict[str, str]) -> None:
        self.trigger_event(self.Reserved, session_id=session_id, slots=slots)

    def release(self, session_id: str) -> None:
        self.trigger_event(self.Released, session_id=session_id)


@lru_cache(maxsize=65536)  # a pure function, asked twice per placement (a SHA-1 each)
def ledger_id(kind: str, key: str) -> UUID:
    return stable_id("ledger", kind, key)
