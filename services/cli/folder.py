"""`baikal folder ls|upload|download|mkdir|mv|rm`: files in storage folders, streamed through
the gateway with progress bars (never whole in memory)."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from services.cli.admin_client import EXIT_UNAVAILABLE, CliError, check
from services.cli.admin_common import (
    JsonFlag,
    WideFlag,
    connection,
    emit,
    errors,
    gateway,
    reports_errors,
)
from services.cli.admin_folders import folder_path

app = typer.Typer(help="Files in storage folders (streamed through the gateway).",
                  no_args_is_help=True, callback=connection)
CHUNK = 1024 * 1024  # bytes per read of an upload's body
HASH_CHUNK = 256 * 1024  # one buffer, reused: it stays in the core's cache
RAW_CHUNK = 256 * 1024
MAX_CHUNKS = 64 * 1024 * 1024  # 16 TiB in 256 KiB chunks: the hashing loop's bound
LocalTarget = typer.Argument(None, help="Local file [the file's name].")


def progress_bar(quiet: bool) -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(),
                    DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                    console=errors, disable=quiet, transient=False)


@app.command("ls")
@reports_errors
def list_files(ctx: typer.Context, folder: str, path: str = typer.Argument(""),
               offset: int = typer.Option(0), limit: int = typer.Option(1000),
               as_json: bool = JsonFlag, wide: bool = WideFlag) -> None:
    """List a directory of a folder (sorted by name, paged)."""
    with gateway(ctx) as gw:
        page = gw.call("GET", folder_path(folder, "/files"),
                       params={"path": path, "offset": offset, "limit": limit})
    emit(page, as_json, ["name", "type", "size", "modified"], wide=wide)


def _chunks(source: Path, advance: Callable[[int], None]) -> Iterator[bytes]:
    with open(source, "rb", buffering=0) as handle:
        while chunk := handle.read(CHUNK):
            advance(len(chunk))
            yield chunk


def file_digest(source: Path, advance: Callable[[int], None]) -> str:
    """SHA-256 hex of a file, read in chunks into one buffer (never whole in memory)."""
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(HASH_CHUNK))
    with open(source, "rb", buffering=0) as handle:
        for _ in range(MAX_CHUNKS):
            n = handle.readinto(buffer)
            if not n:
                return digest.hexdigest()
            digest.update(buffer[:n])
            advance(n)
    raise CliError(f"{source} is larger than this client uploads")


def send_file(http: httpx.Client, folder: str, source: Path, target: str,
              hashed: Callable[[int], None], sent: Callable[[int], None]) -> httpx.Response:
    """PUT a local file (signature version 2 over its digest: one pass to hash, one to send).

    The Content-Length is announced (the file's size), so the gateway can take the body
    straight from the socket into the file (its zero-copy upload) and refuse one over the
    folder's limit before it is sent; the size is checked again after the body has been sent."""
    size = source.stat().st_size
    digest = file_digest(source, hashed)
    answer = http.put(folder_path(folder, "/file"), params={"path": target},
                      content=_chunks(source, sent),
                      headers={"content-type": "application/octet-stream",
                               "content-length": str(size), "x-baikal-content-sha256": digest},
                      timeout=httpx.Timeout(30, read=None, write=None))
    if source.stat().st_size != size:
        raise CliError(f"{source} changed while it was sent", EXIT_UNAVAILABLE)
    return answer


def raw_download_enabled() -> bool:
    """BAIKAL_CLI_RAW_DOWNLOAD (true unless 0/false/no): see `_receive_rest`."""
    return os.environ.get("BAIKAL_CLI_RAW_DOWNLOAD", "true").lower() not in {"0", "false",
                                                                             "no"}


def receive_file(http: httpx.Client, folder: str, path: str, partial: Path,
                 started: Callable[[int | None], None], received: Callable[[int], None],
                 raw: bool | None = None) -> None:
    """GET a file of a folder into `partial`, each piece written as it arrives (httpx's
    raw pieces: re-chunking them costs twice the CPU of the write); with `raw` (default:
    `raw_download_enabled()`), past the first piece straight from the socket."""
    with http.stream("GET", folder_path(folder, "/file"), params={"path": path},
                     timeout=httpx.Timeout(30, read=None)) as answer:
        if answer.status_code >= 400:
            answer.read()
            check(answer)
        size = int(answer.headers.get("content-length", "0")) or None
        started(size)
        pieces = answer.iter_raw()
        sock = _plain_socket(answer)
        with open(partial, "wb", buffering=0) as out:
            if (raw if raw is not None else raw_download_enabled()) and size and sock:
                first = next(pieces, b"")
                out.write(first)
                received(len(first))
                _receive_rest(sock, out, size - len(first), received)
                return
            for chunk in pieces:
                out.write(chunk)
                received(len(chunk))


def _plain_socket(answer: httpx.Response) -> socket.socket | None:
    """The response's TCP socket (httpx's `network_stream` extension) if the body is framed
    by its Content-Length alone and arrives unencrypted and unencoded; else None."""
    headers = answer.headers
    if "transfer-encoding" in headers or headers.get("content-encoding", "identity") != (
            "identity") or answer.http_version != "HTTP/1.1":
        return None
    stream = answer.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    return sock if type(sock) is socket.socket else None


def _receive_rest(sock: socket.socket, out: Any, left: int,
                  received: Callable[[int], None]) -> None:
    """The body's `left` last bytes read from the socket into one reused buffer, each piece
    written from it: one copy in, one out (httpx's h11 path copies each piece three times
    more: measured on 1 GiB, 1.65 s of CPU against 0.7 s).

    Sound because h11 hands out, as the first piece, every body byte it had buffered (one
    `Data` event takes all it holds) and reads nothing more until asked: past that piece
    the socket holds the rest. h11 never sees these bytes, so httpcore closes the connection
    when the response closes (it is not DONE) instead of reusing it."""
    buffer = memoryview(bytearray(RAW_CHUNK))
    while left > 0:
        n = sock.recv_into(buffer, min(RAW_CHUNK, left))
        if n == 0:
            raise httpx.RemoteProtocolError("the gateway closed the connection before the "
                                            "announced length")
        out.write(buffer[:n])
        left -= n
        received(n)


@app.command()
@reports_errors
def upload(ctx: typer.Context, folder: str, source: Path,
           path: str = typer.Argument(None, help="Where in the folder [the file's name]."),
           quiet: bool = typer.Option(False, "--quiet", "-q"),
           as_json: bool = JsonFlag) -> None:
    """Upload a local file into a folder."""
    if not source.is_file():
        raise CliError(f"{source} is not a file", 2)
    target = path or source.name
    with gateway(ctx) as gw, progress_bar(quiet) as progress:
        hashing = progress.add_task(f"# {target}", total=source.stat().st_size)
        sending = progress.add_task(f"↑ {target}", total=source.stat().st_size)
        try:
            answer = send_file(gw.http, folder, source, target,
                               lambda n: progress.advance(hashing, n),
                               lambda n: progress.advance(sending, n))
        except httpx.HTTPError as exc:
            raise CliError(f"upload interrupted: {exc}", EXIT_UNAVAILABLE) from None
        check(answer)
    emit(answer.json(), as_json, title="uploaded")


@app.command()
@reports_errors
def download(ctx: typer.Context, folder: str, path: str,
             target: Path = LocalTarget,
             quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:
    """Download a file of a folder (written to a temporary name, renamed when complete)."""
    local = target or Path(Path(path).name)
    partial = local.with_name(local.name + ".part")
    with gateway(ctx) as gw, progress_bar(quiet) as progress:
        task: list[Any] = []
        try:
            receive_file(gw.http, folder, path, partial,
                         lambda size: task.append(progress.add_task(f"↓ {path}", total=size)),
                         lambda n: progress.advance(task[0], n))
        except httpx.HTTPError as exc:
            partial.unlink(missing_ok=True)
            raise CliError(f"download interrupted: {exc}", EXIT_UNAVAILABLE) from None
    os.replace(partial, local)
    errors.print(f"saved {local}")


@app.command()
@reports_errors
def mkdir(ctx: typer.Context, folder: str, path: str, as_json: bool = JsonFlag) -> None:
    with gateway(ctx) as gw:
        emit(gw.call("POST", folder_path(folder, "/mkdir"), body={"path": path}), as_json,
             title="directory made")


@app.command("mv")
@reports_errors
def move(ctx: typer.Context, folder: str, path: str, target: str,
         as_json: bool = JsonFlag) -> None:
    """Rename or move a file or directory within the folder."""
    with gateway(ctx) as gw:
        emit(gw.call("POST", folder_path(folder, "/move-file"),
                     body={"path": path, "target": target}), as_json, title="moved")


@app.command("rm")
@reports_errors
def remove(ctx: typer.Context, folder: str, paths: list[str],
           recursive: bool = typer.Option(False, "--recursive", "-r"),
           as_json: bool = JsonFlag) -> None:
    with gateway(ctx) as gw:
        emit(gw.call("POST", folder_path(folder, "/delete-files"),
                     body={"paths": paths, "recursive": recursive}), as_json, title="deleted")
