"""Scheduler with an in-memory store: commands and placement called directly; identity, quota
and agents fed as plain dicts and envelopes with tracking records. No bus, no mocks."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from contracts import identity
from contracts import scheduler as c
from contracts.agent import Heartbeat
from contracts.envelope import Actor, Event
from services.runtime.actors import ActorDirectory
from services.runtime.errors import CodedError, CommandIdReused
from services.scheduler.app import Placement
from services.scheduler.domain import model as m
from services.scheduler.domain.model import ledger_id
from services.scheduler.handlers.agents import indicator_of
from services.scheduler.lifecycle import Scheduler
from services.scheduler.views import AgentRegistry, PolicyBook
from tests.support.actors import teach_actor

D = Decimal
GIB = 1024**3
ROOT_KEY = "AKIAROOTAAAAAAAAAAAA"
ALICE_KEY = "AKIAALICEAAAAAAAAAAA"
BOB_KEY = "AKIABOBAAAAAAAAAAAAA"
CAROL_KEY = "AKIACAROLAAAAAAAAAAA"  # her policy is unknown to the scheduler
ALICE, BOB = "user-alice", "user-bob"
LIMITED = "limited"
FAR_FUTURE = time.time() + 10 * 365 * 86400


def new_id() -> str:
    return str(uuid.uuid4())


def keypair_policy(**overrides: Any) -> dict[str, Any]:
    """A keypair policy as quota's PolicyCreated / PolicyUpdated carry it."""
    return {"total_resource_slots": {"cpu": "8", "mem": str(32 * GIB)},
            "default_for_unspecified": "limited", "max_containers_per_session": 1,
            "idle_timeout": "unlimited", "max_concurrent_sessions": "unlimited",
            "max_session_lifetime": "unlimited", "max_pending_session_count": "unlimited",
            "allowed_vfolder_hosts": {}, "max_vfolder_count": "unlimited",
            "max_vfolder_size": "unlimited"} | overrides


def heartbeat(agent_id: str, cpu: int = 16, mem_gib: int = 64, gpus: int = 0) -> dict[str, Any]:
    capacity = {"cpu": str(cpu), "mem": str(mem_gib * GIB)}
    if gpus:
        capacity["cuda.device"] = str(gpus)
    return Heartbeat(agent_id=agent_id, runtime="simulated", version="0.1", architecture="x86_64",
                     capacity=capacity, interval_seconds=10,
                     sent_at=datetime.now(UTC)).model_dump(mode="json")


