"""Aggregates of RECALCULATE USAGE: the scheduler's record of each container's facts (what the
agents said, kept even when no session reacted to it) and one record per recalculation run."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from services.runtime.ids import stable_id
from services.runtime.traced import Aggregate


class ContainerRecord(Aggregate):
    """One (agent, session): started with which slots, and whether it ended.

    Saved with the consumed agent event and its tracking position, so it holds every
    container event exactly once: the replay reads these, not the session states."""

    @event("Opened")
    def __init__(self, agent_id: str, session_id: str) -> None:
        self.agent_id = agent_id
        self.session_id = session_id
        self.slots: dict[str, str] = {}
        self.container_id: str | None = None
        self.ended = False

    @staticmethod
    def create_id(agent_id: str, session_id: str) -> UUID:
        return container_record_id(agent_id, session_id)

    @event("Started")
    def started(self, container_id: str, slots: dict[str, str]) -> None:
        self.container_id = container_id
        self.slots = dict(slots)

    @event("Ended")
    def end(self, kind: str, reason: str) -> None:
        self.ended = True


def container_record_id(agent_id: str, session_id: str) -> UUID:
    return stable_id("container-record", agent_id, session_id)


class Recalculation(Aggregate):
    """One run. Opened, its drifts and its completion are saved in the same transaction as
    every correction it made, so a crash leaves either all of them or none."""

    @event("Opened")
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.drifts: list[dict[str, str]] = []
        self.result: dict[str, Any] = {}

    @staticmethod
    def create_id(run_id: str) -> UUID:
        return stable_id("recalculation", run_id)

    @event("DriftRecorded")
    def record_drift(self, subject: str, slot: str, tracked: str, actual: str,
                     cause: str) -> None:
        self.drifts.append({"subject": subject, "slot": slot, "tracked": tracked,
                            "actual": actual, "cause": cause})

    @event("Completed")
    def complete(self, summary: dict[str, int], events_replayed: int, agents_asked: list[str],
                 agents_unanswered: list[str], duration: float,
                 corrections: list[dict[str, str]], orphans: list[dict[str, str]]) -> None:
        self.result = {"summary": dict(summary), "events_replayed": events_replayed,
                       "agents_asked": list(agents_asked),
                       "agents_unanswered": list(agents_unanswered), "duration": duration,
                       "corrections": list(corrections), "orphans": list(orphans)}
