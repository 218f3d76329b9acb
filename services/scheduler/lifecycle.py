"""Session lifecycle driven by agents, identity and time: the rest of SchedulerApplication."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking

from contracts import identity
from contracts.envelope import Event
from services.runtime.errors import CodedError
from services.runtime.traced import continuing
from services.scheduler.app import SYSTEM, SchedulerApplication
from services.scheduler.domain.model import (
    PENDING,
    PREPARING,
    RUNNING,
    SCHEDULED,
    TERMINAL,
    TERMINATING,
    Session,
    ledger_id,
)
from services.scheduler.domain.usage import ContainerRecord, container_record_id

log = logging.getLogger(__name__)


class Scheduler(SchedulerApplication):
    """Adds what happens after placement."""

    name = "scheduler"

    def mark_preparing(self, session_id: str) -> None:
        def change(session: Session) -> list[Any]:
            if session.status != SCHEDULED:
                return []  # the container already started (or the session ended)
            session.prepare()
            return [session]

        self._change(session_id, change)

    def fail(self, session_id: str, reason: str) -> None:
        def change(session: Session) -> list[Any]:
            if session.status in TERMINAL:
                return []
            session.fail(reason)
            return [session, *self._release(session)]

        self._change(session_id, change)

    def finish(self, session_id: str, reason: str, exit_code: int | None = None) -> None:
        """The container is gone: TERMINATED, usage released."""

        def change(session: Session) -> list[Any]:
            if session.status == PENDING:
                session.cancel(reason)
                return [session]
            if session.status in TERMINAL:
                return []
            session.terminate(session.reason if session.status == TERMINATING else reason,
                              exit_code)
            return [session, *self._release(session)]

        self._change(session_id, change)

    def _change(self, session_id: str, change: Callable[[Session], list[Any]]) -> None:
        """Load, change, save; a write conflict (an agent event saved the session meanwhile)
        is decided again from fresh state, a few times at most."""
        for _ in range(5):
            session = self.session(session_id)
            with continuing(session, self.name, SYSTEM):  # called by the worker's passes
                touched = change(session)
            if not touched:
                return
            try:
                self.save_guarded(*touched)
                return
            except IntegrityError:
                continue
        log.warning("session %s kept changing under us; the next pass retries", session_id)

    # ---- reactions ----------------------------------------------------------------------------

    def on_agent_event(self, envelope: Event, tracking: Tracking) -> None:
        data = envelope.data
        touched: list[Any] = self._record_fact(envelope.type, data)
        session = self._known(data.get("session_id", ""))
        if session is not None and session.status in TERMINAL \
                and envelope.type in ("ContainerExited", "ContainerFailed"):
            # A container that outlived its session (held on its agent by a recalculation)
            # is gone now: whatever still reserves it is released.
            touched += self._release_held(session)
        elif session is not None:
            if envelope.type == "ContainerStarted" and session.status in (SCHEDULED, PREPARING):
                session.start(data["container_id"], data["slots"])
                touched += [session]
            elif envelope.type == "ContainerExited":
                reason = session.reason if session.status == TERMINATING else data["reason"]
                session.terminate(reason, data.get("exit_code"))
                touched += [session, *self._release(session)]
            elif envelope.type == "ContainerFailed":
                session.fail(data["reason"])
                touched += [session, *self._release(session)]
        self.save_guarded(*touched, tracking=tracking)

    def _release_held(self, session: Session) -> list[Any]:
        held = []
        for kind, key in (("keypair", session.access_key), ("agent", session.agent_id)):
            ledger = self.find(ledger_id(kind, key), copy=False) if key else None
            if ledger is not None and str(session.id) in ledger.reservations:
                ledger.release(str(session.id))
                held.append(ledger)
        return held

    def _record_fact(self, kind: str, data: dict[str, Any]) -> list[Any]:
        """The scheduler's own record of what the agent said (RECALCULATE USAGE replays it),
        whether or not a session reacts to it."""
        agent, session_id = data.get("agent_id"), data.get("session_id")
        if not agent or not session_id or kind not in (
                "ContainerStarted", "ContainerExited", "ContainerFailed"):
            return []
        record = self.find(container_record_id(agent, session_id))
        if record is None:
            record = ContainerRecord(agent_id=agent, session_id=session_id)
        if record.ended:
            return []  # ends are final: a late start must not reopen it
        if kind == "ContainerStarted":
            if record.container_id is None:
                record.started(data.get("container_id", ""), dict(data.get("slots") or {}))
        else:
            record.end(kind, str(data.get("reason", "")))
        return [record] if record.pending_events else []

    def on_identity_events(self, events: list[identity.IdentityEvent],
                           tracking: Tracking) -> None:
        """A deactivated user or keypair (typed, parsed by reactions.py): no new sessions,
        running ones end."""
        rows = []
        for e in events:
            if isinstance(e, identity.UserDeactivated):
                rows += [r for r in self.view.sessions.values() if r["user_id"] == e.user_id]
            elif isinstance(e, identity.KeypairDeactivated):
                rows += [r for r in self.view.sessions.values()
                         if r["access_key"] == e.access_key]
        touched: list[Any] = []
        for row in rows:
            session = self.session(row["session_id"])
            touched += self._end(session, "user-deactivated")
        self.save_guarded(*touched, tracking=tracking)

    def _known(self, session_id: str) -> Session | None:
        try:
            return self.session(session_id)
        except CodedError:  # events about sessions this scheduler never had are ignored
            return None

    # ---- time -----------------------------------------------------------------------------

    def expire_idle(self, now: float | None = None) -> list[str]:
        """RUNNING sessions past their policy's idle timeout or lifetime → TERMINATING."""
        now = now or time.time()
        ended = []
        for row in self.view.by_status(RUNNING):
            try:
                limits = self.limits_of(row["access_key"])
            except CodedError as exc:  # unknown keypair or policy: nothing to enforce yet
                log.debug("no limits for %s: %s", row["session_id"], exc.code)
                continue
            reason = None
            if now - row["last_activity"] > limits.idle_timeout:
                reason = "idle-timeout"
            elif now - (row["started_at"] or now) > limits.max_session_lifetime:
                reason = "max-lifetime"
            if reason:
                session = self.session(row["session_id"])
                if session.status != RUNNING:
                    continue  # moved on since the view was read
                with continuing(session, self.name, SYSTEM):
                    session.begin_termination(reason)
                try:
                    self.save(session)
                except IntegrityError:
                    continue  # changed concurrently; the next pass looks again
                ended.append(row["session_id"])
        return ended

    def agent_lost(self, agent_id: str) -> list[str]:
        ended = []
        for row in self.view.by_status(SCHEDULED, PREPARING, RUNNING, TERMINATING):
            if row["agent_id"] == agent_id:
                self.fail(row["session_id"], "agent-lost")
                ended.append(row["session_id"])
        return ended

    def pending_count(self) -> int:
        return len(self.view.by_status(PENDING))
