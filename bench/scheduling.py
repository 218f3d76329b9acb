"""Scheduling benchmarks.

1. Placement throughput (SIMULATION: 1,000+ simulated agents that start nothing; their
   heartbeats are fed straight into the scheduler's agent registry). N sessions are requested
   through the real SchedulerApplication on a real SQLite event store, then placed by
   `schedule_once` (every placement commits the session and two ledgers). Reported:
   admissions/s, placements/s and queued→scheduled p50/p99, beside a naive in-memory
   placement loop (same selection function, no persistence, no admission) from the same run.
2. Session start latency on a real Docker engine (needs DOCKER_HOST): request → RUNNING through
   the whole stack over NATS, beside raw aiodocker create+start of the same image with the
   same limits, measured in the same run.

    python -m bench.scheduling [--agents 1000] [--sessions 5000] [--docker-sessions 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench import trust  # noqa: F401 - sets the trust settings of this process
from services.cli.stack import free_port

GIB = 2**30


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def simulated_agent(n: int) -> dict[str, Any]:
    return {"agent_id": f"sim-{n:05d}", "runtime": "simulated", "version": "bench",
            "architecture": "x86_64", "capacity": {"cpu": "64", "mem": str(256 * GIB)},
            "gpus": [], "containers": [], "interval_seconds": 20, "sent_at": "now"}


def build_scheduler(root: Path, agents: int) -> tuple[Any, str]:
    from eventsourcing.cryptography import AESCipher

    from contracts.envelope import Actor  # noqa: F401 - used by callers
    from services.runtime.actors import ActorDirectory
    from services.runtime.settings import ServiceSettings
    from services.runtime.store import store_env
    from services.scheduler.app import Placement
    from services.scheduler.lifecycle import Scheduler
    from services.scheduler.views import AgentRegistry, PolicyBook

    settings = ServiceSettings(service="scheduler", data_dir=root,
                               cipher_key=AESCipher.create_key(32))
    directory, policies, registry = ActorDirectory(), PolicyBook(), AgentRegistry(timeout=3600)
    access_key = "AKIABENCHBENCHBENCH0"
    directory.apply({"type": "UserCreated", "data": {
        "user_id": "u-bench", "email": "bench@example.com", "role": "user",
        "domain": "default", "status": "active"}})
    directory.apply({"type": "KeypairIssued", "data": {
        "access_key": access_key, "user_id": "u-bench", "is_active": True,
        "resource_policy": "default"}})
    policies.apply({"type": "PolicyCreated", "data": {"kind": "keypair", "name": "default",
                                                      "policy": {
        "default_for_unspecified": "unlimited", "total_resource_slots": {},
        "max_containers_per_session": 100}}})
    for n in range(agents):
        registry.heartbeat(simulated_agent(n))
    app = Scheduler(store_env(settings, "scheduler"), directory, policies, registry,
                    Placement("fifo", "dispersed"))
    app.view.attach()
    return app, access_key


def placement_bench(agents: int, sessions: int) -> dict[str, float]:
    from contracts.envelope import Actor
    from contracts.scheduler import RequestSession

    root = Path(tempfile.mkdtemp(prefix="baikal-bench-sched-"))
    try:
        app, access_key = build_scheduler(root, agents)
        actor = Actor(access_key=access_key)
        requested: dict[str, float] = {}
        started = time.perf_counter()
        for n in range(sessions):
            reply = app.request_session(str(uuid.uuid4()), actor, RequestSession(
                name=f"s{n}", image="sim", slots={"cpu": "1", "mem": str(GIB)}))
            requested[reply["session_id"]] = time.perf_counter()
        admit_seconds = time.perf_counter() - started
        latencies: list[float] = []
        started = time.perf_counter()
        for _ in range(1000):  # bounded: each pass places what fits
            placed = app.schedule_once(budget=sessions)
            now = time.perf_counter()
            latencies += [now - requested[sid] for sid, _ in placed]
            if not placed:
                break
        place_seconds = time.perf_counter() - started
        app.close()
        return {"admitted_per_s": sessions / admit_seconds, "placed": len(latencies),
                "placed_per_s": len(latencies) / place_seconds,
                "queued_to_scheduled_p50_ms": percentile(latencies, 0.5) * 1000,
                "queued_to_scheduled_p99_ms": percentile(latencies, 0.99) * 1000}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def naive_placement(agents: int, sessions: int) -> float:
    """Baseline: the same agent selection over plain in-memory rooms, nothing persisted."""
    from services.scheduler.domain import placement
    from services.scheduler.domain import slots as s

    rooms = {f"sim-{n:05d}": placement.AgentRoom(
        f"sim-{n:05d}", {"cpu": Decimal(64), "mem": Decimal(256 * GIB)},
        {"cpu": Decimal(64), "mem": Decimal(256 * GIB)}) for n in range(agents)}
    request = {"cpu": Decimal(1), "mem": Decimal(GIB)}
    started = time.perf_counter()
    for _ in range(sessions):
        room = placement.select_agent(request, list(rooms.values()), "dispersed")
        assert room is not None
        rooms[room.agent_id] = placement.AgentRoom(room.agent_id, room.capacity,
                                                   s.sub(room.free, request))
    return sessions / (time.perf_counter() - started)


# ---- Docker start latency ---------------------------------------------------------------------


async def raw_docker_starts(count: int, docker_host: str) -> list[float]:
    import aiodocker

    docker = aiodocker.Docker(url=docker_host)
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            container = await docker.containers.create({
                "Image": "baikal/busybox:latest", "Cmd": ["sleep", "30"],
                "Labels": {"ai.baikal.bench": "raw"},
                "HostConfig": {"NanoCpus": 500_000_000, "Memory": 64 * 2**20,
                               "NetworkMode": "none"}})
            await container.start()
            times.append(time.perf_counter() - started)
            await container.delete(force=True)
    finally:
        await docker.close()
    return times


async def stack_starts(count: int, root: Path) -> list[float]:
    from eventsourcing.cryptography import AESCipher

    from contracts.envelope import Actor
    from contracts.identity import Subjects as IS
    from contracts.scheduler import Subjects as SS
    from services.agent.main import build as build_agent
    from services.agent.settings import AgentSettings
    from services.cli.natsconf import new_passwords, render
    from services.identity.main import IdentitySettings
    from services.identity.main import build as build_identity
    from services.quota.main import QuotaSettings
    from services.quota.main import build as build_quota
    from services.runtime.bus import connect
    from services.runtime.client import BusClient
    from services.runtime.provision import provision_at
    from services.scheduler.main import SchedulerSettings
    from services.scheduler.main import build as build_scheduler_host

    passwords, port, key = new_passwords(), free_port(), AESCipher.create_key(32)
    conf = root / "nats.conf"
    conf.write_text(render(port, free_port(), root / "js", passwords))
    nats_proc = subprocess.Popen([shutil.which("nats-server") or "nats-server", "-c", str(conf)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"nats://127.0.0.1:{port}"
    hosts: list[Any] = []
    try:
        await asyncio.sleep(0.5)
        await provision_at(url, passwords["provision"])
        common = {"nats_url": url, "cipher_key": key, "relay_poll_seconds": 0.2}
        hosts.append(build_quota(QuotaSettings(nats_user="quota", nats_password=passwords["quota"],
                                               data_dir=root / "q", **common)))
        hosts.append(build_identity(IdentitySettings(
            nats_user="identity", nats_password=passwords["identity"], data_dir=root / "i",
            **common)))
        scheduler, _ = build_scheduler_host(SchedulerSettings(
            nats_user="scheduler", nats_password=passwords["scheduler"], data_dir=root / "s",
            tick_seconds=0.05, **common))
        hosts.append(scheduler)
        for host in hosts:
            await host.start()
        agent = await build_agent(AgentSettings(
            nats_user="agent-local", nats_password=passwords["agent-local"],
            data_dir=root / "a", runtime="docker", reserved_cpu="0", reserved_mem="0",
            heartbeat_seconds=0.5, label_prefix="ai.baikal.bench.", **common))
        await agent.start()
        hosts.append(agent)
        nc = await connect(url, user="admin", password=passwords["admin"])
        boot = BusClient(nc, Actor(system="bootstrap"))
        creds = await boot.command_or_raise(IS.BOOTSTRAP, {"email": "b@example.com",
                                                           "password": "Bench-passw0rd"})
        client = BusClient(nc, Actor(access_key=creds["access_key"]), timeout=30)
        for _ in range(100):
            answer = await client.query(SS.RESOURCE_INDICATOR,
                                        {"access_key": creds["access_key"]})
            if answer.ok and answer.data and answer.data["capacity"]:
                break
            await asyncio.sleep(0.1)
        times = []
        for n in range(count):
            started = time.perf_counter()
            reply = await client.command_or_raise(SS.SESSION_REQUEST, {
                "name": f"b{n}", "image": "baikal/busybox:latest", "command": ["sleep", "30"],
                "slots": {"cpu": "0.5", "mem": "64m"}})
            for _ in range(3000):
                row = await client.query_or_raise(SS.SESSION_GET,
                                                  {"session_id": reply["session_id"]})
                if row["status"] in ("RUNNING", "ERROR", "TERMINATED"):
                    break
                await asyncio.sleep(0.005)
            times.append(time.perf_counter() - started)
            await client.command_or_raise(SS.SESSION_TERMINATE,
                                          {"session_id": reply["session_id"]})
        await asyncio.sleep(3)
        await nc.close()
        return times
    finally:
        for host in reversed(hosts):
            await host.stop()
        nats_proc.terminate()
        nats_proc.wait(timeout=10)
        await remove_bench_containers(os.environ["DOCKER_HOST"])


async def remove_bench_containers(docker_host: str) -> None:
    """Every container the benchmark's agent labelled, whatever its state."""
    import json

    import aiodocker

    docker = aiodocker.Docker(url=docker_host)
    try:
        filters = json.dumps({"label": ["ai.baikal.bench.agent-id"]})
        for container in await docker.containers.list(all=True, filters=filters):
            await container.delete(force=True)
    finally:
        await docker.close()


