"""RECALCULATE USAGE benchmark: N container events (JSON contract envelopes, compact, as the
relay writes them on BAI_EVT_AGENT) and A agent reports, through the same pure functions the
scheduler runs (`domain/envelopes.py` container_fact; `domain/recalc.py` replay, plan,
drifts), beside the time to merely read the same events (touch every byte string) and to
json-decode each in the same run.

The input is synthetic: A agents, sessions started on them, about half of them ended, 1% of
the live ones missing from their agent's report (drift) and a few ledger entries wrong.

    python -m bench.recalc [--events 1000000] [--agents 1000] [--store-events 100000]

`--store-events` also times the fallback replay path (no bus): that many container facts
(ContainerRecord events) in an encrypted SQLite event store, read back and folded by
`ContainerReplay.from_store`, beside reading the same notifications without decoding them.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from typing import Any

from services.scheduler.domain import envelopes
from services.scheduler.domain import recalc as r

SLOTS = {"cpu": "1", "mem": "1073741824"}


def make_events(n: int, agents: int, rng: random.Random) -> tuple[list[bytes], list[str]]:
    """Encoded ContainerStarted / ContainerExited envelopes, and the sessions left open."""
    events: list[bytes] = []
    open_: list[tuple[str, str]] = []
    while len(events) < n:
        if open_ and rng.random() < 0.45:
            agent, session = open_.pop(rng.randrange(len(open_)))
            data: dict[str, Any] = {"agent_id": agent, "session_id": session,
                                    "container_id": "c", "exit_code": 0, "reason": "exited"}
            kind = "ContainerExited"
        else:
            agent, session = f"a{rng.randrange(agents)}", str(uuid.uuid4())
            open_.append((agent, session))
            data = {"agent_id": agent, "session_id": session, "container_id": "c",
                    "slots": SLOTS}
            kind = "ContainerStarted"
        events.append(_compact({"id": str(uuid.uuid4()), "type": kind, "version": 1,
                                "source": "agent", "aggregate_id": session, "sequence": 1,
                                "occurred_at": "2026-12-01T00:00:00Z", "correlation_id": None,
                                "causation_id": None, "actor": None, "data": data}))
    return events, [s for _, s in open_]


def _compact(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, separators=(",", ":")).encode()


def check_encoding(raw: bytes) -> None:
    """The synthetic bytes are what the relay writes (pydantic's model_dump_json)."""
    from contracts.envelope import Event

    assert Event.model_validate_json(raw).model_dump_json().encode() == raw, raw


def container_facts(events: list[bytes]) -> Any:
    """What the scheduler's replay does with each message (services/scheduler/replay.py)."""
    return map(envelopes.container_fact, events)


def store_replay(n: int) -> None:
    import tempfile
    from pathlib import Path

    from eventsourcing.cryptography import AESCipher

    from services.runtime.store import store_env
    from services.scheduler.domain.usage import ContainerRecord
    from services.scheduler.lifecycle import Scheduler
    from services.scheduler.main import SchedulerSettings
    from services.scheduler.replay import ContainerReplay

    with tempfile.TemporaryDirectory() as tmp:
        settings = SchedulerSettings(data_dir=Path(tmp), cipher_key=AESCipher.create_key(32))
        app = Scheduler(store_env(settings, "scheduler"))
        try:
            written = 0
            while written < n:
                batch = []
                for _ in range(min(500, (n - written) // 2 or 1)):
                    record = ContainerRecord(agent_id=f"a{written % 1000}",
                                             session_id=str(uuid.uuid4()))
                    record.started("c", SLOTS)
                    batch.append(record)
                    written += 2  # Opened + Started (the Opened names agent and session)
                app.save(*batch)
            began = time.perf_counter()
            position, rows = 0, 0
            while True:
                got = app.process_recorder.select_notifications(position + 1, 1000)
                if not got:
                    break
                rows += len(got)
                position = got[-1].id
            read_s = time.perf_counter() - began
            began = time.perf_counter()
            replayed = ContainerReplay(app).from_store()
            replay_s = time.perf_counter() - began
        finally:
            app.close()
    print(f"store: {rows:,} stored events read without decoding {read_s:.2f} s; "
          f"decoded (decrypt, decompress, map) and replayed {replay_s:.2f} s "
          f"({replayed.events:,} facts, {replay_s / max(read_s, 1e-9):.1f}x reading)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store-events", type=int, default=0)
    args = parser.parse_args()
    if args.store_events:
        store_replay(args.store_events)
    rng = random.Random(args.seed)
    events, _ = make_events(args.events, args.agents, rng)
    check_encoding(events[0])

    began, cpu = time.perf_counter(), time.process_time()
    size = 0
    for raw in events:  # merely read: every event's bytes, once
        size += len(raw)
    read_s, read_cpu = time.perf_counter() - began, time.process_time() - cpu

    began, cpu = time.perf_counter(), time.process_time()
    loads = json.loads
    for raw in events:
        loads(raw)
    decode_only, decode_cpu = time.perf_counter() - began, time.process_time() - cpu

    began, cpu = time.perf_counter(), time.process_time()
    replayed = r.replay(container_facts(events))
    replay_s, replay_cpu = time.perf_counter() - began, time.process_time() - cpu

    # The scheduler's view: every open container is a RUNNING session holding both ledgers;
    # 1% are gone from their agent's report, 0.1% have a wrong agent-ledger entry.
    facts, ledgers = {}, {}
    reports: dict[str, dict[str, r.Seen] | None] = {f"a{i}": {} for i in range(args.agents)}
    for agent, sessions in replayed.open.items():
        for session, slots in sessions.items():
            ak = f"AK{hash(session) % 5000}"
            facts[session] = r.SessionFact(session, 3, "RUNNING", agent, ak, f"u-{ak}", "p",
                                           "default", slots)
            ledgers.setdefault(("keypair", ak), {})[session] = slots
            wrong = rng.random() < 0.001
            ledgers.setdefault(("agent", agent), {})[session] = {"cpu": "2"} if wrong else slots
            if rng.random() >= 0.01:
                reports[agent][session] = r.Seen(session, "running", slots)  # type: ignore[index]
    began, cpu = time.perf_counter(), time.process_time()
    plan = r.plan(facts, ledgers, reports, replayed)
    found = r.drifts(ledgers, plan.corrections, facts)
    plan_s, plan_cpu = time.perf_counter() - began, time.process_time() - cpu
    total, total_cpu = replay_s + plan_s, replay_cpu + plan_cpu
    print(f"events {args.events:,} ({size / 2**20:.0f} MiB), agents {args.agents:,} (reports), "
          f"live sessions {len(facts):,}")
    print(f"read only (each event's bytes once):     {read_s:.2f} s wall, {read_cpu:.2f} s CPU")
    print(f"json.loads of every event (reference):   {decode_only:.2f} s wall, "
          f"{decode_cpu:.2f} s CPU")
    print(f"container facts + replay:                {replay_s:.2f} s wall, "
          f"{replay_cpu:.2f} s CPU ({replay_cpu / decode_cpu:.2f}x json.loads)")
    print(f"plan + drifts against {args.agents:,} reports: {plan_s:.2f} s wall, "
          f"{plan_cpu:.2f} s CPU "
          f"({len(plan.corrections):,} corrections, {len(plan.ends):,} sessions to end, "
          f"{len(found):,} drifts)")
    print(f"total recalculation (decode, replay, plan): {total:.2f} s wall, "
          f"{total_cpu:.2f} s CPU ({'within' if total <= 10 else 'OVER'} the 10 s goal "
          "by wall time; on a shared machine CPU time is the steadier figure)")


if __name__ == "__main__":
    main()
