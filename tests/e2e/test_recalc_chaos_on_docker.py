"""RECALCULATE USAGE chaos on a real Docker engine: the scheduler and the agent run as child
processes (so they can be SIGKILLed, SIGSTOPped), identity, quota and rbac in this process.
Each test induces one way drift happens and states the correction it expects; after the
recalculation the ledgers equal what Docker runs, and a second run reports zero.

What this system turns into drift, and what it does not (the expected corrections):
- agent SIGKILLed between a container's exit and its event, and a container `docker kill`ed
  while its agent is down: while the agent is down the run lists it as unanswered and
  corrects nothing (never guesses). The agent is then restarted with its start-up self-report
  deferred (BAIKAL_RECONCILE_AT_START=false, the sweep an hour away: in production it reports
  the exit itself at start, `while_agent_down`), so the drift is there when the run comes: it
  ends the session (container-gone, cause exit-event-missing) and releases exactly its
  reservation from its keypair's and its agent's ledger; a second run finds nothing.
- agent SIGSTOPped until LOST, containers running on, then SIGCONT: its sessions ended
  (agent-lost) and were released while their containers still run: the run holds each
  container on its agent's ledger (running-without-session) and reports it as an orphan;
  with stop_orphans it stops them instead.
- scheduler SIGKILLed between placement and start: no drift exists to correct (placement
  commits the session with its ledgers in one transaction, the restarted scheduler sends the
  start again); a run at that point and one after the start both report zero.
- a ledger made wrong through a test-only path (the store written while the scheduler is
  down): exactly those entries are corrected.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiodocker
import pytest
from nats.aio.client import Client

from contracts.envelope import Actor
from contracts.scheduler import Subjects as SS
from services.agent.domain.labels import SESSION_ID, SLOTS, LabelScheme
from services.runtime.client import BusClient
from services.runtime.store import store_env
from services.scheduler.domain import recalc as r
from services.scheduler.domain.model import Ledger, ledger_id
from services.scheduler.lifecycle import Scheduler
from services.scheduler.main import SchedulerSettings
from tests.support.agent import AGENT_ID, spawn_agent
from tests.support.identity import bootstrap, connect_as, start_identity
from tests.support.natsserver import NatsServer
from tests.support.process import spawn_service, stop
from tests.support.quota import start_quota
from tests.support.rbac import start_rbac
from tests.support.stack import eventually

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]
HEARTBEAT_TIMEOUT = 6.0
SCHEDULER_ENV = {"BAIKAL_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
                 "BAIKAL_TICK_SECONDS": "0.2"}


@dataclass
class Chaos:
    server: NatsServer
    root: Path
    cipher_key: str
    labels: str
    nc: Client
    client: BusClient
    creds: dict[str, Any]
    scheduler: subprocess.Popen[bytes]
    agent: subprocess.Popen[bytes]
    hosts: list[Any] = field(default_factory=list)

    def start_scheduler(self) -> None:
        self.scheduler = spawn_service("scheduler", self.server, self.root / "scheduler",
                                       self.cipher_key, extra_env=SCHEDULER_ENV)

    def start_agent(self, **extra: str) -> None:
        self.agent = spawn_agent(self.server, self.root / "agent", self.cipher_key, "docker",
                                 self.labels, **extra)

    async def request(self, name: str, command: list[str]) -> str:
        reply = await self.client.command_or_raise(SS.SESSION_REQUEST, {
            "name": name, "image": "baikal/busybox:latest", "command": command,
            "slots": {"cpu": "0.25", "mem": "32m"}})
        return str(reply["session_id"])

    async def session(self, session_id: str) -> dict[str, Any]:
        return await self.client.query_or_raise(SS.SESSION_GET, {"session_id": session_id})

    async def wait_status(self, session_id: str, *statuses: str,
                          timeout: float = 40.0) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for _ in range(int(timeout / 0.2)):
            row = await self.session(session_id)
            if row["status"] in statuses:
                return row
            await asyncio.sleep(0.2)
        raise AssertionError(f"{session_id} never reached {statuses}: {row}")

    async def recalc(self, **data: Any) -> dict[str, Any]:
        return await self.client.command_or_raise(SS.USAGE_RECALCULATE,
                                                  {"agent_timeout_seconds": 1.0, **data})

    async def usage(self) -> dict[str, dict[str, dict[str, str]]]:
        found = await self.client.query_or_raise(SS.USAGE_LIST, {})
        return {kind: {row["key"]: row["occupied"] for row in rows}
                for kind, rows in found.items()}

    async def restart_agent_without_its_self_report(self) -> None:
        """Restarted with its start-up comparison left to a sweep an hour away
        (BAIKAL_RECONCILE_AT_START=false): it answers, but reports no exit by itself. It
        follows the engine's die events from a second before its start: the exit is older."""
        await asyncio.sleep(2.5)
        self.start_agent(BAIKAL_RECONCILE_AT_START="false", BAIKAL_SWEEP_SECONDS="3600")
        await eventually(lambda: self.client.query(SS.AGENT_LIST, {"status": "ALIVE"}),
                         lambda reply: bool(reply.ok and reply.data and reply.data["items"]))

    async def assert_recalc_ends(self, session_id: str, cause: str, others: int = 0) -> None:
        """The run ends the session (container-gone), releases exactly its reservation from
        its keypair's and its agent's ledger, and reports that drift per subject and slot;
        the ledgers then equal what Docker runs, and a second run finds nothing."""
        row = await self.session(session_id)
        assert row["status"] == "RUNNING", row  # nothing healed it before the run
        result = await self.recalc()
        key = self.creds["access_key"]
        assert {(c["session_id"], c["ledger"], c["cause"]) for c in result["corrections"]} == {
            (session_id, f"keypair:{key}", cause), (session_id, f"agent:{AGENT_ID}", cause)}
        held = {"cpu": Decimal("0.25") * (others + 1), "mem": Decimal(32 * 2**20) * (others + 1)}
        subjects = [f"agent:{AGENT_ID}", f"keypair:{key}", f"user:{row['user_id']}",
                    "domain:default"]  # the bootstrapped superadmin's domain
        subjects += [f"project:{row['project']}"] if row.get("project") else []
        assert {(d["subject"], d["slot"], d["tracked"], d["actual"], d["cause"])
                for d in result["drifts"]} == {
            (subject, slot, _fmt(held[slot]), _fmt(held[slot] - held[slot] / (others + 1)),
             cause) for subject in subjects for slot in ("cpu", "mem")}
        assert result["summary"]["sessions_ended"] == 1
        ended = await self.session(session_id)
        assert (ended["status"], ended["reason"]) == ("TERMINATED", r.CONTAINER_GONE)
        await self.assert_ledgers_equal_the_truth()
        again = await self.recalc()
        assert again["drifts"] == [] and again["corrections"] == []

    @property
    def scheme(self) -> LabelScheme:
        """The agent's label keys: the prefix and the stack id (BAIKAL_STACK_ID of the tests)."""
        return LabelScheme(self.labels, AGENT_ID, os.environ.get("BAIKAL_STACK_ID", ""))

    async def running_containers(self) -> dict[str, dict[str, str]]:
        """Session id → slots (from the labels) of every running container Docker has."""
        docker = aiodocker.Docker(url=os.environ["DOCKER_HOST"])
        try:
            found = await docker.containers.list(
                filters=json.dumps({"label": [self.scheme.agent_filter]}))
            out = {}
            for container in found:
                labels = container._container.get("Labels", {})
                out[labels[self.scheme.key(SESSION_ID)]] = json.loads(
                    labels[self.scheme.key(SLOTS)])
            return out
        finally:
            await docker.close()

    async def assert_ledgers_equal_the_truth(self) -> None:
        running = await self.running_containers()
        live = {sid for sid in running
                if (await self.session(sid))["status"] == "RUNNING"} if running else set()
        usage = await self.usage()
        assert _norm(usage["agent"].get(AGENT_ID, {})) == _sum(running.values())
        key = self.creds["access_key"]
        assert _norm(usage["keypair"].get(key, {})) == _sum(running[s] for s in live)