async def docker_bench(count: int) -> dict[str, float] | None:
    docker_host = os.environ.get("DOCKER_HOST")
    if not docker_host:
        print("  (skipped: DOCKER_HOST not set; deploy/ci/start-docker.sh prints it)")
        return None
    root = Path(tempfile.mkdtemp(prefix="baikal-bench-start-"))
    try:
        raw = await raw_docker_starts(count, docker_host)
        stack = await stack_starts(count, root)
        raw2 = await raw_docker_starts(count, docker_host)  # bracket the stack run
    finally:
        shutil.rmtree(root, ignore_errors=True)
    raw_all = raw + raw2
    return {"raw_p50_ms": statistics.median(raw_all) * 1000,
            "raw_p99_ms": percentile(raw_all, 0.99) * 1000,
            "stack_p50_ms": statistics.median(stack) * 1000,
            "stack_p99_ms": percentile(stack, 0.99) * 1000,
            "overhead_p50_ms": (statistics.median(stack) - statistics.median(raw_all)) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--docker-sessions", type=int, default=10)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

    print(f"placement: SIMULATION with {args.agents} simulated agents (start nothing), "
          f"{args.sessions} sessions, SQLite event store")
    result = placement_bench(args.agents, args.sessions)
    naive = naive_placement(args.agents, args.sessions)
    print(f"  admissions/s              {result['admitted_per_s']:10.1f}")
    print(f"  placements/s              {result['placed_per_s']:10.1f}   "
          f"(placed {int(result['placed'])})")
    print(f"  queued->scheduled p50/p99 {result['queued_to_scheduled_p50_ms']:8.1f} / "
          f"{result['queued_to_scheduled_p99_ms']:.1f} ms  (includes waiting in the queue)")
    print(f"  naive in-memory placement {naive:10.1f}/s  -> persisted placement is "
          f"x{result['placed_per_s'] / naive:.2f} of it")
    goal = "MET" if result["placed_per_s"] >= 1000 else "NOT MET"
    print(f"  goal >= 1,000 placements/s (10x kube-scheduler's 100 pods/s): {goal}")

    if args.docker_sessions <= 0:  # placement only
        return
    print(f"\nsession start on Docker: {args.docker_sessions} sessions, request -> RUNNING")
    docker = asyncio.run(docker_bench(args.docker_sessions))
    if docker:
        print(f"  raw aiodocker create+start p50/p99 {docker['raw_p50_ms']:.1f} / "
              f"{docker['raw_p99_ms']:.1f} ms")
        print(f"  baikal request->RUNNING   p50/p99 {docker['stack_p50_ms']:.1f} / "
              f"{docker['stack_p99_ms']:.1f} ms")
        verdict = "MET" if docker["overhead_p50_ms"] <= 100 else "NOT MET"
        print(f"  overhead p50 {docker['overhead_p50_ms']:.1f} ms  (goal <= 100 ms: {verdict})")


if __name__ == "__main__":
    main()
