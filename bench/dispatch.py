"""Identity's dispatcher deciding `users.get` queries in-process (no bus): CPU per query and
the per-message cost of proof verification and of the causal wait (`Dispatcher.costs`).

    python -m bench.dispatch [--queries 20000] [--json]

A temporary SQLite store, the superadmin bootstrapped through the dispatcher; then each query
is a real envelope (the caller's token from identity's key, `after` naming identity's and
rbac's positions, as the gateway sends them) handed to `Dispatcher._decide`, which parses it,
verifies the proof, checks the positions, authorizes the read in a worker thread and writes
the reply. No replica is behind (those that decide permissions are registered as the host
does, already at the positions named), so the causal wait is what a request pays when it
need not wait. CPU per query is the process's CPU time (all threads) over the measured
rounds; it is far less sensitive to a busy machine than a throughput over the bus.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from statistics import quantiles
from typing import Any

from bench import trust


async def measure(queries: int, rounds: int = 4) -> dict[str, Any]:
    from contracts.envelope import Actor, Command
    from contracts.identity import Subjects
    from services.identity.main import IdentitySettings, build
    from services.runtime.proofs import ProofSigner
    from services.runtime.replica import StreamReplica

    host = build(IdentitySettings())
    dispatcher = host.dispatcher
    for component in host.components:  # as the host registers them when it starts
        if isinstance(component, StreamReplica) and component.decides_permissions:
            dispatcher.causal.setdefault(component.producer, []).append(component)
            component.applied = 10  # caught up with the positions the queries name
    signer = ProofSigner.from_env()
    assert signer is not None, trust.TRUST["BAIKAL_STACK_ID"]
    boot = Command(id="bench-boot", actor=Actor(system="bootstrap"),
                   data={"email": "root@bench.baikal.test", "password": "Passw0rd!"},
                   proof=signer.system_proof("bootstrap"))
    reply, _ = await dispatcher._decide(dispatcher.routes[Subjects.BOOTSTRAP],
                                        boot.model_dump_json().encode())
    access_key = json.loads(reply)["data"]["access_key"]
    token, _ = signer.user_token("", access_key, ttl=3600)
    route = dispatcher.routes[Subjects.USER_GET]
    messages = [json.dumps({
        "actor": {"access_key": access_key}, "correlation_id": os.urandom(16).hex(),
        "data": {"email": "root@bench.baikal.test"}, "proof": token,
        "after": {"identity": 1, "rbac": 1}}).encode() for _ in range(queries)]
    warm = min(500, queries // 10)
    for raw in messages[:warm]:
        _, outcome = await dispatcher._decide(route, raw)
        assert outcome == "accepted", outcome
    for samples in dispatcher.costs.values():
        samples.clear()
    per_round, size = [], (queries - warm) // rounds
    for i in range(rounds):
        part = messages[warm + i * size:warm + (i + 1) * size]
        started = time.process_time()
        for raw in part:
            await dispatcher._decide(route, raw)
        per_round.append((time.process_time() - started) / len(part) * 1e6)
    costs = {}
    for name, samples in dispatcher.costs.items():
        cuts = quantiles(sorted(samples), n=100)
        costs[name] = {"p50_us": round(cuts[49] * 1e6, 2), "p99_us": round(cuts[98] * 1e6, 2)}
    dispatcher._pool.shutdown()
    host.app.close()
    return {"queries": queries, "cpu_us_per_query": [round(x, 1) for x in per_round],
            "best_cpu_us_per_query": round(min(per_round), 1), "costs": costs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="bench-dispatch-")
    from eventsourcing.cryptography import AESCipher

    os.environ.update({"BAIKAL_DATA_DIR": directory, "BAIKAL_STORE": "sqlite",
                       "BAIKAL_CIPHER_KEY": AESCipher.create_key(32),
                       "BAIKAL_LOG_LEVEL": "WARNING"})
    try:
        report = asyncio.run(measure(args.queries))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    if args.json:
        print(json.dumps(report))
        return
    print(f"users.get decided in-process: {report['best_cpu_us_per_query']} µs CPU per query "
          f"(rounds {report['cpu_us_per_query']})")
    for name, cut in report["costs"].items():
        print(f"  {name:<7} p50 {cut['p50_us']} µs  p99 {cut['p99_us']} µs")


if __name__ == "__main__":
    main()