def _norm(slots: dict[str, str]) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in slots.items() if Decimal(v) != 0}


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f") if value != 0 else "0"


def _sum(items: Any) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for slots in items:
        for k, v in slots.items():
            total[k] = total.get(k, Decimal(0)) + Decimal(v)
    return {k: v for k, v in total.items() if v != 0}


@pytest.fixture
async def chaos(nats_server, tmp_path: Path, cipher_key: str,
                docker_labels: str) -> AsyncIterator[Chaos]:
    hosts = [await start_quota(nats_server, tmp_path / "quota", cipher_key),
             await start_identity(nats_server, tmp_path / "identity", cipher_key),
             await start_rbac(nats_server, tmp_path / "rbac", cipher_key)]
    nc = await connect_as(nats_server, "admin")
    creds = await bootstrap(nc)
    client = BusClient(nc, Actor(access_key=creds["access_key"]), timeout=20)
    scheduler = spawn_service("scheduler", nats_server, tmp_path / "scheduler", cipher_key,
                              extra_env=SCHEDULER_ENV)
    agent = spawn_agent(nats_server, tmp_path / "agent", cipher_key, "docker", docker_labels)
    found = Chaos(nats_server, tmp_path, cipher_key, docker_labels, nc, client, creds,
                  scheduler, agent, hosts)
    await eventually(lambda: client.query(SS.RESOURCE_INDICATOR,
                                          {"access_key": creds["access_key"]}),
                     lambda reply: reply.ok and bool(reply.data and reply.data["capacity"]),
                     timeout=30)
    yield found
    for proc in (found.agent, found.scheduler):
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
        stop(proc)
    await nc.close()
    for host in reversed(hosts):
        await host.stop()


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


