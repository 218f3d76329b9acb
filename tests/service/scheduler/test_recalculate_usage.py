"""RECALCULATE USAGE over a real nats-server: scheduler, quota, identity, rbac and one agent on
the simulated runtime, in this process. Drift is induced on the runtime (a container vanishes
without an event, a labelled stranger appears) and in the ledgers (a test-only write through
the application), then the bus command must report exactly that and leave the truth.

The randomized test is seeded (printed at its start; each round's choices derive from the seed
and the round's number): a failure says `BAIKAL_RECALC_SEED=<n> BAIKAL_RECALC_ROUNDS=<k>`,
which replays the same rounds up to the failing one (default: a random seed, 200 rounds).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from contracts import subjects
from contracts.scheduler import Subjects as SS
from services.agent.main import AgentNode
from services.agent.runtimes.base import Observed
from services.runtime.reader import Follower, StoredMsg
from services.scheduler.domain import recalc as r
from services.scheduler.domain import slots as s
from services.scheduler.domain.model import Ledger, ledger_id
from tests.support.agent import AGENT_ID
from tests.support.stack import Stack, start_stack

SLOTS = {"cpu": "0.01", "mem": "1048576"}
SETTLING = ("SCHEDULED", "PREPARING", "TERMINATING")


@pytest.fixture
async def stack(nats_server, tmp_path: Path, cipher_key: str) -> AsyncIterator[Stack]:
    # No sweep: the agent must not notice what the test does to its runtime behind its back.
    found = await start_stack(nats_server, tmp_path, cipher_key, "simulated",
                              "ai.baikal.recalc.", sweep_seconds=3600, capacity_cpu=2,
                              heartbeat_seconds=0.5)
    found.client.timeout = 30
    yield found
    await found.stop()


def agent(stack: Stack) -> AgentNode:
    node = stack.hosts[-1]
    assert isinstance(node, AgentNode)
    return node


def engine(stack: Stack) -> dict[str, Observed]:
    """The simulated engine's containers by session (the truth of what runs)."""
    running: dict[str, Observed] = agent(stack).supervisor.runtime._running  # type: ignore
    return running


async def recalc(stack: Stack, **data: Any) -> dict[str, Any]:
    return await stack.client.command_or_raise(SS.USAGE_RECALCULATE, data)


async def request(stack: Stack, name: str) -> str:
    reply = await stack.client.command_or_raise(SS.SESSION_REQUEST, {
        "name": name, "image": "sim", "command": ["sleep"], "slots": dict(SLOTS)})
    return str(reply["session_id"])


async def settle(stack: Stack, timeout: float = 10.0, pending: bool = True) -> None:
    """Until nothing moves: every session placed and started (or ended)."""
    statuses = (*SETTLING, "PENDING") if pending else SETTLING
    for _ in range(int(timeout / 0.02)):
        if not stack.scheduler.view.by_status(*statuses):
            return
        await asyncio.sleep(0.02)
    rows = [(row["status"], row["failed_checks"]) for row in
            stack.scheduler.view.by_status(*statuses)]
    raise AssertionError(f"still settling: {rows}; agent holds "
                         f"{stack.scheduler.view.agent_reserved(AGENT_ID)}")


def ledgers(stack: Stack) -> dict[tuple[str, str], dict[str, dict[str, str]]]:
    return {k: v for k, v in stack.scheduler.view.snapshot()[1].items() if v}


def truth(stack: Stack) -> dict[tuple[str, str], set[str]]:
    """What the ledgers must hold: the agent every running container, the keypair those of
    live sessions (PENDING ones hold nothing)."""
    running = {o.session_id for o in engine(stack).values()}
    live = {row["session_id"] for row in stack.scheduler.view.by_status("RUNNING")}
    expected = {("agent", AGENT_ID): running,
                ("keypair", stack.creds["access_key"]): running & live}
    return {k: v for k, v in expected.items() if v}


def tamper(stack: Stack, kind: str, key: str, session_id: str,
           slots: dict[str, str] | None) -> None:
    """The test-only path: write a ledger through the application, as no command can."""
    app = stack.scheduler
    ledger = app.find(ledger_id(kind, key)) or Ledger(kind=kind, key=key)
    if slots is None:
        ledger.release(session_id)
    else:
        ledger.reserve(session_id, slots)
    app.save(ledger)


def mismatch(stack: Stack) -> dict[str, Any]:
    have, want = held(stack), truth(stack)
    out = {}
    for key in set(have) | set(want):
        for sid in have.get(key, set()) ^ want.get(key, set()):
            row = stack.scheduler.view.get(sid) or {}
            out[f"{key}:{sid}"] = (sid in have.get(key, set()), row.get("status"),
                                   row.get("reason"), [o.session_id for o in
                                                       engine(stack).values()].count(sid))
    return out


