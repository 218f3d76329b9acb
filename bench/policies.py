"""Quota benchmark: policy updates per second over the bus, and PolicyUpdated end-to-end
latency (command sent → a consumer in ANOTHER process received the event), p50/p99, beside
raw nats-py figures from the same run (core request/reply to a trivial responder, and a raw
JetStream publish → the same listener process).

    python -m bench.policies [--updates 2000] [--concurrency 16] [--policies 32]

Everything runs on 127.0.0.1 in a temporary directory and is cleaned up at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import trust  # noqa: F401 - sets the trust settings of this process
from services.cli.stack import free_port

ROOT = Path(__file__).resolve().parent.parent
RAW_SUBJECT = "bai.qry.bench.raw.echo.v1"  # the operator may publish queries
RAW_STREAM_SUBJECT = "bai.evt.quota.bench.raw.v1"  # lands in BAI_EVT_QUOTA like the events


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


# ---- the listener process ---------------------------------------------------------------------


async def listen(url: str, password: str, out: str) -> None:
    """Another process: records when each PolicyUpdated (by causation id) and each raw
    message arrives, and answers raw requests."""
    import nats

    nc = await nats.connect(url, user="bench", password=password, inbox_prefix="_INBOX_bench")
    sink = open(out, "a", buffering=1)  # noqa: SIM115 - closed on exit
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def on_event(msg: Any) -> None:
        now = time.time()
        event = json.loads(msg.data)
        key = event.get("causation_id") or event.get("raw_id")
        sink.write(json.dumps({"id": key, "t": now}) + "\n")

    async def on_raw(msg: Any) -> None:
        await msg.respond(msg.data)

    await nc.subscribe(RAW_SUBJECT, cb=on_raw)
    # New events as they are published (core NATS): no consumer to create.
    await nc.subscribe("bai.evt.quota.>", cb=on_event)
    sink.write(json.dumps({"id": "ready", "t": time.time()}) + "\n")
    await stop.wait()
    await nc.close()
    sink.close()


# ---- the run ---------------------------------------------------------------------------------


class Stack:
    def __init__(self) -> None:
        from eventsourcing.cryptography import AESCipher

        from contracts.principals import Principal
        from services.cli.natsconf import new_passwords, render
        from services.runtime.provision import provision_blocking

        self.dir = Path(tempfile.mkdtemp(prefix="baikal-bench-quota-"))
        self.passwords = new_passwords() | {"bench": secrets.token_urlsafe(16)}
        listener = (Principal("bench", publish=(RAW_STREAM_SUBJECT,),
                              subscribe=(RAW_SUBJECT, "bai.evt.quota.>", "_INBOX_bench.>")),
                    self.passwords["bench"])
        self.port = free_port()
        conf = self.dir / "nats.conf"
        conf.write_text(render(self.port, free_port(), self.dir / "js", self.passwords,
                               extra=[listener]))
        self.key = AESCipher.create_key(32)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.spawn("nats", [shutil.which("nats-server") or "nats-server", "-c", str(conf)])
        time.sleep(0.5)
        provision_blocking(self.url, self.passwords["provision"])

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        self.procs[name] = subprocess.Popen(argv, env=env, stdout=log, stderr=log, cwd=ROOT)
        log.close()

    def service(self, name: str) -> None:
        env = os.environ | {
            "BAIKAL_NATS_URL": self.url, "BAIKAL_NATS_USER": name,
            "BAIKAL_NATS_PASSWORD": self.passwords[name], "BAIKAL_DATA_DIR": str(self.dir),
            "BAIKAL_CIPHER_KEY": self.key, "BAIKAL_LOG_LEVEL": "WARNING",
            "BAIKAL_RELAY_POLL_SECONDS": "0.2"}
        self.spawn(name, [sys.executable, "-m", f"services.{name}"], env)

    def close(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def arrivals(path: Path) -> dict[str, float]:
    seen: dict[str, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            record = json.loads(line)
            seen.setdefault(record["id"], record["t"])
    return seen


async def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


async def drive(n: int, concurrency: int, call: Any) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker(w: int) -> None:
        for i in counter:
            started = time.perf_counter()
            await call(i, w)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return n / (time.perf_counter() - started), latencies


async def run(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    from contracts.envelope import Actor
    from contracts.identity import Subjects as IS
    from contracts.quota import Subjects as QS
    from services.runtime.bus import connect
    from services.runtime.client import BusClient

    stack.service("quota")
    stack.service("identity")
    events = stack.dir / "arrivals.jsonl"
    stack.spawn("listener", [sys.executable, "-m", "bench.policies", "--listen", stack.url,
                             stack.passwords["bench"], str(events)])
    nc = await connect(stack.url, user="admin", password=stack.passwords["admin"],
                       name="bench-quota")
    boot = BusClient(nc, Actor(system="bootstrap"), timeout=30)
    creds = await wait_for(lambda: _try(boot.command_or_raise(
        IS.BOOTSTRAP, {"email": "bench@example.com", "password": "Bench-passw0rd"},
        command_id="bootstrap")), 60, "identity")
    client = BusClient(nc, Actor(access_key=creds["access_key"]), timeout=30)
    await wait_for(lambda: _ok(client.query(QS.KEYPAIR_POLICY_GET, {"name": "default"})), 60,
                   "quota to know the superadmin")
    await wait_for(lambda: asyncio.sleep(0, "ready" in arrivals(events)), 30, "the listener")
    for p in range(args.policies):
        await client.command_or_raise(QS.KEYPAIR_POLICY_CREATE, {"name": f"bench-{p}"})

    raw_rate, raw_lat = await drive(args.updates, args.concurrency,
                                    lambda i, w: nc.request(RAW_SUBJECT, b"x" * 300, timeout=5))
    # The baseline publisher is the bench user (the operator may not publish events).
    raw_nc = await connect(stack.url, user="bench", password=stack.passwords["bench"],
                           name="bench-raw")
    js = raw_nc.jetstream()
    sent_raw: dict[str, float] = {}

    async def raw_publish(i: int, w: int) -> None:
        key = f"raw-{i}"
        sent_raw[key] = time.time()
        await js.publish(RAW_STREAM_SUBJECT, json.dumps({"raw_id": key}).encode())

    await drive(args.updates, args.concurrency, raw_publish)
    sent: dict[str, float] = {}

    async def update(i: int, w: int) -> None:
        command_id = str(uuid.uuid4())
        sent[command_id] = time.time()
        await client.command_or_raise(QS.KEYPAIR_POLICY_UPDATE, {
            "name": f"bench-{w % args.policies}", "max_concurrent_sessions": 1 + i % 100},
            command_id=command_id)

    rate, latencies = await drive(args.updates, args.concurrency, update)
    await asyncio.sleep(2.0)
    seen = arrivals(events)
    e2e = [seen[c] - t for c, t in sent.items() if c in seen]
    raw_e2e = [seen[k] - t for k, t in sent_raw.items() if k in seen]
    await raw_nc.close()
    await nc.close()
    return {"raw_rr_per_s": raw_rate, "raw_rr_p50_ms": pct(raw_lat, 0.5),
            "raw_rr_p99_ms": pct(raw_lat, 0.99), "raw_js_e2e_p50_ms": pct(raw_e2e, 0.5),
            "raw_js_e2e_p99_ms": pct(raw_e2e, 0.99), "updates_per_s": rate,
            "update_p50_ms": pct(latencies, 0.5), "update_p99_ms": pct(latencies, 0.99),
            "event_e2e_p50_ms": pct(e2e, 0.5), "event_e2e_p99_ms": pct(e2e, 0.99),
            "events_received": len(e2e), "updates_sent": len(sent)}


async def _try(coroutine: Any) -> Any:
    try:
        return await coroutine
    except Exception:  # noqa: BLE001 - not ready yet; the caller retries within its bound
        return None


async def _ok(coroutine: Any) -> bool:
    reply = await _try(coroutine)
    return bool(reply is not None and reply.ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--policies", type=int, default=32)
    parser.add_argument("--listen", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.listen:
        asyncio.run(listen(*args.listen))
        return
    stack = Stack()
    try:
        result = asyncio.run(asyncio.wait_for(run(stack, args), timeout=600))
    finally:
        stack.close()
    print(f"quota policy updates: {result['updates_sent']} updates, "
          f"concurrency {args.concurrency}, SQLite store, 2 processes + listener")
    print(f"  raw nats-py request/reply   {result['raw_rr_per_s']:9.1f}/s  "
          f"p50 {result['raw_rr_p50_ms']:.2f} ms  p99 {result['raw_rr_p99_ms']:.2f} ms")
    print(f"  policy update (accepted)    {result['updates_per_s']:9.1f}/s  "
          f"p50 {result['update_p50_ms']:.2f} ms  p99 {result['update_p99_ms']:.2f} ms  "
          f"(x{result['updates_per_s'] / result['raw_rr_per_s']:.3f} of raw)")
    print(f"  raw JetStream publish -> other process  p50 {result['raw_js_e2e_p50_ms']:.2f} ms"
          f"  p99 {result['raw_js_e2e_p99_ms']:.2f} ms")
    print(f"  PolicyUpdated command -> other process  p50 {result['event_e2e_p50_ms']:.2f} ms"
          f"  p99 {result['event_e2e_p99_ms']:.2f} ms  ({result['events_received']} received)")


if __name__ == "__main__":
    main()
