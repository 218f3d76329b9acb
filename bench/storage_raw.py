"""The floor under `bench.storage`: what a 1 GiB copy and a 1 GiB loopback transfer cost on this
machine without the gateway, each beside `cp` in the same run.

    python -m bench.storage_raw [--size-mib 1024] [--rounds 3] [--json]

Cases, each timed on its own, in an order that moves each round (medians), dirty pages written
back before each, with the client's CPU (this process and its children) and the server's:

  cp                         coreutils' `cp` (9.1: one `copy_file_range`, one copy in the kernel)
  dd bs=1M, dd bs=128K       read + write through a buffer (2 copies; 128 KiB stays in cache)
  cat > /dev/null            reading the page cache alone
  download: sendfile → recv  a server process `os.sendfile`s the file; the client discards it
  download: → recv+write     … the client writes each piece to a file (1 MiB buffer)
  download: → splice         … the client splices socket → pipe → file
  upload: sendfile → splice  the client `os.sendfile`s; the server splices into a file
  curl GET → file            curl downloading from a bare HTTP server that `os.sendfile`s
  curl GET → /dev/null       the same, discarded
  curl PUT → splice          curl uploading (`-T`) to a bare HTTP server that splices to a file
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.storage import cpu_seconds, make_source, own_cpu_seconds

MIB = 1024 * 1024
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def _splice_into(sock: socket.socket, fd: int, left: int | None) -> int:
    """Socket → pipe → file until `left` bytes (None: until the peer closes)."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, MIB)
    moved = 0
    try:
        while left is None or moved < left:
            n = os.splice(sock.fileno(), write_end, MIB if left is None else
                          min(MIB, left - moved))
            if n == 0:
                break
            moved += n
            while n:
                n -= os.splice(read_end, fd, n)
    finally:
        os.close(read_end)
        os.close(write_end)
    return moved


def _send_file(sock: socket.socket, source: Path, size: int) -> None:
    with open(source, "rb") as handle:
        sent = 0
        while sent < size:
            sent += os.sendfile(sock.fileno(), handle.fileno(), sent, size - sent)


def serve(mode: str, source: Path, target: Path) -> None:
    """A server process: prints its port, then answers connections one at a time."""
    size = source.stat().st_size
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            if mode in ("http-sendfile", "http-splice"):
                head = conn.recv(65536, socket.MSG_PEEK)
                end = head.index(b"\r\n\r\n") + 4
                conn.recv(end)
            if mode == "sendfile":
                _send_file(conn, source, size)
            elif mode == "http-sendfile":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n"
                             b"\r\n" % size)
                _send_file(conn, source, size)
            else:
                length = None
                if mode == "http-splice":
                    length = next(int(line.split(b":")[1]) for line in head[:end].split(b"\r\n")
                                  if line.lower().startswith(b"content-length:"))
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    _splice_into(conn, fd, length)
                finally:
                    os.close(fd)
                conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close"
                             b"\r\n\r\n" if mode == "http-splice" else b"ok")


def _receive(port: int, target: Path | None, splice: bool) -> int:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if target else None
        try:
            if splice and fd is not None:
                return _splice_into(sock, fd, None)
            buffer = memoryview(bytearray(MIB))
            got = 0
            while n := sock.recv_into(buffer):
                got += n
                if fd is not None:
                    os.write(fd, buffer[:n])
            return got
        finally:
            if fd is not None:
                os.close(fd)


def _upload(port: int, source: Path) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        _send_file(sock, source, source.stat().st_size)
        sock.shutdown(socket.SHUT_WR)
        if sock.recv(2) != b"ok":
            raise RuntimeError("the server did not confirm the upload")


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-storage-raw-") as tmp:
        source, target = Path(tmp) / "source.bin", Path(tmp) / "target.bin"
        make_source(source, args.size_mib * MIB)
        servers: dict[str, tuple[subprocess.Popen[str], int]] = {}
        try:
            for mode in ("sendfile", "http-sendfile", "splice", "http-splice"):
                process = subprocess.Popen(
                    [sys.executable, "-m", "bench.storage_raw", "--serve", mode, str(source),
                     str(target)], stdout=subprocess.PIPE, text=True)
                assert process.stdout is not None
                servers[mode] = (process, int(process.stdout.readline()))
            return measure(args, source, target, servers)
        finally:
            for process, _ in servers.values():
                process.kill()
                process.wait()