def held(stack: Stack) -> dict[tuple[str, str], set[str]]:
    """The ledgers' sessions; their running totals must be the sums of their entries."""
    view = stack.scheduler.view
    for key, entries in ledgers(stack).items():
        total: dict[str, Any] = {}
        for slots in entries.values():
            total = s.add(total, s.from_wire(slots))
        assert view.reserved_total.get(key, {}) == {k: v for k, v in total.items() if v}, key
    return {k: set(v) for k, v in ledgers(stack).items()}


async def test_each_kind_of_drift_is_reported_corrected_and_then_gone(stack: Stack) -> None:
    kept, vanished = await request(stack, "kept"), await request(stack, "vanished")
    await settle(stack)
    ak = stack.creds["access_key"]
    # a container gone without an event; a labelled stranger; a phantom and a wrong entry
    gone = next(cid for cid, o in engine(stack).items() if o.session_id == vanished)
    del engine(stack)[gone]
    stranger = str(uuid.uuid4())
    labels = agent(stack).supervisor.labels.labels(stranger, ak, SLOTS, [])
    engine(stack)["simulated-stranger"] = Observed("simulated-stranger", stranger, labels, True)
    tamper(stack, "keypair", ak, "ghost", {"cpu": "5"})
    tamper(stack, "agent", AGENT_ID, kept, {"cpu": "1"})

    first = await recalc(stack)
    causes = {(c["session_id"], c["ledger"].split(":")[0]): c["cause"]
              for c in first["corrections"]}
    assert causes == {
        (vanished, "keypair"): r.EXIT_EVENT_MISSING, (vanished, "agent"): r.EXIT_EVENT_MISSING,
        ("ghost", "keypair"): r.UNKNOWN_SESSION, (kept, "agent"): r.RESERVATION_WRONG,
        (stranger, "agent"): r.RUNNING_WITHOUT_SESSION}
    assert [o["session_id"] for o in first["orphans"]] == [stranger]
    assert first["agents_asked"] == [AGENT_ID] and first["agents_unanswered"] == []
    assert (await stack.session(vanished))["reason"] == "container-gone"
    assert held(stack) == truth(stack)
    second = await recalc(stack)
    assert second["drifts"] == [] and second["corrections"] == []

    usage = await stack.client.query_or_raise(SS.USAGE_LIST, {"kind": "agent"})
    assert usage["agent"][0]["key"] == AGENT_ID
    assert usage["agent"][0]["occupied"]["cpu"] == "0.02"  # kept + the stranger

    published = await usage_events(stack, expect=len(first["drifts"]) + 2)
    drifts = [e["data"] for e in published if e["type"] == "UsageDriftDetected"]
    assert drifts == first["drifts"]  # what the run committed is what went out, in order
    done = [e["data"] for e in published if e["type"] == "UsageRecalculated"]
    assert done[0]["summary"] == first["summary"] and done[1]["summary"]["drifts"] == 0


async def usage_events(stack: Stack, expect: int, timeout: float = 10.0) -> list[Any]:
    """The scheduler's usage events on BAI_EVT_SCHEDULER (published by its relay), read by
    sequence as the operator does (it may not create consumers)."""
    found: list[Any] = []

    async def on_message(msg: StoredMsg) -> None:
        event = json.loads(msg.data)
        if event["type"].startswith("Usage"):
            found.append(event)

    follower = await Follower(stack.nc, subjects.stream("scheduler"),
                              subjects.events_of("scheduler"), on_message,
                              poll_seconds=0.1).start()
    try:
        for _ in range(int(timeout / 0.05)):
            if len(found) >= expect:
                break
            await asyncio.sleep(0.05)
    finally:
        await follower.stop()
    return found


async def test_stop_orphans_stops_the_stranger_instead_of_holding_it(stack: Stack) -> None:
    await settle(stack)
    stranger = str(uuid.uuid4())
    labels = agent(stack).supervisor.labels.labels(stranger, None, SLOTS, [])
    engine(stack)["simulated-x"] = Observed("simulated-x", stranger, labels, True)
    result = await recalc(stack, stop_orphans=True)
    assert result["summary"]["orphans_stopped"] == 1 and result["corrections"] == []
    assert "simulated-x" not in engine(stack)


async def test_a_silent_agent_is_reported_not_guessed(stack: Stack) -> None:
    session_id = await request(stack, "s")
    await settle(stack)
    await agent(stack).host.dispatcher.stop()  # it hears nothing more
    result = await recalc(stack, agent_timeout_seconds=0.5)
    assert result["agents_unanswered"] == [AGENT_ID]
    assert result["corrections"] == []
    assert (await stack.session(session_id))["status"] == "RUNNING"