async def test_agent_killed_between_an_exit_and_its_event(chaos: Chaos) -> None:
    session_id = await chaos.request("short", ["sh", "-c", "sleep 2"])
    await chaos.wait_status(session_id, "RUNNING")
    kill(chaos.agent)
    for _ in range(100):  # the container ends on its own while no agent watches
        if session_id not in await chaos.running_containers():
            break
        await asyncio.sleep(0.1)
    down = await chaos.recalc()
    assert down["agents_unanswered"] == [AGENT_ID] and down["corrections"] == []
    assert (await chaos.session(session_id))["status"] == "RUNNING"  # not guessed
    await chaos.restart_agent_without_its_self_report()
    await chaos.assert_recalc_ends(session_id, r.EXIT_EVENT_MISSING)


async def test_container_docker_killed_while_its_agent_is_down(chaos: Chaos) -> None:
    session_id = await chaos.request("victim", ["sleep", "300"])
    running = await chaos.wait_status(session_id, "RUNNING")
    kept = await chaos.request("kept", ["sleep", "300"])  # runs on: no correction of its own
    await chaos.wait_status(kept, "RUNNING")
    kill(chaos.agent)
    docker = aiodocker.Docker(url=os.environ["DOCKER_HOST"])
    try:
        await (await docker.containers.get(running["container_id"])).kill()
    finally:
        await docker.close()
    down = await chaos.recalc()
    assert down["agents_unanswered"] == [AGENT_ID] and down["corrections"] == []
    await chaos.restart_agent_without_its_self_report()
    await chaos.assert_recalc_ends(session_id, r.EXIT_EVENT_MISSING, others=1)
    assert (await chaos.session(kept))["status"] == "RUNNING"


