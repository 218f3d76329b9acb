"""Composition root of the gateway: `python -m services.gateway` serves HTTP with uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from services.runtime.host import configure_logging

log = logging.getLogger(__name__)
STARTUP_TIMEOUT_SECONDS = 60.0


def bind(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def write_run_file(settings: GatewaySettings, port: int, started_at: float) -> Path:
    """Where `baikal status`, the stack supervisor and /info find this process."""
    run_dir = Path(settings.data_dir) / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"{settings.service}-{settings.instance}.json"
    info = {"service": settings.service, "pid": os.getpid(), "http_port": port,
            "http_host": settings.http_host, "started_at": started_at}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(path)
    return path


async def serve(settings: GatewaySettings,
                on_ready: Callable[[int], None] | None = None) -> None:
    """Serve until uvicorn is told to stop (SIGINT/SIGTERM in the main thread)."""
    started_at = time.time()
    sock = bind(settings.http_host, settings.http_port, settings.http_backlog)
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(create_app(settings), log_level=settings.log_level.lower(),
                            access_log=False, lifespan="on", backlog=settings.http_backlog,
                            server_header=False, timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started and not task.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if server.started:
        write_run_file(settings, port, started_at)
        log.info("gateway ready on http://%s:%s", settings.http_host, port)
        if on_ready is not None:
            on_ready(port)
    else:
        server.should_exit = True
    try:
        await task
    finally:
        with contextlib.suppress(OSError):
            sock.close()
    if not server.started:
        raise SystemExit("the gateway did not start (see the log above)")


def main() -> None:
    settings = GatewaySettings()
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
