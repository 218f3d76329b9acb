"""Session status transitions (allowed and refused) and the ledgers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.runtime.errors import CodedError
from services.scheduler.domain import model as m
from services.scheduler.domain.model import Ledger, Session, ledger_id


def new_session() -> Session:
    return Session(name="s", access_key="AK", user_id="u", project=None, image="img",
                   command=["run"], session_type="interactive", slots={"cpu": "1"},
                   cluster_size=1, priority=10, designated_agent=None)


# How to move a session into each status, and the call that makes each move.
MOVE: dict[str, Callable[[Session], None]] = {
    m.SCHEDULED: lambda x: x.schedule("agent-1"),
    m.PREPARING: lambda x: x.prepare(),
    m.RUNNING: lambda x: x.start("c-1", {"cpu": "1"}),
    m.TERMINATING: lambda x: x.begin_termination("user-requested"),
    m.TERMINATED: lambda x: x.terminate("exited", 0),
    m.CANCELLED: lambda x: x.cancel("user-requested"),
    m.ERROR: lambda x: x.fail("boom"),
}
PATH: dict[str, list[str]] = {
    m.PENDING: [],
    m.SCHEDULED: [m.SCHEDULED],
    m.PREPARING: [m.SCHEDULED, m.PREPARING],
    m.RUNNING: [m.SCHEDULED, m.PREPARING, m.RUNNING],
    m.TERMINATING: [m.SCHEDULED, m.RUNNING, m.TERMINATING],
    m.TERMINATED: [m.SCHEDULED, m.TERMINATED],
    m.CANCELLED: [m.CANCELLED],
    m.ERROR: [m.ERROR],
}
STATUSES = list(m.TRANSITIONS)


def session_in(status: str) -> Session:
    session = new_session()
    for step in PATH[status]:
        MOVE[step](session)
    assert session.status == status
    return session


def test_a_new_session_is_pending() -> None:
    session = new_session()
    assert session.status == m.PENDING
    assert session.agent_id is None and session.failed_checks == []
    assert session.history == [{"status": m.PENDING, "reason": "requested"}]


def test_terminal_statuses_lead_nowhere_and_every_live_status_may_move_to_error() -> None:
    assert m.TRANSITIONS[m.PENDING] == (m.SCHEDULED, m.CANCELLED, m.ERROR)
    for terminal in m.TERMINAL:
        assert m.TRANSITIONS[terminal] == ()
    for status in STATUSES:
        if status not in m.TERMINAL:
            assert m.ERROR in m.TRANSITIONS[status]  # → ERROR from any live state


ALLOWED = [(a, b) for a in STATUSES for b in m.TRANSITIONS[a]]
REFUSED = [(a, b) for a in STATUSES for b in STATUSES
           if b != m.PENDING and b not in m.TRANSITIONS[a]]


@pytest.mark.parametrize(("source", "target"), ALLOWED)
def test_an_allowed_transition_moves_the_session_and_adds_it_to_the_history(
        source: str, target: str) -> None:
    session = session_in(source)
    assert session.can_move(target)
    MOVE[target](session)
    assert session.status == target
    assert session.history[-1]["status"] == target
    assert len(session.history) == len(PATH[source]) + 2


@pytest.mark.parametrize(("source", "target"), REFUSED)
def test_a_refused_transition_raises_invalid_transition_and_records_nothing(
        source: str, target: str) -> None:
    session = session_in(source)
    version, events = session.version, len(session.collect_events())
    assert not session.can_move(target)
    with pytest.raises(CodedError) as caught:
        MOVE[target](session)
    assert caught.value.code == "scheduler.session.invalid_transition"
    assert caught.value.details == {"status": source, "target": target}
    # nothing changed, nothing recorded
    assert session.status == source
    assert session.version == version
    assert session.collect_events() == []
    assert events == len(PATH[source]) + 1


def test_sample_of_refusals_is_covered() -> None:
    for pair in [(m.PENDING, m.RUNNING), (m.PENDING, m.TERMINATED), (m.PENDING, m.TERMINATING),
                 (m.RUNNING, m.SCHEDULED), (m.RUNNING, m.CANCELLED),
                 (m.TERMINATING, m.RUNNING), (m.TERMINATED, m.ERROR),
                 (m.CANCELLED, m.SCHEDULED), (m.ERROR, m.TERMINATED)]:
        assert pair in REFUSED


def test_fields_each_move_sets() -> None:
    session = new_session()
    session.record_checks(["concurrency: 3 of 3 sessions already run"])
    assert session.failed_checks == ["concurrency: 3 of 3 sessions already run"]
    session.schedule("agent-7")
    assert (session.agent_id, session.failed_checks, session.reason) == ("agent-7", [], "placed")
    session.prepare()
    assert session.reason == "agent-accepted"
    session.start("c-9", {"cpu": "2", "mem": "1024"})
    assert session.container_id == "c-9"
    assert session.slots == {"cpu": "2", "mem": "1024"}
    session.begin_termination("idle-timeout")
    session.terminate("exited", 137)
    assert (session.status, session.reason, session.exit_code) == (m.TERMINATED, "exited", 137)
    assert [h["status"] for h in session.history] == [
        m.PENDING, m.SCHEDULED, m.PREPARING, m.RUNNING, m.TERMINATING, m.TERMINATED]


def test_start_without_allocation_keeps_the_requested_slots() -> None:
    session = session_in(m.SCHEDULED)
    session.start("c-1", {})
    assert session.slots == {"cpu": "1"}


def test_touch_changes_no_status() -> None:
    session = session_in(m.RUNNING)
    session.touch()
    assert session.status == m.RUNNING
    assert type(session.collect_events()[-1]).__name__ == "Touched"


def test_ledger_reserve_and_release() -> None:
    ledger = Ledger(kind="keypair", key="AK")
    assert ledger.id == ledger_id("keypair", "AK") != ledger_id("agent", "AK")
    ledger.reserve("s1", {"cpu": "1"})
    ledger.reserve("s2", {"cpu": "2"})
    ledger.release("s1")
    ledger.release("unknown")  # harmless
    assert ledger.reservations == {"s2": {"cpu": "2"}}