async def test_agent_stopped_until_lost_then_resumed(chaos: Chaos) -> None:
    held = await chaos.request("held", ["sleep", "300"])
    stopped = await chaos.request("stopped", ["sleep", "300"])
    await chaos.wait_status(held, "RUNNING")
    await chaos.wait_status(stopped, "RUNNING")
    os.kill(chaos.agent.pid, signal.SIGSTOP)
    try:
        for session_id in (held, stopped):
            lost = await chaos.wait_status(session_id, "ERROR", timeout=HEARTBEAT_TIMEOUT + 20)
            assert lost["reason"] == "agent-lost"
    finally:
        os.kill(chaos.agent.pid, signal.SIGCONT)
    await eventually(lambda: chaos.client.query(SS.AGENT_LIST, {"status": "ALIVE"}),
                     lambda reply: bool(reply.ok and reply.data and reply.data["items"]))
    assert set(await chaos.running_containers()) == {held, stopped}  # they ran on
    first = await chaos.recalc(stop_orphans=False)
    assert {(c["session_id"], c["ledger"], c["cause"]) for c in first["corrections"]} == {
        (held, f"agent:{AGENT_ID}", r.RUNNING_WITHOUT_SESSION),
        (stopped, f"agent:{AGENT_ID}", r.RUNNING_WITHOUT_SESSION)}
    assert {o["session_id"] for o in first["orphans"]} == {held, stopped}
    assert {(d["subject"], d["slot"], d["tracked"], d["actual"]) for d in first["drifts"]} == {
        (f"agent:{AGENT_ID}", "cpu", "0", "0.5"),
        (f"agent:{AGENT_ID}", "mem", "0", str(2 * 32 * 2**20))}
    await chaos.assert_ledgers_equal_the_truth()
    assert (await chaos.recalc(stop_orphans=False))["drifts"] == []
    # Then stopped by request: the agent stops them and the next run releases them.
    second = await chaos.recalc(stop_orphans=True)
    assert second["summary"]["orphans_stopped"] == 2
    assert await chaos.running_containers() == {}
    await chaos.assert_ledgers_equal_the_truth()
    assert (await chaos.recalc())["drifts"] == []


async def test_scheduler_killed_between_placement_and_start(chaos: Chaos) -> None:
    """No drift to correct, by construction (the known expected correction is none):
    placement commits the session with both ledger entries in one transaction, so a kill
    after it leaves a SCHEDULED session holding exactly its reservation, which is the truth
    (its start is coming: the restarted worker sends it again, the agent takes it once).
    A run at that point, with the agent still frozen, asks nobody and guesses nothing; once
    the start is taken, a run finds the ledgers equal to what Docker runs."""
    os.kill(chaos.agent.pid, signal.SIGSTOP)  # the start waits unanswered
    try:
        session_id = await chaos.request("placed", ["sleep", "300"])
        await chaos.wait_status(session_id, "SCHEDULED", timeout=3)
        kill(chaos.scheduler)
        chaos.start_scheduler()
        placed = await chaos.wait_status(session_id, "SCHEDULED", timeout=20)
        usage = await chaos.usage()
        key = chaos.creds["access_key"]
        held = {"cpu": Decimal("0.25"), "mem": Decimal(32 * 2**20)}
        assert _norm(usage["keypair"][key]) == _norm(usage["agent"][AGENT_ID]) == held
        during = await chaos.recalc()
        assert during["corrections"] == [] and during["drifts"] == []
        assert during["summary"]["sessions_ended"] == 0
        assert (await chaos.session(session_id))["version"] == placed["version"]
    finally:
        os.kill(chaos.agent.pid, signal.SIGCONT)
    await chaos.wait_status(session_id, "RUNNING")
    assert set(await chaos.running_containers()) == {session_id}  # started once
    result = await chaos.recalc()
    assert result["drifts"] == [] and result["corrections"] == []
    assert result["agents_asked"] == [AGENT_ID] and result["agents_unanswered"] == []
    await chaos.assert_ledgers_equal_the_truth()


async def test_an_agent_gone_while_the_scheduler_was_down_is_reported_not_guessed(
        chaos: Chaos) -> None:
    """The same kill, and the agent dies for good before it takes the start: the restarted
    scheduler has never heard from it, and the run asks it anyway (it holds the placed
    session), lists it as unanswered and leaves the reservation as tracked."""
    os.kill(chaos.agent.pid, signal.SIGSTOP)
    session_id = await chaos.request("placed", ["sleep", "300"])
    await chaos.wait_status(session_id, "SCHEDULED", timeout=3)
    kill(chaos.scheduler)
    kill(chaos.agent)  # stopped, then killed: the start it held is lost with it
    chaos.start_scheduler()
    await chaos.wait_status(session_id, "SCHEDULED", timeout=20)
    result = await chaos.recalc()
    assert result["agents_asked"] == result["agents_unanswered"] == [AGENT_ID]
    assert result["corrections"] == [] and result["drifts"] == []
    assert _norm((await chaos.usage())["agent"][AGENT_ID]) == {
        "cpu": Decimal("0.25"), "mem": Decimal(32 * 2**20)}