def measure(args: argparse.Namespace, source: Path, target: Path,
            servers: dict[str, tuple[subprocess.Popen[str], int]]) -> dict[str, Any]:
    def command(*argv: str, stdout: Any = None) -> Callable[[], Any]:
        return lambda: subprocess.run(argv, check=True, stdout=stdout)

    def port(mode: str) -> int:
        return servers[mode][1]

    url = f"http://127.0.0.1:{port('http-sendfile')}/"
    cases: dict[str, tuple[Callable[[], Any], str | None]] = {
        "cp": (command("cp", str(source), str(target)), None),
        "dd bs=1M": (command("dd", f"if={source}", f"of={target}", "bs=1M", "status=none"),
                     None),
        "dd bs=128K": (command("dd", f"if={source}", f"of={target}", "bs=128K", "status=none"),
                       None),
        "cat > /dev/null": (command("cat", str(source), stdout=subprocess.DEVNULL), None),
        "download: sendfile → recv": (lambda: _receive(port("sendfile"), None, False),
                                      "sendfile"),
        "download: → recv+write": (lambda: _receive(port("sendfile"), target, False),
                                   "sendfile"),
        "download: → splice": (lambda: _receive(port("sendfile"), target, True), "sendfile"),
        "upload: sendfile → splice": (lambda: _upload(port("splice"), source), "splice"),
        "curl GET → file": (command("curl", "-sS", "-o", str(target), url), "http-sendfile"),
        "curl GET → /dev/null": (command("curl", "-sS", "-o", "/dev/null", url),
                                 "http-sendfile"),
        "curl PUT → splice": (command("curl", "-sS", "-T", str(source), "-H", "Expect:", "-o",
                                      "/dev/null", f"http://127.0.0.1:{port('http-splice')}/"),
                              "http-splice"),
    }
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in cases}
    names = list(cases)
    for n in range(args.rounds):
        shift = n * 3 % len(names)
        for name in names[shift:] + names[:shift]:
            call, server = cases[name]
            pid = servers[server][0].pid if server else None
            target.unlink(missing_ok=True)
            os.sync()
            server_before = cpu_seconds(pid) if pid else 0.0
            client_before, started = own_cpu_seconds(), time.perf_counter()
            call()
            wall = time.perf_counter() - started
            runs[name].append((wall, own_cpu_seconds() - client_before,
                               cpu_seconds(pid) - server_before if pid else 0.0))
    target.unlink(missing_ok=True)
    cp = statistics.median(r[0] for r in runs["cp"])
    result: dict[str, Any] = {"size_mib": args.size_mib, "rounds": args.rounds,
                              "load_average": [round(x, 1) for x in os.getloadavg()]}
    lines = ["| case | wall (median) | vs cp | client CPU | server CPU |", "|---|---|---|---|---|"]
    for name in names:
        wall = statistics.median(r[0] for r in runs[name])
        client = statistics.median(r[1] for r in runs[name])
        server_cpu = statistics.median(r[2] for r in runs[name])
        result[name] = {"wall_s": round(wall, 3), "vs_cp": round(cp / wall, 2),
                        "client_cpu_s": round(client, 3), "server_cpu_s": round(server_cpu, 3)}
        lines.append(f"| {name} | {wall:.2f} s | {cp / wall:.2f} | {client:.2f} s "
                     f"| {server_cpu:.2f} s |")
    print("\n".join(lines), file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", nargs=3, metavar=("MODE", "SOURCE", "TARGET"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], Path(args.serve[1]), Path(args.serve[2]))
        return
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else "")


if __name__ == "__main__":
    main()
