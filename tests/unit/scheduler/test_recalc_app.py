"""RECALCULATE USAGE against the scheduler application (in-memory store); agents' reports come
from a fake reporter (what each agent runs), so the commit path is tested without a bus."""

from __future__ import annotations

import asyncio
from typing import Any

from services.scheduler.domain import model as m
from services.scheduler.domain import recalc as r
from services.scheduler.domain.model import Ledger, ledger_id
from services.scheduler.recalc import UsageRecalculator
from tests.unit.scheduler.test_app import ALICE_KEY, Harness, new_id


class FakeAgents(UsageRecalculator):
    """Answers for the agents from a dict (None: the agent stays silent)."""

    def __init__(self, h: Harness) -> None:
        super().__init__(h.app)
        self.running: dict[str, dict[str, r.Seen] | None] = {"agent-a": {}}

    async def _report(self, agent_id: str, timeout: float) -> dict[str, r.Seen] | None:
        found = self.running.get(agent_id)
        return None if found is None else dict(found)

    def run_now(self, run_id: str | None = None) -> dict[str, Any]:
        return asyncio.run(self.run(run_id or new_id()))


def seen(h: Harness, session_id: str) -> r.Seen:
    return r.Seen(session_id, "running", h.row(session_id)["slots"], "c")


def test_a_vanished_container_ends_its_session_and_a_second_run_finds_nothing() -> None:
    h = Harness()
    kept, gone = h.running(), h.running()
    agents = FakeAgents(h)
    agents.running["agent-a"] = {kept: seen(h, kept)}
    first = agents.run_now()
    assert h.status(gone) == m.TERMINATED and h.row(gone)["reason"] == "container-gone"
    assert set(h.reserved("keypair", ALICE_KEY)) == {kept}
    assert set(h.reserved("agent", "agent-a")) == {kept}
    assert {d["cause"] for d in first["drifts"]} == {r.EXIT_EVENT_MISSING}
    assert first["summary"]["sessions_ended"] == 1
    assert first["events_replayed"] == 2  # two starts recorded
    second = agents.run_now()
    assert second["drifts"] == [] and second["summary"]["corrections"] == 0
    assert second["events_replayed"] == 2  # the fold is kept: the same facts, none new


def test_a_repeated_run_id_returns_the_first_result_and_changes_nothing() -> None:
    h = Harness()
    h.running()
    agents = FakeAgents(h)
    run_id = new_id()
    first = agents.run_now(run_id)
    events = h.event_count()
    assert agents.run_now(run_id) == first
    assert h.event_count() == events


def test_a_silent_agent_is_reported_and_its_sessions_are_left_alone() -> None:
    h = Harness()
    session_id = h.running()
    agents = FakeAgents(h)
    agents.running["agent-a"] = None
    result = agents.run_now()
    assert result["agents_unanswered"] == ["agent-a"]
    assert h.status(session_id) == m.RUNNING
    assert set(h.reserved("agent", "agent-a")) == {session_id}


def test_a_tampered_ledger_is_put_back_to_the_truth() -> None:
    h = Harness()
    session_id = h.running()
    ledger = h.app.find(ledger_id("agent", "agent-a"))
    assert isinstance(ledger, Ledger)
    ledger.reserve("ghost", {"cpu": "3"})
    ledger.reserve(session_id, {"cpu": "7"})
    h.app.save(ledger)
    agents = FakeAgents(h)
    agents.running["agent-a"] = {session_id: seen(h, session_id)}
    result = agents.run_now()
    assert [(d["subject"], d["slot"], d["tracked"], d["actual"]) for d in result["drifts"]
            if d["slot"] == "cpu"] == [("agent:agent-a", "cpu", "10", "1")]
    assert h.reserved("agent", "agent-a") == h.reserved("keypair", ALICE_KEY)
    assert agents.run_now()["drifts"] == []


def test_a_placement_committed_during_the_run_is_kept() -> None:
    h = Harness()
    agents = FakeAgents(h)
    pending = h.request()["session_id"]
    snapshot = agents.store.snapshot()  # taken before the placement below
    h.app.schedule_once()
    assert h.status(pending) == m.SCHEDULED
    plan = r.plan(snapshot.facts, snapshot.ledgers, {"agent-a": {}}, r.Replayed())
    agents.store.commit(new_id(), snapshot, plan, 0, ["agent-a"], [], 0, 0.0)
    assert set(h.reserved("keypair", ALICE_KEY)) == {pending}


def test_a_container_that_outlived_its_session_is_released_when_its_exit_arrives() -> None:
    h = Harness()
    session_id = h.running()
    h.app.agent_lost("agent-a")  # the session ends, its reservations go
    agents = FakeAgents(h)
    agents.running["agent-a"] = {session_id: seen(h, session_id)}  # yet it runs on
    held = agents.run_now()
    assert [c["cause"] for c in held["corrections"]] == [r.RUNNING_WITHOUT_SESSION]
    assert set(h.reserved("agent", "agent-a")) == {session_id}
    assert h.reserved("keypair", ALICE_KEY) == {}
    h.agent_event("ContainerExited", session_id, container_id="c", exit_code=0,
                  reason="killed")
    assert h.reserved("agent", "agent-a") == {}
    agents.running["agent-a"] = {}
    assert agents.run_now()["drifts"] == []


def test_runs_are_counted_with_their_drifts_and_duration() -> None:
    from prometheus_client import CollectorRegistry

    h = Harness()
    h.running()
    registry = CollectorRegistry()
    agents = FakeAgents(h)
    agents.use_registry(registry)
    agents.run_now()
    assert registry.get_sample_value("bai_scheduler_usage_recalculations_total") == 1
    # agent, keypair, user, domain × cpu, mem
    assert registry.get_sample_value("bai_scheduler_usage_last_run_drifts") == 8
    assert registry.get_sample_value("bai_scheduler_usage_drift_total",
                                     {"cause": r.EXIT_EVENT_MISSING}) == 8
    assert registry.get_sample_value("bai_scheduler_usage_recalculation_seconds_count") == 1


def test_the_periodic_setting_runs_it_by_itself() -> None:
    h = Harness()
    h.running()
    agents = FakeAgents(h)
    agents.interval_seconds = 0.05

    async def scenario() -> None:
        await agents.start(None)  # it reads no stream: the JetStream context is unused
        for _ in range(100):
            if not h.app.view.by_status(m.RUNNING):
                break
            await asyncio.sleep(0.02)
        await agents.stop()

    asyncio.run(scenario())
    assert h.app.view.by_status(m.RUNNING) == []  # the vanished container was noticed


def test_the_status_of_a_run_lists_its_stages_and_a_forgotten_committed_run_reads_finished(
        ) -> None:
    h = Harness()
    h.running()
    agents = FakeAgents(h)
    run_id = new_id()
    agents.run_now(run_id)
    status = agents.status(run_id)
    assert status["known"] and status["finished"] and status["stage"] == "commit"
    assert [s["stage"] for s in status["stages"]] == [
        "snapshot", "replay", "agents", "compare", "commit"]
    restarted = FakeAgents(h)  # keeps no progress: the stored result answers
    assert restarted.status(run_id) == {"run_id": run_id, "known": True, "finished": True,
                                        "stage": None, "stages": []}
    unknown = new_id()
    assert restarted.status(unknown) == {"run_id": unknown, "known": False, "finished": False,
                                         "stage": None, "stages": []}
