"""Instructions per request of one process of the `bench.gateway` stack, under callgrind.

    python -m bench.callgrind gateway|identity [--phase read|write|auth] [--seconds 15]
                              [--gateway-env KEY=VALUE ...]

A busy shared machine moves CPU time per request by ±50 % from one run to the next; the number
of instructions a process executes per request (user space, counted by valgrind) barely moves,
so two trees compare on it where wall-clock figures cannot. Starts the stack of
`bench.gateway` (nats-server, identity, quota, gateway) with the chosen service under
`valgrind --tool=callgrind --instr-atstart=no`, creates 16 users, warms the phase up for 3 s
uninstrumented, then counts instructions while 16 requests are kept in flight for `--seconds`
(valgrind slows the process ~50x: a few thousand requests). Prints the instructions per
request. What it leaves out: the kernel's side (system calls) and the other processes.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench import gateway as bg

CONCURRENCY = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=("gateway", "identity"))
    parser.add_argument("--phase", choices=("read", "write", "auth"), default="read")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--gateway-env", action="append", default=[], metavar="KEY=VALUE",
                        help="An environment variable for the gateway (repeatable), as "
                             "bench.gateway's, e.g. BAIKAL_GATEWAY_ZERO_COPY_UPLOAD=false.")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind (with callgrind_control) is not installed")
    directory = Path(tempfile.mkdtemp(prefix="bench-callgrind-"))
    out = directory / "callgrind.out"
    stack = bg.Stack(directory, gateway_env=dict(kv.split("=", 1) for kv in args.gateway_env))
    spawn = stack.spawn

    def spawn_under_callgrind(name: str, argv: list[str], env: dict[str, str] | None = None
                              ) -> None:
        if name == args.service:
            argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                    f"--callgrind-out-file={out}", *argv]
        spawn(name, argv, env)

    stack.spawn = spawn_under_callgrind  # type: ignore[method-assign]
    wait = stack.wait_run_file
    stack.wait_run_file = (  # type: ignore[method-assign]
        lambda service, run_file=None, timeout=60: wait(service, run_file, 600))
    try:
        stack.start(with_quota=True)
        port = stack.start_gateway()
        creds, emails = asyncio.run(bg.setup(stack, port, CONCURRENCY))
        users = [f"/users/{e}" for e in emails]
        phase = {"read": bg.Phase("read", [port], "GET", users),
                 "write": bg.Phase("write", [port], "PATCH", users, body={"full_name": "X"}),
                 "auth": bg.Phase("auth", [port], "GET", ["/auth/whoami"])}[args.phase]
        pids = {n: p.pid for n, p in stack.processes.items()}
        pid = str(pids[args.service])
        bg.run_loop(bg.drive(phase, creds, CONCURRENCY, 3, 1.0, pids), "raw")  # warm-up
        control = ["callgrind_control", "-i", "on", pid]
        subprocess.run(control, check=True, capture_output=True, timeout=60)
        result = bg.run_loop(bg.drive(phase, creds, CONCURRENCY, args.seconds, 0.0, pids),
                             "raw")
        for command in (["-i", "off", pid], ["-d", pid]):
            subprocess.run(["callgrind_control", *command], check=True, capture_output=True,
                           timeout=60)
        time.sleep(2)  # the dump is written by the process itself
        instructions = sum(_totals(path) for path in directory.glob("callgrind.out*"))
        print(f"{args.service} {args.phase}: {result.ok} requests ({result.errors or 'no'} "
              f"errors), {instructions / max(result.ok, 1):,.0f} instructions per request")
    finally:
        stack.close()
        shutil.rmtree(directory, ignore_errors=True)


def _totals(path: Path) -> int:
    with path.open() as lines:
        for line in lines:
            if line.startswith("totals:"):
                return int(line.split()[1])
    return 0


if __name__ == "__main__":
    main()