@pytest.mark.timeout(240)
async def test_seeded_random_drift_leaves_no_residue(stack: Stack) -> None:
    seed = int(os.environ.get("BAIKAL_RECALC_SEED", random.randrange(1_000_000)))
    rounds = int(os.environ.get("BAIKAL_RECALC_ROUNDS", "200"))
    print(f"BAIKAL_RECALC_SEED={seed} BAIKAL_RECALC_ROUNDS={rounds}")
    for number in range(rounds):
        try:
            await one_round(stack, random.Random(f"{seed}:{number}"), number)
        except AssertionError as exc:
            raise AssertionError(f"round {number}; replay with BAIKAL_RECALC_SEED={seed} "
                                 f"BAIKAL_RECALC_ROUNDS={number + 1}: {exc}") from exc


async def one_round(stack: Stack, rng: random.Random, seed: int) -> None:
    ak = stack.creds["access_key"]
    live = [row["session_id"] for row in stack.scheduler.view.by_status("RUNNING")
            if any(o.session_id == row["session_id"] for o in engine(stack).values())]
    if len(live) > 12:
        await stack.client.command_or_raise(SS.SESSION_TERMINATE,
                                            {"session_id": rng.choice(live)})
    elif rng.random() < 0.7:
        await request(stack, f"r{seed}")
    await settle(stack)
    live = sorted(row["session_id"] for row in stack.scheduler.view.by_status("RUNNING")
                  if any(o.session_id == row["session_id"] for o in engine(stack).values()))
    fault = rng.choice(["vanish", "stranger", "phantom", "wrong", "drop", "none"])
    induced: set[str] = set()
    if fault == "vanish" and live:
        victim = rng.choice(live)
        del engine(stack)[next(k for k, o in engine(stack).items() if o.session_id == victim)]
        induced = {victim}
    elif fault == "stranger":
        stranger = str(uuid.UUID(int=rng.getrandbits(128)))
        labels = agent(stack).supervisor.labels.labels(stranger, ak, SLOTS, [])
        engine(stack)[f"simulated-{stranger}"] = Observed(f"simulated-{stranger}", stranger,
                                                          labels, True)
        induced = {stranger}
    elif fault == "phantom":
        ghost = f"ghost-{seed}"
        tamper(stack, rng.choice(["keypair", "agent"]), rng.choice([ak, AGENT_ID]), ghost,
               {"cpu": str(rng.randint(1, 3))})
        induced = {ghost}
    elif fault in ("wrong", "drop") and live:
        victim = rng.choice(live)
        kind, key = rng.choice([("keypair", ak), ("agent", AGENT_ID)])
        tamper(stack, kind, key, victim, None if fault == "drop" else {"cpu": "0.5"})
        induced = {victim}
    first = await recalc(stack)
    corrected = {c["session_id"] for c in first["corrections"]}
    assert corrected == induced, (fault, first["corrections"])
    assert held(stack) == truth(stack), (fault, mismatch(stack))
    second = await recalc(stack)
    assert second["corrections"] == [] and second["drifts"] == [], (fault, second)


@pytest.mark.timeout(240)
async def test_recalculating_during_500_requests_admits_no_more_than_fits_and_loses_none(
        stack: Stack) -> None:
    """cpu 2 on the agent, 0.01 per session: 200 fit; the rest must wait, none may vanish."""
    names = [f"c{i}" for i in range(500)]
    runs: list[dict[str, Any]] = []

    async def recalculating() -> None:
        for _ in range(40):
            runs.append(await recalc(stack))
            await asyncio.sleep(0.05)

    async def requesting() -> list[str]:
        ids: list[str] = []
        for i in range(0, 500, 25):
            ids += await asyncio.gather(*(request(stack, n) for n in names[i:i + 25]))
        return ids

    ids, _ = await asyncio.gather(requesting(), recalculating())
    await settle(stack, timeout=60, pending=False)
    rows = {row["session_id"]: row for row in stack.scheduler.view.by_status(
        "PENDING", "RUNNING", "ERROR", "CANCELLED", "TERMINATED")}
    assert set(ids) <= set(rows), "a request was lost"
    statuses = [rows[i]["status"] for i in ids]
    assert statuses.count("RUNNING") == 200 and statuses.count("PENDING") == 300
    agent_ledger = stack.scheduler.view.agent_reserved(AGENT_ID)
    assert agent_ledger["cpu"] <= 2
    assert held(stack) == truth(stack)
    assert all(c["cause"] not in (r.ENDED_BUT_RESERVED, r.UNKNOWN_SESSION)
               for run in runs for c in run["corrections"]), "a recalculation undid a placement"