class Harness:
    def __init__(self, policy: dict[str, Any] | None = None,
                 placement: Placement | None = None) -> None:
        self.directory = ActorDirectory()
        self.principal("user-root", "superadmin", ROOT_KEY, "default")
        self.principal(ALICE, "user", ALICE_KEY, LIMITED)
        self.principal(BOB, "user", BOB_KEY, LIMITED)
        self.principal("user-carol", "user", CAROL_KEY, "nobody-knows")
        self.policies = PolicyBook()
        self.policy_event("PolicyCreated", "default", keypair_policy(
            total_resource_slots={}, default_for_unspecified="unlimited",
            max_containers_per_session=100))
        self.policy_event("PolicyCreated", LIMITED, policy or keypair_policy())
        self.agents = AgentRegistry(timeout=40)
        self.agents.heartbeat(heartbeat("agent-a"))
        self.app = Scheduler(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                             directory=self.directory, policies=self.policies,
                             agents=self.agents, placement_=placement)
        self.app.view.attach()
        self.root, self.alice, self.bob = (Actor(access_key=k)
                                           for k in (ROOT_KEY, ALICE_KEY, BOB_KEY))
        self.positions = {"agent": 0, "identity": 0}

    # ---- replicas fed directly --------------------------------------------------------------

    def principal(self, user_id: str, role: str, access_key: str, policy: str) -> None:
        teach_actor(self.directory, user_id, role, access_key, policy=policy)

    def policy_event(self, type_name: str, name: str, policy: dict[str, Any]) -> None:
        data: dict[str, Any] = {"kind": "keypair", "name": name, "policy": policy}
        if type_name == "PolicyUpdated":
            data["changed"] = sorted(policy)
        self.policies.apply({"type": type_name, "data": data})

    # ---- commands ---------------------------------------------------------------------------

    def request(self, actor: Actor | None = None, command_id: str | None = None,
                **overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {"name": "nb", "image": "python:3.11", "command": ["sleep", "1"],
                                "slots": {"cpu": 1, "mem": "1g"}} | overrides
        return self.app.request_session(command_id or new_id(), actor or self.alice,
                                        c.RequestSession(**data))

    def terminate(self, session_id: str, actor: Actor | None = None,
                  **kw: Any) -> dict[str, Any]:
        return self.app.terminate_session(new_id(), actor or self.alice,
                                          c.TerminateSession(session_id=session_id, **kw))

    def running(self, actor: Actor | None = None, **overrides: Any) -> str:
        """A session placed and started (ContainerStarted from its agent)."""
        session_id = self.request(actor, **overrides)["session_id"]
        placed = dict(self.app.schedule_once())
        assert session_id in placed, self.row(session_id)["failed_checks"]
        self.agent_event("ContainerStarted", session_id, container_id=f"c-{session_id[:8]}",
                         slots=self.row(session_id)["slots"])
        assert self.status(session_id) == m.RUNNING
        return session_id

    # ---- consumed events --------------------------------------------------------------------

    def _feed(self, stream: str, type_name: str, data: dict[str, Any]) -> Tracking:
        self.positions[stream] += 1
        envelope = Event(id=new_id(), type=type_name, source=stream, aggregate_id=new_id(),
                         sequence=self.positions[stream], occurred_at=datetime.now(UTC),
                         data=data)
        tracking = Tracking(application_name=stream, notification_id=self.positions[stream])
        if stream == "agent":
            self.app.on_agent_event(envelope, tracking)
        else:  # as services/scheduler/reactions.py hands it over: typed
            self.app.on_identity_events(identity.typed_events(envelope), tracking)
        return tracking

    def agent_event(self, type_name: str, session_id: str, **data: Any) -> None:
        agent_id = self.row(session_id)["agent_id"] or "agent-a"
        self._feed("agent", type_name, {"agent_id": agent_id, "session_id": session_id, **data})

    def identity_event(self, type_name: str, data: dict[str, Any]) -> None:
        self.directory.apply({"type": type_name, "data": data})  # the replica sees it too
        self._feed("identity", type_name, data)

    # ---- state ------------------------------------------------------------------------------

    def row(self, session_id: str) -> dict[str, Any]:
        found = self.app.view.get(session_id)
        assert found is not None
        return found

    def status(self, session_id: str) -> str:
        status = self.app.session(session_id).status
        assert self.row(session_id)["status"] == status  # the view agrees with the aggregate
        return status

    def reserved(self, kind: str, key: str) -> dict[str, dict[str, str]]:
        ledger = self.app.find(ledger_id(kind, key))
        return {} if ledger is None else dict(ledger.reservations)

    def event_count(self) -> int:
        return self.app.recorder.max_notification_id() or 0


@pytest.fixture
def h() -> Harness:
    return Harness()


def refused(code: str, call: Any) -> CodedError:
    with pytest.raises(CodedError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    return caught.value


# ---- request -------------------------------------------------------------------------------


def test_a_request_is_recorded_pending_with_its_owner_slots_and_options(h: Harness) -> None:
    reply = h.request(project="p1", session_type="batch", agent="agent-a")
    assert reply["status"] == m.PENDING
    session_id = reply["session_id"]
    assert h.status(session_id) == m.PENDING
    row = h.row(session_id)
    assert row["access_key"] == ALICE_KEY and row["user_id"] == ALICE
    assert row["slots"] == {"cpu": "1", "mem": str(GIB)}
    assert (row["project"], row["session_type"], row["designated_agent"]) == (
        "p1", "batch", "agent-a")
    assert row["agent_id"] is None
    assert h.app.view.usage(ALICE_KEY).pending_sessions == 1
    assert h.app.view.usage(ALICE_KEY).active_sessions == 0
    assert h.app.pending_count() == 1


def test_unknown_or_inactive_actor_is_unauthenticated(h: Harness) -> None:
    refused("auth.unauthenticated", lambda: h.request(Actor(access_key="AKIANOBODYAAAAAAAAAA")))
    refused("auth.unauthenticated", lambda: h.request(Actor(system="scheduler")))
    h.directory.apply({"type": "KeypairDeactivated", "data": {
        "access_key": BOB_KEY, "user_id": BOB, "reason": "test"}})
    refused("auth.unauthenticated", lambda: h.request(h.bob))


def test_unknown_policy_asks_to_retry(h: Harness) -> None:
    error = refused("scheduler.policy.unknown",
                    lambda: h.request(Actor(access_key=CAROL_KEY)))
    assert error.details == {"policy": "nobody-knows"}
    h.policy_event("PolicyCreated", "nobody-knows", keypair_policy())
    assert h.request(Actor(access_key=CAROL_KEY))["status"] == m.PENDING


def test_bad_slots_are_refused(h: Harness) -> None:
    refused("scheduler.session.unknown_slot", lambda: h.request(slots={"tpu": 1}))
    refused("scheduler.session.bad_slot", lambda: h.request(slots={"cpu": -1}))
    refused("scheduler.session.bad_slot", lambda: h.request(slots={"cpu": "NaN"}))
    refused("scheduler.session.bad_slot", lambda: h.request(slots={"mem": "lots"}))
    assert h.app.view.sessions == {}


def test_request_over_the_policy_names_the_limit_and_over_by(h: Harness) -> None:
    before = h.event_count()
    error = refused("scheduler.session.exceeds_policy", lambda: h.request(slots={"cpu": 10}))
    assert error.details["limit"] == "total_resource_slots.cpu"
    assert error.details["over_by"] == {"cpu": "2"}
    assert error.details["allowed"] == {"cpu": "8"}
    error = refused("scheduler.session.exceeds_policy",
                    lambda: h.request(slots={"cpu": 1, "cuda.device": 1}))
    assert error.details["limit"] == "total_resource_slots.cuda.device"
    assert error.details["over_by"] == {"cuda.device": "1"}
    error = refused("scheduler.session.exceeds_policy", lambda: h.request(cluster_size=2))
    assert error.details["limit"] == "max_containers_per_session"
    assert h.event_count() == before  # refusals record nothing


def test_request_over_the_cluster(h: Harness) -> None:
    error = refused("scheduler.session.exceeds_cluster",
                    lambda: h.request(h.root, slots={"cpu": 32}))
    assert error.details == {"limit": "cluster.cpu", "over_by": {"cpu": "16"}}
    h.agents.heartbeat(heartbeat("agent-big", cpu=64))
    assert h.request(h.root, slots={"cpu": 32})["status"] == m.PENDING


def test_a_request_over_max_pending_sessions_is_refused_per_keypair() -> None:
    h = Harness(keypair_policy(max_pending_session_count=2))
    h.request()
    h.request()
    error = refused("scheduler.session.too_many_pending", h.request)
    assert error.details == {"limit": "max_pending_session_count"}
    h.request(h.bob)  # per keypair


def test_policy_update_applies_to_the_next_request(h: Harness) -> None:
    refused("scheduler.session.exceeds_policy", lambda: h.request(slots={"cpu": 12}))
    h.policy_event("PolicyUpdated", LIMITED, keypair_policy(
        total_resource_slots={"cpu": "12", "mem": str(32 * GIB)}))
    assert h.request(slots={"cpu": 12})["status"] == m.PENDING
    h.policy_event("PolicyUpdated", LIMITED, keypair_policy(
        total_resource_slots={"cpu": "2", "mem": str(32 * GIB)}, max_pending_session_count=1))
    error = refused("scheduler.session.exceeds_policy", lambda: h.request(slots={"cpu": 3}))
    assert error.details["over_by"] == {"cpu": "1"}
    refused("scheduler.session.too_many_pending", lambda: h.request(slots={"cpu": 1}))


def test_policy_deleted_is_unknown(h: Harness) -> None:
    h.policies.apply({"type": "PolicyDeleted", "data": {"kind": "keypair", "name": LIMITED}})
    refused("scheduler.policy.unknown", h.request)


def test_other_policy_kinds_are_ignored(h: Harness) -> None:
    h.policies.apply({"type": "PolicyCreated", "data": {
        "kind": "user", "name": LIMITED, "policy": {"max_vfolder_count": 1}}})
    assert h.policies.policies[LIMITED] == keypair_policy()


def test_duplicate_command_id_returns_the_same_reply(h: Harness) -> None:
    first = h.request(command_id="cmd-1")
    events = h.event_count()
    assert h.request(command_id="cmd-1") == first
    assert h.event_count() == events
    assert len(h.app.view.sessions) == 1
    refused(CommandIdReused.code, lambda: h.request(command_id="cmd-1", name="other"))

    again = h.app.terminate_session("cmd-2", h.alice,
                                    c.TerminateSession(session_id=first["session_id"]))
    assert again == {"session_id": first["session_id"], "status": m.CANCELLED}
    assert h.app.terminate_session(
        "cmd-2", h.alice, c.TerminateSession(session_id=first["session_id"])) == again


# ---- placement -------------------------------------------------------------------------------


def test_schedule_once_places_and_reserves_on_both_ledgers(h: Harness) -> None:
    session_id = h.request(slots={"cpu": 2, "mem": "4g"})["session_id"]
    assert h.app.schedule_once() == [(session_id, "agent-a")]
    assert h.status(session_id) == m.SCHEDULED
    assert h.app.session(session_id).agent_id == "agent-a"
    slots = {"cpu": "2", "mem": str(4 * GIB)}
    assert h.reserved("keypair", ALICE_KEY) == {session_id: slots}
    assert h.reserved("agent", "agent-a") == {session_id: slots}
    usage = h.app.view.usage(ALICE_KEY)
    assert (usage.slots, usage.active_sessions, usage.pending_sessions) == (
        {"cpu": D(2), "mem": D(4 * GIB)}, 1, 0)
    assert h.app.view.agent_reserved("agent-a") == {"cpu": D(2), "mem": D(4 * GIB)}
    assert h.app.schedule_once() == []  # nothing left to place


def test_a_placed_session_moves_through_preparing_to_running_once_started(h: Harness) -> None:
    session_id = h.request()["session_id"]
    h.app.schedule_once()
    h.app.mark_preparing(session_id)
    assert h.status(session_id) == m.PREPARING
    h.app.mark_preparing(session_id)  # idempotent
    h.agent_event("ContainerStarted", session_id, container_id="c-1",
                  slots={"cpu": "1", "mem": str(GIB)})
    assert h.status(session_id) == m.RUNNING
    row = h.row(session_id)
    assert row["container_id"] == "c-1" and row["started_at"] is not None
    assert [x["status"] for x in row["history"]] == [
        m.PENDING, m.SCHEDULED, m.PREPARING, m.RUNNING]


def test_max_concurrent_sessions_caps_placement() -> None:
    h = Harness(keypair_policy(max_concurrent_sessions=3,
                               total_resource_slots={"cpu": "unlimited", "mem": "unlimited"}))
    h.agents.heartbeat(heartbeat("agent-b", cpu=64, mem_gib=256))
    ids = [h.request(name=f"s{n}")["session_id"] for n in range(50)]

    placed = h.app.schedule_once()
    assert [p[0] for p in placed] == ids[:3]  # FIFO
    statuses = [h.status(i) for i in ids]
    assert statuses.count(m.SCHEDULED) == 3 and statuses.count(m.PENDING) == 47
    for session_id in ids[3:]:
        checks = h.row(session_id)["failed_checks"]
        assert checks == ["concurrency: 3 of 3 sessions already run"]
        assert h.app.session(session_id).failed_checks == checks
    assert h.app.view.usage(ALICE_KEY).active_sessions == 3
    assert h.app.schedule_once() == []  # still full

    h.app.finish(ids[0], "exited")
    assert h.status(ids[0]) == m.TERMINATED
    assert h.app.view.usage(ALICE_KEY).active_sessions == 2
    placed = h.app.schedule_once()
    assert placed == [(ids[3], placed[0][1])]  # exactly one more: the oldest waiting
    assert h.app.view.usage(ALICE_KEY).active_sessions == 3
    assert [h.status(i) for i in ids].count(m.PENDING) == 46
    assert h.app.schedule_once() == []
    # Bob's keypair has its own count
    bob = h.request(h.bob)["session_id"]
    assert [p[0] for p in h.app.schedule_once()] == [bob]


def test_keypair_slot_limit_makes_a_request_wait(h: Harness) -> None:
    first = h.request(slots={"cpu": 6})["session_id"]
    second = h.request(slots={"cpu": 4})["session_id"]
    assert [p[0] for p in h.app.schedule_once()] == [first]
    assert h.row(second)["failed_checks"] == ["keypair_resource_limit: over by cpu 2"]
    h.app.finish(first, "exited")
    assert [p[0] for p in h.app.schedule_once()] == [second]
    assert h.row(second)["failed_checks"] == []


def test_agent_capacity_makes_a_request_wait(h: Harness) -> None:
    sessions = [h.request(h.root, slots={"cpu": 6})["session_id"] for _ in range(3)]
    placed = [p[0] for p in h.app.schedule_once()]
    assert placed == sessions[:2]  # 16 cpu: two of 6 fit
    assert h.row(sessions[2])["failed_checks"] == [
        "agent_capacity: no agent has room for the request now"]
    h.agents.heartbeat(heartbeat("agent-b"))
    assert h.app.schedule_once() == [(sessions[2], "agent-b")]


def test_a_designated_agent_is_used_and_a_missing_one_makes_the_request_wait(h: Harness) -> None:
    h.agents.heartbeat(heartbeat("agent-b", cpu=64))
    session_id = h.request(agent="agent-a")["session_id"]
    assert h.app.schedule_once() == [(session_id, "agent-a")]  # dispersed would pick b
    waiting = h.request(agent="agent-z")["session_id"]
    assert h.app.schedule_once() == []
    assert h.row(waiting)["failed_checks"][0].startswith("agent_capacity")


def test_policy_lost_after_request_is_a_failed_check(h: Harness) -> None:
    session_id = h.request()["session_id"]
    h.policies.apply({"type": "PolicyDeleted", "data": {"kind": "keypair", "name": LIMITED}})
    assert h.app.schedule_once() == []
    assert h.row(session_id)["failed_checks"][0].startswith("policy: ")
    h.policy_event("PolicyCreated", LIMITED, keypair_policy())
    assert [p[0] for p in h.app.schedule_once()] == [session_id]


def test_concentrated_selector_fills_one_agent_first() -> None:
    h = Harness(placement=Placement(selector="concentrated"))
    h.agents.heartbeat(heartbeat("agent-b", cpu=32))
    ids = [h.request(h.root, slots={"cpu": 4})["session_id"] for _ in range(5)]
    placed = h.app.schedule_once()
    assert [agent for _, agent in placed] == ["agent-a"] * 4 + ["agent-b"]
    assert [session_id for session_id, _ in placed] == ids  # in the order requested


def test_round_robin_selector_alternates() -> None:
    h = Harness(placement=Placement(selector="round-robin"))
    h.agents.heartbeat(heartbeat("agent-b"))
    for _ in range(4):
        h.request(h.root)
    assert [agent for _, agent in h.app.schedule_once()] == [
        "agent-a", "agent-b", "agent-a", "agent-b"]


def test_lifo_places_the_newest_first() -> None:
    h = Harness(placement=Placement(algorithm="lifo"))
    ids = [h.request(h.root, slots={"cpu": 16})["session_id"] for _ in range(3)]
    assert [p[0] for p in h.app.schedule_once()] == [ids[2]]


# ---- termination -----------------------------------------------------------------------------


def test_terminate_pending_is_cancelled(h: Harness) -> None:
    session_id = h.request()["session_id"]
    assert h.terminate(session_id) == {"session_id": session_id, "status": m.CANCELLED}
    assert h.status(session_id) == m.CANCELLED
    assert h.row(session_id)["reason"] == "user-requested"
    assert h.app.view.usage(ALICE_KEY).pending_sessions == 0
    assert h.app.schedule_once() == []
    # terminating a finished session changes nothing
    assert h.terminate(session_id)["status"] == m.CANCELLED


def test_terminate_running_then_exited(h: Harness) -> None:
    session_id = h.running()
    assert h.terminate(session_id, reason="killed") == {
        "session_id": session_id, "status": m.TERMINATING}
    assert h.status(session_id) == m.TERMINATING
    assert h.app.view.usage(ALICE_KEY).active_sessions == 1  # held until the container is gone
    h.agent_event("ContainerExited", session_id, container_id="c", exit_code=137,
                  reason="user-requested")
    assert h.status(session_id) == m.TERMINATED
    assert h.app.session(session_id).reason == "killed"  # the requested reason, not the agent's
    assert h.app.session(session_id).exit_code == 137
    assert h.row(session_id)["terminated_at"] is not None
    assert h.reserved("keypair", ALICE_KEY) == {}
    assert h.reserved("agent", "agent-a") == {}
    usage = h.app.view.usage(ALICE_KEY)
    assert (usage.slots, usage.active_sessions) == ({}, 0)
    assert h.app.view.agent_reserved("agent-a") == {}


def test_exit_by_itself_keeps_the_agents_reason(h: Harness) -> None:
    session_id = h.running()
    h.agent_event("ContainerExited", session_id, container_id="c", exit_code=0, reason="exited")
    assert h.status(session_id) == m.TERMINATED
    assert h.row(session_id)["reason"] == "exited"
    assert h.reserved("keypair", ALICE_KEY) == {}


def test_terminate_scheduled_then_finish(h: Harness) -> None:
    session_id = h.request()["session_id"]
    h.app.schedule_once()
    assert h.terminate(session_id)["status"] == m.TERMINATING
    h.app.finish(session_id, "container-unknown")
    assert h.status(session_id) == m.TERMINATED
    assert h.row(session_id)["reason"] == "user-requested"
    assert h.reserved("agent", "agent-a") == {}


def test_terminating_an_unknown_session_is_refused_as_not_found(h: Harness) -> None:
    refused("scheduler.session.not_found", lambda: h.terminate(new_id()))
    refused("scheduler.session.not_found", lambda: h.terminate("not-a-uuid"))


def test_container_failed_is_error_and_released(h: Harness) -> None:
    session_id = h.request()["session_id"]
    h.app.schedule_once()
    h.agent_event("ContainerFailed", session_id, reason="image-not-found", detail="no such image")
    assert h.status(session_id) == m.ERROR
    assert h.row(session_id)["reason"] == "image-not-found"
    assert h.reserved("keypair", ALICE_KEY) == {}
    assert h.reserved("agent", "agent-a") == {}
    assert h.app.view.usage(ALICE_KEY).active_sessions == 0


def test_fail_sets_error_releases_the_slots_and_a_second_fail_changes_nothing(h: Harness) -> None:
    session_id = h.request()["session_id"]
    h.app.schedule_once()
    h.app.fail(session_id, "start-refused: agent.bad_image")
    assert h.status(session_id) == m.ERROR
    assert h.reserved("keypair", ALICE_KEY) == {}
    h.app.fail(session_id, "again")  # a finished session stays as it ended
    assert h.row(session_id)["reason"] == "start-refused: agent.bad_image"


def test_agent_events_are_tracked_and_late_ones_ignored(h: Harness) -> None:
    session_id = h.running()
    h.agent_event("ContainerExited", session_id, container_id="c", exit_code=0, reason="exited")
    events = h.event_count()
    # duplicates and events about unknown sessions change nothing but the position
    h.agent_event("ContainerExited", session_id, container_id="c", exit_code=0, reason="exited")
    h.agent_event("ContainerStarted", session_id, container_id="c", slots={})
    h.agent_event("ContainerFailed", session_id, reason="late")
    assert h.event_count() == events
    # about sessions it never had, the scheduler keeps only its record of the container
    # (opened + started, for RECALCULATE USAGE), and no session changes
    h._feed("agent", "ContainerStarted", {"agent_id": "agent-a", "session_id": new_id(),
                                          "container_id": "x", "slots": {}})
    h._feed("agent", "ContainerStarted", {"agent_id": "agent-a", "session_id": "garbage",
                                          "container_id": "x", "slots": {}})
    assert h.event_count() == events + 4
    assert h.status(session_id) == m.TERMINATED
    assert h.app.position("agent") == h.positions["agent"]


# ---- identity ------------------------------------------------------------------------------


def test_user_deactivated_ends_that_users_sessions(h: Harness) -> None:
    running = h.running()
    pending = h.request(slots={"cpu": 8})["session_id"]  # waits: keypair limit
    assert h.status(pending) == m.PENDING
    bobs = h.running(h.bob)
    h.identity_event("UserDeactivated", {"user_id": ALICE, "email": "alice@example.com",
                                         "deactivated_keypairs": [ALICE_KEY]})
    assert h.status(running) == m.TERMINATING
    assert h.status(pending) == m.CANCELLED
    assert h.row(running)["reason"] == h.row(pending)["reason"] == "user-deactivated"
    assert h.status(bobs) == m.RUNNING
    assert h.app.position("identity") == 1
    h.agent_event("ContainerExited", running, container_id="c", exit_code=0,
                  reason="user-requested")
    assert h.row(running)["reason"] == "user-deactivated"
    assert h.app.view.usage(ALICE_KEY).active_sessions == 0


def test_keypair_deactivated_ends_that_keypairs_sessions(h: Harness) -> None:
    alices = h.running()
    bobs = h.running(h.bob)
    h.identity_event("KeypairDeactivated", {"access_key": BOB_KEY, "user_id": BOB,
                                            "reason": "admin"})
    assert h.status(bobs) == m.TERMINATING
    assert h.status(alices) == m.RUNNING


def test_other_identity_events_are_only_tracked(h: Harness) -> None:
    session_id = h.running()
    events = h.event_count()
    h.identity_event("UserActivated", {"user_id": ALICE, "email": "alice@example.com"})
    assert h.event_count() == events
    assert h.app.position("identity") == 1
    assert h.status(session_id) == m.RUNNING


# ---- time and agents -------------------------------------------------------------------------


def test_expire_idle_terminates_only_running_sessions_past_their_idle_timeout() -> None:
    h = Harness(keypair_policy(idle_timeout=600))
    idle = h.running()
    placed_only = h.request()["session_id"]
    h.app.schedule_once()
    bobs = h.running(h.root)  # default policy: no idle timeout
    assert h.app.expire_idle() == []  # just started
    assert h.app.expire_idle(now=FAR_FUTURE) == [idle]
    assert h.status(idle) == m.TERMINATING
    assert h.row(idle)["reason"] == "idle-timeout"
    assert h.status(placed_only) == m.SCHEDULED  # only RUNNING sessions idle
    assert h.status(bobs) == m.RUNNING
    assert h.app.expire_idle(now=FAR_FUTURE) == []


def test_touch_resets_the_idle_clock() -> None:
    h = Harness(keypair_policy(idle_timeout=600))
    session_id = h.running()
    started = h.row(session_id)["last_activity"]
    assert h.app.touch(h.alice, session_id) == {"session_id": session_id, "status": m.RUNNING}
    touched = h.row(session_id)["last_activity"]
    assert touched >= started
    assert h.app.expire_idle(now=touched + 599) == []
    assert h.app.expire_idle(now=touched + 601) == [session_id]


def test_a_session_past_its_max_lifetime_expires_even_when_recently_touched() -> None:
    h = Harness(keypair_policy(max_session_lifetime=3600))
    session_id = h.running()
    h.app.touch(h.alice, session_id)
    started = h.row(session_id)["started_at"]
    assert h.app.expire_idle(now=started + 3599) == []
    assert h.app.expire_idle(now=FAR_FUTURE) == [session_id]
    assert h.row(session_id)["reason"] == "max-lifetime"


def test_agent_lost_fails_its_sessions(h: Harness) -> None:
    h.agents.heartbeat(heartbeat("agent-b"))
    on_a = h.request(h.root, agent="agent-a")["session_id"]
    on_b = h.request(h.root, agent="agent-b")["session_id"]
    started_on_a = h.request(agent="agent-a")["session_id"]
    h.app.schedule_once()
    h.agent_event("ContainerStarted", started_on_a, container_id="c", slots={})
    h.terminate(started_on_a)
    waiting = h.request(agent="agent-z")["session_id"]
    h.app.schedule_once()
    assert sorted(h.app.agent_lost("agent-a")) == sorted([on_a, started_on_a])
    for session_id in (on_a, started_on_a):
        assert h.status(session_id) == m.ERROR
        assert h.row(session_id)["reason"] == "agent-lost"
    assert h.status(on_b) == m.SCHEDULED
    assert h.status(waiting) == m.PENDING
    assert h.reserved("agent", "agent-a") == {}
    assert h.reserved("keypair", ALICE_KEY) == {}
    assert list(h.reserved("keypair", ROOT_KEY)) == [on_b]
    assert h.app.agent_lost("agent-a") == []


def test_the_agent_registry_expires_a_silent_agent_and_relists_it_when_it_beats() -> None:
    agents = AgentRegistry(timeout=0)
    assert agents.heartbeat(heartbeat("agent-a")) is True
    assert agents.heartbeat(heartbeat("agent-a")) is False
    time.sleep(0.01)
    assert agents.expire() == ["agent-a"]
    assert agents.alive() == [] and agents.largest() is None
    assert agents.heartbeat(heartbeat("agent-a")) is True  # came back


def test_an_expected_agent_that_never_beats_becomes_lost_after_the_timeout() -> None:
    # A restarted scheduler expects the agents its stored sessions are placed on: one that
    # died while the scheduler was down is LOST once the timeout passes without a beat.
    agents = AgentRegistry(timeout=0.05)
    agents.expect(["agent-dead", "agent-back"])
    assert agents.expire() == []  # within the timeout: no verdict yet
    time.sleep(0.06)
    agents.heartbeat(heartbeat("agent-back"))  # it beat in time: no longer expected
    assert agents.expire() == ["agent-dead"]
    assert "agent-dead" not in agents.agents  # never listed: no heartbeat describes it
    assert agents.expire() == []  # reported once
    agents.expect(["agent-back"])  # a heard agent is never expected again
    assert agents.expected == {}


def test_sessions_on_an_agent_that_died_while_the_scheduler_was_down_end_agent_lost() -> None:
    h = Harness()
    session_id = h.running()
    assert h.row(session_id)["agent_id"] == "agent-a"
    restarted = AgentRegistry(timeout=0)  # the new process has heard no one
    restarted.expect(r["agent_id"] for r in h.app.view.by_status(m.RUNNING))
    time.sleep(0.01)
    for agent_id in restarted.expire():
        h.app.agent_lost(agent_id)
    assert h.status(session_id) == m.ERROR
    assert h.row(session_id)["reason"] == "agent-lost"
    assert h.reserved("agent", "agent-a") == {}


# ---- resource indicator ----------------------------------------------------------------------


def indicator(h: Harness, actor: Actor, access_key: str) -> dict[str, Any]:
    return indicator_of(h.app, c.ResourceIndicator(access_key=access_key))


def test_the_resource_indicator_shows_capacity_limit_used_and_allocatable_slots() -> None:
    h = Harness(keypair_policy(max_concurrent_sessions=3))
    h.agents.heartbeat(heartbeat("agent-b", cpu=4, mem_gib=8, gpus=2))
    h.running(slots={"cpu": 2, "mem": "4g"})
    h.request(slots={"cpu": 8})  # waits: the keypair limit
    h.running(h.root, slots={"cpu": 10})

    found = indicator(h, h.alice, ALICE_KEY)
    assert found["access_key"] == ALICE_KEY
    assert found["capacity"] == {"cpu": "20", "mem": str(72 * GIB), "cuda.device": "2"}
    assert found["limit"] == {"cpu": "8", "mem": str(32 * GIB)}
    assert found["used"] == {"cpu": "2", "mem": str(4 * GIB)}
    # min(limit - used, cluster free): cpu min(6, 20-12=8), mem min(28, 72-4), no GPU allowed
    assert found["allocatable"] == {"cpu": "6", "mem": str(28 * GIB)}
    assert found["largest_agent"] == {"cpu": "16", "mem": str(64 * GIB), "cuda.device": "2"}
    assert found["sessions"] == {"active": 1, "pending": 1, "max_concurrent": "3"}

    unlimited = indicator(h, h.root, ROOT_KEY)
    assert unlimited["limit"] == {slot: "unlimited" for slot in
                                  ("cpu", "mem", "cuda.device", "cuda.shares")}
    assert unlimited["allocatable"] == {"cpu": "8", "mem": str(68 * GIB), "cuda.device": "2"}
    assert unlimited["sessions"] == {"active": 1, "pending": 0, "max_concurrent": "unlimited"}
