"""Storage files through the gateway, against `cp` of the same file in the same run, and the
first page of a folder holding 100,000 files.

    python -m bench.storage [--size-mib 1024] [--files 100000] [--rounds 3]
                            [--client curl --client cli] [--json]

Starts, in a temporary directory: a real nats-server, identity, quota, rbac, storage and the
gateway as processes (`python -m services.<svc>`, SQLite; `bench.gateway.Stack`). Bootstraps
the superadmin, creates a folder and then measures, `--rounds` times, each case timed on its own
in an order that moves each round (medians; the page cache warm, dirty pages written back
before each case), with the client's CPU (this process and its children) and the gateway's:

  cp                 `cp SOURCE <storage host>/copy`: coreutils 9.1 copies with one
                     `copy_file_range` call (one copy inside the kernel; the baseline of the
                     issue's goal)
  dd bs=1M           the same copy by read + write (two copies through user space)
  upload             PUT /folders/bench/file?path=big.bin of SOURCE
  download           GET of it, into a file
each transfer by two clients (`--client`): curl (C; no body digest, legacy signature) and
the CLI's own code (`services.cli.folder.send_file|receive_file`: httpx, the upload hashed
and signed over its digest, version 2), and through two gateways: `zero-copy` (as shipped:
uploads spliced from the socket into the file, downloads by `os.sendfile`) and `plain`
(a second gateway with `BAIKAL_GATEWAY_ZERO_COPY=false`: every byte through the app).
Then:
  first page         GET /folders/many/files?limit=1000 of a directory of `--files` files
                     (created on disk directly; listing picks the page's names, stats them)

Goals from the issue: upload and download ≥0.8 of `cp`'s throughput; first page ≤100 ms.
Figures measured on the development machine are in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.gateway import Stack
from services.cli.admin_client import BackendAISigner

MIB = 1024 * 1024
PASSWORD = "Bench-passw0rd!"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_source(path: Path, size: int) -> None:
    block = os.urandom(4 * MIB)
    with open(path, "wb") as out:
        for _ in range(size // len(block)):
            out.write(block)
        out.write(block[:size % len(block)])


def bootstrap(stack: Stack) -> dict[str, str]:
    import asyncio

    from contracts.envelope import Actor
    from contracts.identity import Subjects
    from services.runtime.bus import connect
    from services.runtime.client import BusClient

    async def go() -> dict[str, Any]:
        nc = await connect(f"nats://127.0.0.1:{stack.nats_port}", user="admin",
                           password=stack.passwords["admin"], name="bench-storage")
        root = await BusClient(nc, Actor(system="bootstrap"), timeout=30).command_or_raise(
            Subjects.BOOTSTRAP, {"email": "root@bench.baikal.test", "password": PASSWORD})
        await nc.close()
        return root

    return asyncio.run(go())


def folder(http: httpx.Client, name: str) -> dict[str, Any]:
    for _ in range(300):  # storage learns the superadmin from identity's stream
        answer = http.post("/folders", json={"name": name})
        if answer.status_code == 201:
            return dict(answer.json())
        time.sleep(0.1)
    raise RuntimeError(f"cannot create a folder: {answer.text}")


def curl(http: httpx.Client, method: str, path: str, local: Path) -> None:
    """A transfer by curl (C, streaming both ways): the gateway's cost, not the client's.
    curl reads an upload in 64 KiB pieces and hands a download to its writes in 16 KiB."""
    from contracts.signing import signed_headers

    auth: Any = http.auth
    headers = signed_headers(access_key=auth.access_key, secret_key=auth.secret_key,
                             method=method, path_with_query=path, host=http.base_url.netloc
                             .decode(), content_type="application/octet-stream")
    argv = ["curl", "-sS", "--fail-with-body", "-o", "/dev/null" if method == "PUT" else
            str(local), "-X", method, *(f for k, v in headers.items() for f in ("-H",
                                                                                f"{k}: {v}"))]
    argv += ["-H", "Expect:"]
    if method == "PUT":
        argv += ["-T", str(local)]
    subprocess.run([*argv, f"http://{http.base_url.netloc.decode()}{path}"], check=True)


def cli_client(http: httpx.Client, method: str, path: str, local: Path) -> None:
    """What `baikal folder upload|download` runs (httpx; an upload signed over its digest,
    so the file is hashed before it is sent and the gateway hashes what it receives)."""
    from services.cli.folder import receive_file, send_file

    folder, _, target = path.removeprefix("/folders/").partition("/file?path=")
    if method == "PUT":
        answer = send_file(http, folder, local, target, _ignore, _ignore)
        assert answer.status_code == 201, answer.text
    else:
        receive_file(http, folder, target, local, _ignore, _ignore)


def _ignore(_: Any) -> None:
    return None


def timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        stack = Stack(Path(tmp))
        try:
            stack.start(with_quota=True)
            for service in ("rbac", "storage"):
                stack.spawn(service, [sys.executable, "-m", f"services.{service}"],
                            stack.env(service))
                stack.wait_run_file(service)
            port = stack.start_gateway()
            plain_port = stack.start_gateway(1, BAIKAL_GATEWAY_ZERO_COPY="false")
            root = bootstrap(stack)
            auth = BackendAISigner(root["access_key"], root["secret_key"])
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600,
                              auth=auth) as http, httpx.Client(
                    base_url=f"http://127.0.0.1:{plain_port}", timeout=600,
                    auth=auth) as plain:
                http.put(f"/keypairs/{root['access_key']}/rate-limit",
                         json={"rate_limit": 1_000_000})
                gateways = {"zero-copy": (http, stack.processes["gateway"].pid),
                            "plain": (plain, stack.processes["gateway-1"].pid)}
                return measure(gateways, Path(tmp), args)
        finally:
            stack.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (the gateway's cost, whatever the load)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """This process's CPU and its finished children's (curl, cp, dd): the client's cost."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


