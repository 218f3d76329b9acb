"""RECALCULATE USAGE, the pure reconciliation: replay, plan, drifts."""

from __future__ import annotations

from services.scheduler.domain import envelopes as e
from services.scheduler.domain import recalc as r

SLOTS = {"cpu": "1", "mem": "268435456"}


def fact(sid: str, status: str = "RUNNING", agent: str = "n1", ak: str = "AK1",
         version: int = 5) -> r.SessionFact:
    return r.SessionFact(sid, version, status, agent, ak, "u1", "p1", "default", dict(SLOTS))


def ledgers(*entries: tuple[str, str, str]) -> dict[tuple[str, str], dict[str, dict[str, str]]]:
    out: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
    for kind, key, sid in entries:
        out.setdefault((kind, key), {})[sid] = dict(SLOTS)
    return out


def running(*sids: str) -> dict[str, r.Seen]:
    return {sid: r.Seen(sid, "running", dict(SLOTS), f"c-{sid}") for sid in sids}


def test_replay_keeps_open_what_started_and_never_ended() -> None:
    replayed = r.replay([(r.STARTED, "n1", "s1", SLOTS), (r.STARTED, "n1", "s2", SLOTS),
                         (r.ENDED, "n1", "s1", {}), (r.STARTED, "n1", "s1", SLOTS)])
    assert set(replayed.open["n1"]) == {"s2"}
    assert replayed.ended["n1"] == {"s1"}
    assert replayed.events == 4
    assert replayed.occupancy("n1") == {"cpu": 1, "mem": 268435456}


def test_a_consistent_cluster_needs_no_correction() -> None:
    facts = {"s1": fact("s1")}
    plan = r.plan(facts, ledgers(("keypair", "AK1", "s1"), ("agent", "n1", "s1")),
                  {"n1": running("s1")}, r.Replayed())
    assert plan.empty and not plan.orphans


def test_a_running_session_whose_container_is_gone_ends_and_releases_both_ledgers() -> None:
    facts = {"s1": fact("s1")}
    replayed = r.replay([(r.STARTED, "n1", "s1", SLOTS)])
    before = ledgers(("keypair", "AK1", "s1"), ("agent", "n1", "s1"))
    plan = r.plan(facts, before, {"n1": {}}, replayed)
    assert [(e.session_id, e.cause) for e in plan.ends] == [("s1", r.EXIT_EVENT_MISSING)]
    assert {(c.ledger, c.actual) for c in plan.corrections} == {
        (("keypair", "AK1"), None), (("agent", "n1"), None)}
    found = {(d.subject, d.slot): (d.tracked, d.actual) for d in
             r.drifts(before, plan.corrections, facts)}
    assert found[("agent:n1", "cpu")] == ("1", "0")
    assert found[("keypair:AK1", "mem")] == ("268435456", "0")
    assert found[("user:u1", "cpu")] == ("1", "0")
    assert found[("project:p1", "cpu")] == ("1", "0")
    assert found[("domain:default", "cpu")] == ("1", "0")


def test_an_agent_that_did_not_answer_is_left_as_tracked() -> None:
    facts = {"s1": fact("s1")}
    before = ledgers(("keypair", "AK1", "s1"), ("agent", "n1", "s1"))
    plan = r.plan(facts, before, {"n1": None}, r.Replayed())
    assert plan.empty


def test_a_lost_agent_not_asked_is_left_as_tracked_too() -> None:
    facts = {"s1": fact("s1", agent="n2")}
    before = ledgers(("keypair", "AK1", "s1"), ("agent", "n2", "s1"))
    assert r.plan(facts, before, {"n1": {}}, r.Replayed()).empty


def test_a_scheduled_session_not_yet_started_keeps_its_reservation() -> None:
    facts = {"s1": fact("s1", status="SCHEDULED")}
    before = ledgers(("keypair", "AK1", "s1"), ("agent", "n1", "s1"))
    assert r.plan(facts, before, {"n1": {}}, r.Replayed()).empty


def test_a_preparing_session_the_agent_does_not_have_ends() -> None:
    facts = {"s1": fact("s1", status="PREPARING")}
    before = ledgers(("keypair", "AK1", "s1"), ("agent", "n1", "s1"))
    plan = r.plan(facts, before, {"n1": {}}, r.Replayed())
    assert [e.cause for e in plan.ends] == [r.CONTAINER_GONE]


def test_an_exit_recorded_but_not_applied_is_named_so() -> None:
    facts = {"s1": fact("s1")}
    replayed = r.replay([(r.STARTED, "n1", "s1", SLOTS), (r.ENDED, "n1", "s1", {})])
    plan = r.plan(facts, ledgers(("keypair", "AK1", "s1")), {"n1": {}}, replayed)
    assert [e.cause for e in plan.ends] == [r.EXIT_NOT_APPLIED]


def test_a_container_running_for_an_ended_session_is_held_on_its_agent_only() -> None:
    facts = {"s1": fact("s1", status="ERROR")}
    plan = r.plan(facts, {}, {"n1": running("s1")}, r.Replayed())
    assert [(o.session_id, o.cause) for o in plan.orphans] == [("s1", r.RUNNING_WITHOUT_SESSION)]
    assert [(c.ledger, c.tracked, c.actual) for c in plan.corrections] == [
        (("agent", "n1"), None, SLOTS)]


