"""What a RECALCULATE USAGE run reads from the scheduler's store and writes back (recalc.py
runs it): the snapshot of every session and ledger taken before any agent is asked, the
result of a run already committed (a redelivered command), and the commit of a plan's
corrections with the run's record in one transaction, re-checked against fresh state on a
conflict. The pure decisions (the plan, the drifts) are `domain/recalc.py`'s."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.scheduler.domain import recalc as r
from services.scheduler.domain import slots as s
from services.scheduler.domain.errors import refuse
from services.scheduler.domain.model import (
    PREPARING,
    SCHEDULED,
    TERMINATING,
    Ledger,
    Session,
    ledger_id,
)
from services.scheduler.domain.usage import Recalculation
from services.scheduler.lifecycle import Scheduler

COMMIT_ATTEMPTS = 8
LATEST = 2**62  # an explicit version bypasses the aggregate cache (placement mutates it)


@dataclass(frozen=True)
class Snapshot:
    facts: dict[str, r.SessionFact]
    ledgers: dict[tuple[str, str], dict[str, dict[str, str]]]


class UsageStore:
    """The scheduler application's side of a recalculation (called off the event loop)."""

    def __init__(self, app: Scheduler) -> None:
        self.app = app

    def snapshot(self) -> Snapshot:
        self.app.view.catch_up()  # what other instances wrote to this store, too
        rows, ledgers = self.app.view.snapshot()
        users = self.app.directory.users
        facts = {}
        for row in rows:
            user = users.get(row["user_id"])
            placed = s.to_wire(s.scale(s.from_wire(row["slots"]), row["cluster_size"]))
            facts[row["session_id"]] = r.SessionFact(
                row["session_id"], row["version"], row["status"], row["agent_id"],
                row["access_key"], row["user_id"], row["project"],
                user.domain if user is not None else None, placed)
        return Snapshot(facts, ledgers)

    def prior(self, run_id: str) -> dict[str, Any] | None:
        """The result the run `run_id` committed, or None if it never did."""
        found = self.app.find(Recalculation.create_id(run_id))
        return result_of(found) if isinstance(found, Recalculation) else None

    def commit(self, run_id: str, snap: Snapshot, plan: r.Plan, events: int, asked: list[str],
               unanswered: list[str], stopped: int, began: float) -> dict[str, Any]:
        """All corrections, the drifts and the run's record in one transaction. A ledger or
        session that changed since the snapshot (a placement, an agent event) conflicts and
        the corrections are re-checked against fresh state; ones no longer true are left
        for the next run (counted as `skipped`)."""
        for _ in range(COMMIT_ATTEMPTS):
            sessions, ledgers, applied, skipped = self._corrections(snap, plan)
            found = r.drifts(snap.ledgers, applied, snap.facts)
            run = Recalculation(run_id=run_id)
            for d in found:
                run.record_drift(d.subject, d.slot, d.tracked, d.actual, d.cause)
            summary = {"drifts": len(found), "corrections": len(applied),
                       "sessions_ended": len(sessions), "orphans": len(plan.orphans),
                       "orphans_stopped": stopped, "skipped": skipped}
            run.complete(summary, events, asked, unanswered,
                         round(time.monotonic() - began, 6),
                         [{"ledger": f"{c.ledger[0]}:{c.ledger[1]}", "session_id": c.session_id,
                           "cause": c.cause} for c in applied],
                         [{"agent_id": o.agent_id, "session_id": o.session_id,
                           "container_id": o.container_id or "", "cause": o.cause}
                          for o in plan.orphans])
            try:
                self.app.save(run, *sessions, *ledgers)
            except IntegrityError:
                prior = self.prior(run_id)
                if prior is not None:
                    return prior
                self.app.forget(*sessions)
                continue
            return result_of(run)
        raise refuse("usage.recalculation_conflict", "the ledgers kept changing; run again")

    def _corrections(self, snap: Snapshot, plan: r.Plan
                     ) -> tuple[list[Session], list[Ledger], list[r.Correction], int]:
        sessions: dict[str, Session] = {}
        unchanged: dict[str, bool] = {}
        skipped = 0
        for end in plan.ends:
            session = self._session(end.session_id)
            if session is None or session.version != end.version:
                unchanged[end.session_id] = False
                skipped += 1
                continue
            if session.status in (SCHEDULED, PREPARING):
                session.fail(end.reason)
            else:
                reason = session.reason if session.status == TERMINATING else end.reason
                session.terminate(reason, None)
            sessions[end.session_id] = session
        ledgers: dict[tuple[str, str], Ledger] = {}
        applied = []
        for c in plan.corrections:
            if not unchanged.setdefault(c.session_id, self._still(snap, c.session_id)):
                skipped += 1
                continue
            ledger = ledgers.get(c.ledger) or self._ledger(*c.ledger)
            if not r.same(ledger.reservations.get(c.session_id), c.tracked):
                skipped += 1
                continue
            if c.actual is None:
                ledger.release(c.session_id)
            else:
                ledger.reserve(c.session_id, c.actual)
            ledgers[c.ledger] = ledger
            applied.append(c)
        return list(sessions.values()), list(ledgers.values()), applied, skipped

    def _still(self, snap: Snapshot, session_id: str) -> bool:
        """The session is as the plan saw it (or, for a phantom, still does not exist)."""
        current = self._session(session_id)
        fact = snap.facts.get(session_id)
        if fact is None:
            return current is None
        return current is not None and current.version == fact.version

    def _session(self, session_id: str) -> Session | None:
        try:
            found = self.app.find(UUID(session_id))
        except ValueError:
            return None
        return found if isinstance(found, Session) else None

    def _ledger(self, kind: str, key: str) -> Ledger:
        try:
            found = self.app.repository.get(ledger_id(kind, key), version=LATEST)
        except AggregateNotFoundError:
            return Ledger(kind=kind, key=key)
        assert isinstance(found, Ledger)
        return found


def result_of(run: Recalculation) -> dict[str, Any]:
    return {"run_id": run.run_id, **run.result, "drifts": list(run.drifts)}


__all__ = ["Snapshot", "UsageStore", "result_of"]