class Runs:
    """Each case's wall seconds, client CPU and gateway CPU, one entry per round."""

    def __init__(self) -> None:
        self.runs: dict[str, list[tuple[float, float, float]]] = {}

    def time(self, case: str, call: Any, gateway_pid: int | None = None) -> None:
        os.sync()  # the last case's dirty pages are not written back during this one
        gateway_before = cpu_seconds(gateway_pid) if gateway_pid else 0.0
        client_before = own_cpu_seconds()
        wall = timed(call)
        client = own_cpu_seconds() - client_before
        gateway = cpu_seconds(gateway_pid) - gateway_before if gateway_pid else 0.0
        self.runs.setdefault(case, []).append((wall, client, gateway))

    def median(self, case: str, field: int = 0) -> float:
        return statistics.median(run[field] for run in self.runs[case])


CLIENTS = {"curl": curl, "cli": cli_client}


def measure(gateways: dict[str, tuple[httpx.Client, int]], tmp: Path,
            args: argparse.Namespace) -> dict[str, Any]:
    size = args.size_mib * MIB
    hosts = tmp / "data" / "vfolders"
    source = tmp / "source.bin"
    make_source(source, size)
    http = gateways["zero-copy"][0]
    folder(http, "bench")
    copy_target = hosts / "copy-baseline.bin"
    back = tmp / "back.bin"
    remote = "/folders/bench/file?path=big.bin"
    baselines = {"cp": ["cp", str(source), str(copy_target)],
                 "dd bs=1M": ["dd", f"if={source}", f"of={copy_target}", "bs=1M",
                              "status=none"]}
    # (name, client, method, gateway): baselines have neither client nor gateway.
    cases: list[tuple[str, Any, str, str | None]] = [(name, None, "", None) for name in baselines]
    for client_name in args.client:
        for gateway in gateways:
            cases += [(f"{client_name} upload {gateway}", CLIENTS[client_name], "PUT", gateway),
                      (f"{client_name} download {gateway}", CLIENTS[client_name], "GET",
                       gateway)]
    runs = Runs()
    for n in range(args.rounds):
        shift = n * 3 % len(cases)  # each round starts elsewhere: no place is favoured
        for name, client, method, mode in cases[shift:] + cases[:shift]:
            if mode is None:
                runs.time(name, lambda a=baselines[name]: subprocess.run(a, check=True))
                copy_target.unlink()
                continue
            via, pid = gateways[mode]
            local = source if method == "PUT" else back
            runs.time(name, lambda c=client, v=via, m=method, f=local: c(v, m, remote, f), pid)
            if method == "GET":
                assert back.stat().st_size == size
                back.unlink()
        log(f"round {n + 1}: " + ", ".join(f"{name} {runs.runs[name][-1][0]:.2f}s"
                                           for name, *_ in cases))
    cp, dd = runs.median("cp"), runs.median("dd bs=1M")
    result: dict[str, Any] = {"size_mib": args.size_mib, "rounds": args.rounds,
                              "load_average": [round(x, 1) for x in os.getloadavg()]}
    names = [name for name, *_ in cases]
    for name in names:
        wall = runs.median(name)
        result[name] = {"wall_s": round(wall, 3), "vs_cp": round(cp / wall, 2),
                        "vs_dd": round(dd / wall, 2),
                        "client_cpu_s": round(runs.median(name, 1), 3),
                        "gateway_cpu_s": round(runs.median(name, 2), 3),
                        "walls": [round(r[0], 2) for r in runs.runs[name]]}
    log(table(result, names))
    result.update(listing(http, hosts, args))
    return result


def table(result: dict[str, Any], names: list[str]) -> str:
    lines = ["| case | wall (median) | vs cp | vs dd bs=1M | client CPU | gateway CPU |",
             "|---|---|---|---|---|---|"]
    for name in names:
        r = result[name]
        lines.append(f"| {name} | {r['wall_s']:.2f} s | {r['vs_cp']:.2f} | {r['vs_dd']:.2f} "
                     f"| {r['client_cpu_s']:.2f} s | {r['gateway_cpu_s']:.2f} s |")
    return "\n".join(lines)


def listing(http: httpx.Client, hosts: Path, args: argparse.Namespace) -> dict[str, Any]:
    many = folder(http, "many")
    directory = hosts / many["folder_id"].replace("-", "")
    for n in range(args.files):
        os.close(os.open(directory / f"file-{n:06d}", os.O_CREAT | os.O_WRONLY, 0o600))
    small = [timed(lambda: http.get("/folders/bench/files", params={"limit": 1000}))
             for _ in range(5)]
    log(f"a listing of a 1-file folder: median {statistics.median(small) * 1000:.1f} ms")
    pages = [timed(lambda: http.get("/folders/many/files", params={"limit": 1000}))
             for _ in range(5)]
    return {"files": args.files,
            "first_page_ms_median": round(statistics.median(pages) * 1000, 1),
            "first_page_ms_min": round(min(pages) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--client", choices=list(CLIENTS), action="append",
                        help="curl and/or cli (the CLI's httpx code); default both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.client = args.client or list(CLIENTS)
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:24} {value}")


if __name__ == "__main__":
    main()