async def test_a_ledger_made_wrong_through_a_test_only_path(chaos: Chaos) -> None:
    session_id = await chaos.request("kept", ["sleep", "300"])
    await chaos.wait_status(session_id, "RUNNING")
    tamper_agent_ledger(chaos, "ghost", {"cpu": "2", "mem": "1073741824"})
    tamper_agent_ledger(chaos, session_id, {"cpu": "1", "mem": "33554432"})
    await eventually(lambda: chaos.client.query(SS.AGENT_LIST, {"status": "ALIVE"}),
                     lambda reply: bool(reply.ok and reply.data and reply.data["items"]))
    first = await chaos.recalc()
    assert {(c["session_id"], c["cause"]) for c in first["corrections"]} == {
        ("ghost", r.UNKNOWN_SESSION), (session_id, r.RESERVATION_WRONG)}
    assert {(d["subject"], d["slot"], d["tracked"], d["actual"]) for d in first["drifts"]} == {
        (f"agent:{AGENT_ID}", "cpu", "3", "0.25"),
        (f"agent:{AGENT_ID}", "mem", str(2**30 + 32 * 2**20), str(32 * 2**20))}
    await chaos.assert_ledgers_equal_the_truth()
    assert (await chaos.recalc())["drifts"] == []


def tamper_agent_ledger(chaos: Chaos, session_id: str, slots: dict[str, str]) -> None:
    """The test-only path: the scheduler's store written while the scheduler is down."""
    stop(chaos.scheduler)
    settings = SchedulerSettings(data_dir=chaos.root / "scheduler", cipher_key=chaos.cipher_key)
    app = Scheduler(store_env(settings, "scheduler"))
    try:
        ledger = app.find(ledger_id("agent", AGENT_ID))
        assert isinstance(ledger, Ledger)
        ledger.reserve(session_id, slots)
        app.save(ledger)
    finally:
        app.close()
    chaos.start_scheduler()


async def test_a_recalculation_sigkilled_mid_run_leaves_nothing_and_a_rerun_finishes(
        chaos: Chaos) -> None:
    session_id = await chaos.request("kept", ["sleep", "300"])
    await chaos.wait_status(session_id, "RUNNING")
    tamper_agent_ledger(chaos, "ghost", {"cpu": "2"})
    await eventually(lambda: chaos.client.query(SS.AGENT_LIST, {"status": "ALIVE"}),
                     lambda reply: bool(reply.ok and reply.data and reply.data["items"]))
    before = await chaos.usage()
    os.kill(chaos.agent.pid, signal.SIGSTOP)  # the run waits for its report...
    try:
        run = asyncio.create_task(chaos.client.command(
            SS.USAGE_RECALCULATE, {"agent_timeout_seconds": 10}, command_id="run-1"))
        await asyncio.sleep(1.5)
        kill(chaos.scheduler)  # ...and dies waiting
        with pytest.raises(Exception):  # noqa: B017 - no reply ever comes (timeout)
            await run
    finally:
        os.kill(chaos.agent.pid, signal.SIGCONT)
    chaos.start_scheduler()
    await eventually(lambda: chaos.client.query(SS.AGENT_LIST, {"status": "ALIVE"}),
                     lambda reply: bool(reply.ok and reply.data and reply.data["items"]))
    assert await chaos.usage() == before  # nothing half-corrected
    rerun = await chaos.client.command_or_raise(
        SS.USAGE_RECALCULATE, {"agent_timeout_seconds": 2}, command_id="run-1")
    assert [(c["session_id"], c["cause"]) for c in rerun["corrections"]] == [
        ("ghost", r.UNKNOWN_SESSION)]
    await chaos.assert_ledgers_equal_the_truth()
    assert (await chaos.recalc())["drifts"] == []
