"""Gateway throughput: signed reads and writes through HTTP, beside a bare ASGI endpoint.

    python -m bench.gateway [--seconds 5] [--concurrency 64] [--client raw|aiohttp] [--json]

Starts, in a temporary directory: a real nats-server (127.0.0.1, random port, the embedded
stack's auth config), identity and quota (`python -m services.<svc>`, SQLite), the gateway
(`python -m services.gateway`, uvicorn with httptools/uvloop when installed) and, for the
baseline, a bare ASGI app under the same uvicorn settings in its own process. Bootstraps the
superadmin, raises its keypair's rate limit out of the way, creates one user per worker, then
drives each phase for `--seconds` (after `--warmup`) with `--concurrency` requests in flight
from this process, every request signed anew as the Backend.AI SDK does:

  bare ASGI            GET /            a raw ASGI callable answering a small JSON body
  gateway auth only    GET /auth/whoami HMAC verified, keypair from the cache, no bus call;
                                        a caller route, served in front of FastAPI since
                                        2026-12-02 (FastAPI's with --gateway-env
                                        BAIKAL_GATEWAY_DIRECT_READS=false)
  gateway read         GET /users/{e}   + identity `users.get` query over NATS; a query route,
                                        served in front of FastAPI (services/gateway/direct.py)
  gateway write        PATCH /users/{e} + identity `user.update` command (event store commit)

The load generator (`--client`): `raw` (default) is a keep-alive HTTP/1.1 client on uvloop,
one connection per worker, ~25 µs of CPU per request; `aiohttp` is what the first figures
were taken with, ~150 µs per request. On 2 cores the load generator competes with what it
measures, so the lean one leaves the servers more of the machine (as wrk would); both are kept.

Prints a table (requests/s, p50/p99 ms, errors, server CPU per request, CPU of each process per
second of wall time; `other` = processes this run did not start: figures taken with `other`
well above 0 are pessimistic). Goal from the issue: ≥3,000 signed reads/s and ≥1,000 writes/s
on 2 cores.

Measured (2 cores, 64 in flight, 5 s phases, runs with `other` ≤ 4 %; "before" is the gateway
of 0bc9456 driven by this same file):

  raw client         bare ASGI /s   read /s      read p99  read µs CPU  read/bare  write /s
  before (3 runs)    30,344-30,378  2,007-2,152  76-83 ms  462-494      0.07       1,003-1,096
  after  (4 runs)    29,293-30,267  4,710-4,942  22-23 ms  169-176      0.16       1,008-1,083
  aiohttp client
  before (3 runs)     8,700-9,020   1,742-1,908  83-96 ms  494-538      0.20-0.21    902-973
  after  (3 runs)     8,895-9,078   3,162-3,318  32-33 ms  198-202      0.36       1,077-1,130

  ("gateway auth only", FastAPI-served: 3,239-3,424/s before, 3,777-3,996/s after.)
  With identity's cached store (140e01f), raw client, 2 runs: reads 4,933-5,104/s (p99 20-23
  ms), writes 1,443-1,480/s with the gateway at 79 % of a core (~540 µs per write).

Reads: ≥3,000/s with either client, on one gateway process at ~85 % of a core (raw client);
the server CPU per read went from ~490 to ~175 µs. Writes were bound by identity (~90 % of a
core at ~1,050/s); with identity faster, the gateway's ~550-600 µs per write (the FastAPI path:
body model, dependencies, command envelope) is what comes next. `--instances 2` (two
gateway processes) gave the same read throughput on 2 cores (4,796/s against 4,799/s with one):
the machine is saturated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import trust
from services.cli.stack import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Passw0rd!"
ROOT_EMAIL = "root@bench.baikal.test"
GOALS = {"gateway read": 3000.0, "gateway write": 1000.0}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine spent busy (Linux /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


# ---- the bare baseline ----------------------------------------------------------------------


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b'{"version":"v8.20240915"}'
    await send({"type": "http.response.start", "status": 200,  # as the gateway answers
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def serve_bare(port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                lifespan="off")


# ---- processes ------------------------------------------------------------------------------


@dataclass
class Stack:
    directory: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    nats_port: int = 0
    gateway_env: dict[str, str] = field(default_factory=dict)  # --gateway-env

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        with open(self.directory / f"{name}.log", "ab") as out:
            self.processes[name] = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)

    def env(self, service: str, **extra: str) -> dict[str, str]:
        from eventsourcing.cryptography import AESCipher

        env = {k: v for k, v in os.environ.items() if not k.startswith("BAIKAL_")}
        return env | {
            "BAIKAL_NATS_URL": f"nats://127.0.0.1:{self.nats_port}",
            "BAIKAL_NATS_USER": service, "BAIKAL_NATS_PASSWORD": self.passwords[service],
            "BAIKAL_DATA_DIR": str(self.directory / "data"),
            "BAIKAL_CIPHER_KEY": AESCipher.create_key(32), "BAIKAL_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1"} | trust.env() | extra

    def start(self, with_quota: bool) -> None:
        from services.cli.natsconf import new_passwords, render
        from services.runtime.provision import provision_blocking

        self.nats_port, self.passwords = free_port(), new_passwords()
        conf = self.directory / "nats.conf"
        conf.write_text(render(self.nats_port, free_port(), self.directory / "js",
                               self.passwords))
        binary = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
        self.spawn("nats-server", [binary, "-c", str(conf)])
        wait_for_port(self.nats_port, timeout=20)
        provision_blocking(f"nats://127.0.0.1:{self.nats_port}", self.passwords["provision"])
        for service in ["identity", *(["quota"] if with_quota else [])]:
            self.spawn(service, [sys.executable, "-m", f"services.{service}"],
                       self.env(service))
            self.wait_run_file(service)

    def start_gateway(self, instance: int = 0, **extra: str) -> int:
        port, name = free_port(), "gateway" if instance == 0 else f"gateway-{instance}"
        self.spawn(name, [sys.executable, "-m", "services.gateway"],
                   self.env("gateway", BAIKAL_HTTP_PORT=str(port),
                            BAIKAL_INSTANCE=str(instance), **{**self.gateway_env, **extra}))
        self.wait_run_file(name, f"gateway-{instance}.json")
        return port

    def start_bare(self) -> int:
        port = free_port()
        self.spawn("bare", [sys.executable, "-m", "bench.gateway", "--serve-bare", str(port)])
        wait_for_port(port, timeout=20)
        return port

    def wait_run_file(self, service: str, run_file: str | None = None,
                      timeout: float = 60) -> None:
        path = self.directory / "data" / "run" / (run_file or f"{service}-0.json")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[service].poll() is not None:
                raise RuntimeError(f"{service} exited; see {self.directory}/{service}.log")
            if path.exists():
                port = json.loads(path.read_text())["http_port"]
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                        return
                except OSError:
                    pass
            time.sleep(0.1)
        raise TimeoutError(f"{service} not healthy after {timeout}s")

    def close(self) -> None:
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


# ---- load -----------------------------------------------------------------------------------


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time, for `--client raw`.

    A load generator that costs a fraction of aiohttp's CPU per request, so on a small machine
    more of it is left to the processes measured. Reads responses with a Content-Length only
    (every phase's answers have one); anything else fails the request.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = self.buffer[:end].lower()
        start = head.find(b"\r\ncontent-length:")
        if start < 0:
            self._fail(ConnectionError("a response without Content-Length"))
            return
        value_end = head.find(b"\r\n", start + 2)
        length = int(head[start + 17:value_end if value_end >= 0 else None])
        if len(self.buffer) >= end + 4 + length:
            body, self.buffer = (self.buffer[end + 4:end + 4 + length],
                                 self.buffer[end + 4 + length:])
            self.waiter.set_result((int(head[9:12]), body))
            self.waiter = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("connection closed"))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.waiter = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        assert self.transport is not None and self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await asyncio.wait_for(self.waiter, 30)


def raw_request(method: str, path: str, host: str, headers: dict[str, str],
                payload: bytes | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}",
             *(f"{k}: {v}" for k, v in headers.items())]
    if payload is not None:
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (payload or b"")


@dataclass
class Phase:
    name: str
    ports: list[int]
    method: str
    paths: list[str]
    body: Any = None
    signed: bool = True


@dataclass
class Result:
    name: str
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        lat = sorted(self.latencies) or [0.0]
        pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2)  # noqa: E731
        servers = [v for k, v in self.cpu.items() if k.startswith(("gateway", "bare"))]
        per_request = sum(servers) / self.ok * 1e6 if self.ok else 0.0
        # Every process this run started but the load generator: the stack's whole cost.
        stack = sum(v for k, v in self.cpu.items() if k not in ("bench", "other"))
        return {"phase": self.name, "per_s": round(self.ok / self.wall, 1) if self.wall else 0,
                "server_cpu_us_per_request": round(per_request),
                "stack_cpu_us_per_request": round(stack / self.ok * 1e6) if self.ok else 0,
                "cpu_us_per_request": {k: round(v / self.ok * 1e6, 1) if self.ok else 0
                                       for k, v in self.cpu.items()},
                "ok": self.ok, "errors": self.errors, "p50_ms": pick(0.5), "p99_ms": pick(0.99),
                "cpu_percent": {k: round(v * 100 / self.wall) for k, v in self.cpu.items()
                                if k == "other" or v > 0.005 * self.wall}}


async def drive(phase: Phase, creds: dict[str, str], concurrency: int, seconds: float,
                warmup: float, pids: dict[str, int], client: str = "raw") -> Result:
    import aiohttp

    from contracts.signing import signed_headers

    result = Result(phase.name)
    payload = json.dumps(phase.body).encode() if phase.body is not None else None
    measuring = False
    stop_at = time.monotonic() + warmup + seconds
    loop = asyncio.get_running_loop()

    def headers_for(path: str, host: str) -> dict[str, str]:
        return signed_headers(access_key=creds["access_key"], secret_key=creds["secret_key"],
                              method=phase.method, path_with_query=path,
                              host=host) if phase.signed else {}

    async def send(path: str, host: str, session: aiohttp.ClientSession | None,
                   conn: Connection | None) -> int | str:
        headers = headers_for(path, host)
        try:
            if conn is not None:
                return (await conn.request(raw_request(phase.method, path, host, headers,
                                                       payload)))[0]
            assert session is not None
            async with session.request(phase.method, f"http://{host}{path}", data=payload,
                                       headers=headers) as answer:
                await answer.read()
                return answer.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return type(exc).__name__

    async def worker(path: str, port: int, session: aiohttp.ClientSession | None) -> None:
        host = f"127.0.0.1:{port}"
        conn = None
        if session is None:
            _, conn = await loop.create_connection(Connection, "127.0.0.1", port)
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            status = await send(path, host, session, conn)
            if conn is not None and conn.transport is not None and conn.transport.is_closing():
                _, conn = await loop.create_connection(Connection, "127.0.0.1", port)
            if not measuring:
                continue
            if status == 200:
                result.ok += 1
                result.latencies.append(time.perf_counter() - started)
            else:
                result.errors[str(status)] = result.errors.get(str(status), 0) + 1
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    session = (aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
               if client == "aiohttp" else None)
    try:
        tasks = [asyncio.create_task(worker(phase.paths[i % len(phase.paths)],
                                            phase.ports[i % len(phase.ports)], session))
                 for i in range(concurrency)]
        await asyncio.sleep(warmup)
        measuring = True
        cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
        busy0, t0 = busy_cpu_seconds(), time.perf_counter()
        await asyncio.gather(*tasks)
        result.wall = time.perf_counter() - t0
        result.cpu = {n: cpu_seconds(p) - cpu0[n] for n, p in pids.items()}
        result.cpu["other"] = max(0.0, busy_cpu_seconds() - busy0 - sum(result.cpu.values()))
    finally:
        if session is not None:
            await session.close()
    return result


def run_loop(coro: Any, client: str) -> Any:
    """uvloop for the raw client where installed (as the servers use); aiohttp as it always ran."""
    if client == "raw":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)


# ---- setup over the real API ----------------------------------------------------------------


async def setup(stack: Stack, port: int, users: int) -> tuple[dict[str, str], list[str]]:
    import aiohttp

    from contracts.envelope import Actor
    from contracts.identity import Subjects
    from contracts.signing import signed_headers
    from services.runtime.bus import connect
    from services.runtime.client import BusClient

    nc = await connect(f"nats://127.0.0.1:{stack.nats_port}", user="admin",
                       password=stack.passwords["admin"], name="bench-gateway")
    root = await BusClient(nc, Actor(system="bootstrap"), timeout=30).command_or_raise(
        Subjects.BOOTSTRAP, {"email": ROOT_EMAIL, "password": PASSWORD})
    await nc.close()
    host = f"127.0.0.1:{port}"

    async def call(session: aiohttp.ClientSession, method: str, path: str, body: Any) -> Any:
        headers = signed_headers(access_key=root["access_key"], secret_key=root["secret_key"],
                                 method=method, path_with_query=path, host=host)
        async with session.request(method, f"http://{host}{path}", json=body,
                                   headers=headers) as answer:
            assert answer.status < 300, await answer.text()
            return await answer.json()

    async with aiohttp.ClientSession() as session:
        await call(session, "PUT", f"/keypairs/{root['access_key']}/rate-limit",
                   {"rate_limit": 1_000_000})
        emails = [f"bench{i}@bench.baikal.test" for i in range(users)]
        for email in emails:  # argon2id per user: not measured
            await call(session, "POST", "/users", {"email": email, "password": PASSWORD,
                                                   "password_confirm": PASSWORD})
    return {"access_key": root["access_key"], "secret_key": root["secret_key"]}, emails


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'phase':<20} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
             f"{'µs CPU':>7} {'stack µs':>8}  CPU % by process (100 = one core)"]
    for r in rows:
        cpu = " ".join(f"{k} {v}" for k, v in r["cpu_percent"].items())
        lines.append(f"{r['phase']:<20} {r['per_s']:>9,.0f} {r['p50_ms']:>8} {r['p99_ms']:>8} "
                     f"{sum(r['errors'].values()):>7} {r['server_cpu_us_per_request']:>7} "
                     f"{r['stack_cpu_us_per_request']:>8}  {cpu}")
    lines.append("µs CPU: the HTTP server process's CPU per request (gateway or bare); stack µs: "
                 "every process this run started but the load generator (gateway, identity, "
                 "quota, nats-server); 'other' is every process not started by this run")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    stack = Stack(directory, gateway_env=dict(kv.split("=", 1) for kv in args.gateway_env))
    try:
        stack.start(with_quota=not args.no_quota)
        gateway, bare = stack.start_gateway(), stack.start_bare()
        creds, emails = asyncio.run(setup(stack, gateway, args.concurrency))
        reads, writes = [f"/users/{e}" for e in emails], {"full_name": "Bench Marked"}
        phases = [
            Phase("bare ASGI", [bare], "GET", ["/"], signed=False),
            Phase("gateway auth only", [gateway], "GET", ["/auth/whoami"]),
            Phase("gateway read", [gateway], "GET", reads),
            Phase("gateway write", [gateway], "PATCH", reads, body=writes),
        ]
        if args.instances > 1:  # scale-out: more gateway processes, the load spread over them
            ports = [gateway] + [stack.start_gateway(i) for i in range(1, args.instances)]
            label = f"x{args.instances}"
            phases += [Phase(f"gateway read {label}", ports, "GET", reads),
                       Phase(f"gateway write {label}", ports, "PATCH", reads, body=writes)]
        pids = {n: p.pid for n, p in stack.processes.items()} | {"bench": os.getpid()}
        rows = []
        for phase in phases:
            log(f"{phase.name}: {args.seconds}s with {args.concurrency} in flight")
            result = run_loop(drive(phase, creds, args.concurrency, args.seconds,
                                    args.warmup, pids, args.client), args.client)
            rows.append(result.row())
        return {"cores": len(os.sched_getaffinity(0)), "concurrency": args.concurrency,
                "client": args.client,
                "seconds": args.seconds, "phases": rows,
                "goals": {name: {"goal_per_s": goal, "best_per_s": max(
                    r["per_s"] for r in rows if r["phase"].startswith(name)), "met": any(
                    r["per_s"] >= goal and not r["errors"] for r in rows
                    if r["phase"].startswith(name))} for name, goal in GOALS.items()}}
    finally:
        stack.close()
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--no-quota", action="store_true", help="Run without the quota service.")
    parser.add_argument("--client", choices=("raw", "aiohttp"), default="raw",
                        help="Load generator: raw keep-alive HTTP/1.1 on uvloop (lean), or "
                             "aiohttp (the first figures were taken with it).")
    parser.add_argument("--instances", type=int, default=2,
                        help="Also measure reads/writes spread over N gateway processes.")
    parser.add_argument("--gateway-env", action="append", default=[], metavar="KEY=VALUE",
                        help="An environment variable for the gateway processes (repeatable), "
                             "e.g. BAIKAL_GATEWAY_DIRECT_READS=false.")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, table on stderr.")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    report = run(args)
    text = table(report["phases"])
    goals = ", ".join(f"{k} ≥{v['goal_per_s']:,.0f}/s: best {v['best_per_s']:,.0f}, "
                      f"{'met' if v['met'] else 'NOT met'}" for k, v in report["goals"].items())
    summary = f"{text}\n\ncores {report['cores']}; goals: {goals}"
    if args.json:
        print(summary, file=sys.stderr)
        print(json.dumps(report))
    else:
        print(summary)


if __name__ == "__main__":
    main()
