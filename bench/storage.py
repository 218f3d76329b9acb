"""Storage files through the gateway, against `cp` of the same file in the same run, and the
first page of a folder holding 100,000 files.

    python -m bench.storage [--size-mib 1024] [--files 100000] [--json]

Starts, in a temporary directory: a real nats-server, identity, quota, rbac, storage and the
gateway as processes (`python -m services.<svc>`, SQLite; `bench.gateway.Stack`). Bootstraps
the superadmin, creates a folder and then measures, each timed on its own:

  cp                 `cp SOURCE <storage host>/copy` (the baseline: same disk, same run)
  upload             PUT /folders/bench/file, the body streamed from the file in 1 MiB chunks
  download           GET /folders/bench/file, streamed to a file in 1 MiB chunks: from the
                     gateway (zero-copy, `os.sendfile`) and from a second gateway started with
                     `BAIKAL_GATEWAY_ZERO_COPY=false` (reads and sends chunks), alternately,
                     `--rounds` times each (medians; the page cache is warm for both)
  first page         GET /folders/many/files?limit=1000 of a directory of `--files` files
                     (created on disk directly; listing sorts every name, stats one page)

Goals from the issue: upload and download ≥0.8 of `cp`'s throughput; first page ≤100 ms.
Figures measured on the development machine are in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


def chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(MIB):
            yield chunk


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
    """A transfer by curl (C, streaming both ways): the gateway's cost, not the client's."""
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


def python_client(http: httpx.Client, method: str, path: str, local: Path) -> None:
    """The same with httpx (what `baikal folder upload|download` uses)."""
    if method == "PUT":
        answer = http.put(path, content=chunks(local),
                          headers={"content-type": "application/octet-stream"})
        assert answer.status_code == 201, answer.text
        return
    with http.stream("GET", path) as answer, open(local, "wb") as out:
        assert answer.status_code == 200
        for chunk in answer.iter_bytes(MIB):
            out.write(chunk)


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
            chunked_port = stack.start_gateway(1, BAIKAL_GATEWAY_ZERO_COPY="false")
            root = bootstrap(stack)
            auth = BackendAISigner(root["access_key"], root["secret_key"])
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600,
                              auth=auth) as http, httpx.Client(
                    base_url=f"http://127.0.0.1:{chunked_port}", timeout=600,
                    auth=auth) as chunked:
                http.put(f"/keypairs/{root['access_key']}/rate-limit",
                         json={"rate_limit": 1_000_000})
                gateways = {"zero-copy": stack.processes["gateway"].pid,
                            "chunked": stack.processes["gateway-1"].pid}
                return measure(http, chunked, Path(tmp), args, gateways)
        finally:
            stack.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (the gateway's cost, whatever the load)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(http: httpx.Client, chunked: httpx.Client, tmp: Path, args: argparse.Namespace,
            gateways: dict[str, int]) -> dict[str, Any]:
    size = args.size_mib * MIB
    hosts = tmp / "data" / "vfolders"
    source = tmp / "source.bin"
    make_source(source, size)
    folder(http, "bench")
    copy_target = hosts / "cp-baseline.bin"
    cp = timed(lambda: subprocess.run(["cp", str(source), str(copy_target)], check=True))
    copy_target.unlink()

    client = curl if args.client == "curl" else python_client
    up = timed(lambda: client(http, "PUT", "/folders/bench/file?path=big.bin", source))
    downs: dict[str, list[float]] = {"zero-copy": [], "chunked": []}
    cpu: dict[str, list[float]] = {"zero-copy": [], "chunked": []}
    for n in range(args.rounds):
        order = (("zero-copy", http), ("chunked", chunked))
        for mode, via in order if n % 2 == 0 else order[::-1]:  # no place is favoured
            before = cpu_seconds(gateways[mode])
            downs[mode].append(timed(lambda v=via: client(
                v, "GET", "/folders/bench/file?path=big.bin", tmp / "back.bin")))
            cpu[mode].append(cpu_seconds(gateways[mode]) - before)
            assert (tmp / "back.bin").stat().st_size == size
            (tmp / "back.bin").unlink()
    down = statistics.median(downs["zero-copy"])
    down_chunked = statistics.median(downs["chunked"])
    log(f"{args.size_mib} MiB: cp {cp:.2f}s, upload {up:.2f}s, download {down:.2f}s "
        f"(chunked {down_chunked:.2f}s); gateway CPU per download "
        f"{statistics.median(cpu['zero-copy']):.2f}s (chunked "
        f"{statistics.median(cpu['chunked']):.2f}s)")

    many = folder(http, "many")
    directory = hosts / many["folder_id"].replace("-", "")
    for n in range(args.files):
        os.close(os.open(directory / f"file-{n:06d}", os.O_CREAT | os.O_WRONLY, 0o600))
    small = [timed(lambda: http.get("/folders/bench/files", params={"limit": 1000}))
             for _ in range(5)]
    log(f"a listing of a 1-file folder: median {statistics.median(small) * 1000:.1f} ms")
    pages = []
    for _ in range(5):
        pages.append(timed(lambda: http.get("/folders/many/files", params={"limit": 1000})))
    return {"client": args.client, "size_mib": args.size_mib, "cp_s": round(cp, 3),
            "upload_s": round(up, 3), "download_s": round(down, 3),
            "download_chunked_s": round(down_chunked, 3),
            "upload_vs_cp": round(cp / up, 2),
            "download_vs_cp": round(cp / down, 2),
            "download_chunked_vs_cp": round(cp / down_chunked, 2),
            "download_gateway_cpu_s": round(statistics.median(cpu["zero-copy"]), 3),
            "download_chunked_gateway_cpu_s": round(statistics.median(cpu["chunked"]), 3),
            "files": args.files,
            "first_page_ms_median": round(statistics.median(pages) * 1000, 1),
            "first_page_ms_min": round(min(pages) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--client", choices=["curl", "httpx"], default="curl")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:24} {value}")


if __name__ == "__main__":
    main()