def test_a_stopped_orphan_is_reported_but_not_held() -> None:
    facts = {"s1": fact("s1", status="ERROR")}
    plan = r.plan(facts, {}, {"n1": running("s1")}, r.Replayed(),
                  stopped=frozenset({("n1", "s1")}))
    assert plan.orphans and not plan.corrections


def test_a_reservation_of_an_unknown_session_is_released() -> None:
    plan = r.plan({}, ledgers(("agent", "n1", "ghost")), {"n1": {}}, r.Replayed())
    assert [(c.session_id, c.cause) for c in plan.corrections] == [("ghost", r.UNKNOWN_SESSION)]


def test_a_missing_reservation_of_a_running_session_is_added() -> None:
    facts = {"s1": fact("s1")}
    plan = r.plan(facts, ledgers(("agent", "n1", "s1")), {"n1": running("s1")}, r.Replayed())
    assert [(c.ledger, c.cause) for c in plan.corrections] == [
        (("keypair", "AK1"), r.RESERVATION_MISSING)]


def test_slots_compare_by_value_not_spelling() -> None:
    facts = {"s1": fact("s1")}
    spelled = {"cpu": "1.00", "mem": "268435456", "cuda.shares": "0"}
    seen = {"s1": r.Seen("s1", "running", spelled)}
    plan = r.plan(facts, ledgers(("keypair", "AK1", "s1"), ("agent", "n1", "s1")),
                  {"n1": seen}, r.Replayed())
    assert plan.empty


def test_applying_a_plan_makes_the_next_plan_empty() -> None:
    facts = {"s1": fact("s1"), "s2": fact("s2", status="TERMINATED"),
             "s3": fact("s3", status="ERROR")}
    before = ledgers(("keypair", "AK1", "s1"), ("agent", "n1", "s1"),
                     ("keypair", "AK1", "s2"), ("agent", "n1", "ghost"))
    reports = {"n1": running("s1", "s3")}
    first = r.plan(facts, before, reports, r.Replayed())
    assert len(first.corrections) == 3
    after = r.apply(before, first.corrections)
    assert r.plan(facts, after, reports, r.Replayed()).corrections == []


def test_occupancy_sums_keypair_ledgers_per_user_project_and_domain() -> None:
    facts = {"s1": fact("s1"), "s2": fact("s2", ak="AK2")}
    found = r.occupancy(ledgers(("keypair", "AK1", "s1"), ("keypair", "AK2", "s2"),
                                ("agent", "n1", "s1"), ("agent", "n1", "s2")), facts)
    assert found["agent"]["n1"] == {"cpu": "2", "mem": "536870912"}
    assert found["user"]["u1"] == {"cpu": "2", "mem": "536870912"}
    assert found["keypair"]["AK1"] == SLOTS
    assert found["domain"]["default"]["cpu"] == "2"


def envelope(type_name: str, data: dict[str, object], **extra: object) -> bytes:
    from contracts.envelope import Event

    return Event(id="e1", type=type_name, source="agent", aggregate_id="x", sequence=1,
                 occurred_at="2026-12-01T00:00:00Z", data=data, **extra  # type: ignore[arg-type]
                 ).model_dump_json().encode()


STARTED = {"agent_id": "n1", "session_id": "s1", "container_id": "c", "slots": SLOTS,
           "gpu_devices": [], "gpu_shares": {"0": "0.5"}}
EXITED = {"agent_id": "n1", "session_id": "s1", "container_id": "c", "exit_code": 0,
          "reason": "exited", "slots": SLOTS}


def test_a_container_fact_sliced_from_the_envelope_bytes_equals_the_full_decode() -> None:
    import json

    for raw in (envelope("ContainerStarted", STARTED, correlation_id="k"),
                envelope("ContainerExited", EXITED),
                envelope("ContainerFailed", {"agent_id": "n1", "session_id": "s1",
                                             "reason": "start-failed"})):
        fast = e.container_fact(raw)
        spaced = json.dumps(json.loads(raw)).encode()  # not compact: decoded in full
        assert fast is not None and fast == e.container_fact(spaced) == e._decoded(raw)
    assert e.container_fact(envelope("ContainerStarted", STARTED)) == (
        r.STARTED, "n1", "s1", SLOTS)
    assert e.container_fact(envelope("ContainerExited", EXITED)) == (r.ENDED, "n1", "s1", {})


def test_an_escaped_other_or_unreadable_event_is_decoded_in_full_or_skipped() -> None:
    escaped = envelope("ContainerStarted", STARTED | {"session_id": 's"1'})
    assert e.container_fact(escaped) == (r.STARTED, "n1", 's"1', SLOTS)
    assert e.container_fact(envelope("AgentStarted", {"agent_id": "n1"})) is None
    assert e.container_fact(b"not json") is None
    assert e.container_fact(b'{"type": "ContainerExited", "data": {}}') is None


def test_a_container_event_cut_short_or_reordered_is_decoded_in_full() -> None:
    assert e.container_fact(b'{"id":"e","type":"ContainerExited","data":{"agent_id":"n1"}}') \
        is None  # no session: no fact
    reordered = (b'{"id":"e","type":"ContainerExited","data":{"session_id":"s1",'
                 b'"agent_id":"n1","reason":"exited"}}')
    assert e.container_fact(reordered) == (r.ENDED, "n1", "s1", {})
    assert r.replay([None, (r.STARTED, "n1", "s1", SLOTS), None]).events == 1
