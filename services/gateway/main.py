"""Composition root of the gateway: `python -m services.gateway` serves HTTP with uvicorn."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn

from services.gateway.app import create_app
from services.gateway.sendfile import http_protocol
from services.gateway.settings import GatewaySettings
from services.runtime.host import process_edge, run_service

log = logging.getLogger(__name__)
STARTUP_TIMEOUT_SECONDS = 60.0


def write_run_file(settings: GatewaySettings, port: int, started_at: float) -> Path:
    """Where `baikal status`, the stack supervisor and /info find this process."""
    run_dir = Path(settings.data_dir) / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"{settings.service}-{settings.instance}.json"
    info = {"service": settings.service, "pid": os.getpid(), "http_port": port,
            "http_host": settings.http_host, "started_at": started_at,
            "tls": bool(settings.tls_cert_file)}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(path)
    return path


def tls_options(settings: GatewaySettings) -> dict[str, str]:
    """uvicorn's ssl options from BAIKAL_TLS_CERT_FILE and BAIKAL_TLS_KEY_FILE (both or none)."""
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        raise SystemExit("set both BAIKAL_TLS_CERT_FILE and BAIKAL_TLS_KEY_FILE, or neither")
    if not settings.tls_cert_file or not settings.tls_key_file:
        return {}
    return {"ssl_certfile": settings.tls_cert_file, "ssl_keyfile": settings.tls_key_file}


async def serve(settings: GatewaySettings,
                on_ready: Callable[[int], None] | None = None) -> None:
    """Serve until uvicorn is told to stop (SIGINT/SIGTERM in the main thread).

    uvicorn binds the port itself (0 = any; the run file says which): sockets it creates get
    TCP_NODELAY, without which every response waits ~40 ms for a delayed ACK. No proxy headers:
    the gateway trusts no X-Forwarded-* (and skips that layer on every request).
    """
    started_at = time.time()
    config = uvicorn.Config(create_app(settings), host=settings.http_host,
                            port=settings.http_port, log_level=settings.log_level.lower(),
                            access_log=False, lifespan="on", backlog=settings.http_backlog,
                            server_header=False, timeout_graceful_shutdown=10,
                            proxy_headers=False, **tls_options(settings),
                            http=http_protocol(settings.gateway_zero_copy,
                                               bool(settings.tls_cert_file)))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started and not task.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if server.started:
        # What start-up built (modules, routes, models, the bus connection) lives as long as the
        # process: out of the collector's sight, full collections stop walking it (p99 halves).
        gc.collect()
        gc.freeze()
        port = int(server.servers[0].sockets[0].getsockname()[1])
        write_run_file(settings, port, started_at)
        log.info("gateway ready on %s://%s:%s", "https" if settings.tls_cert_file else "http",
                 settings.http_host, port)
        if on_ready is not None:
            on_ready(port)
    else:
        server.should_exit = True
    await task
    if not server.started:
        raise SystemExit("the gateway did not start (see the log above)")


def main() -> None:
    settings = GatewaySettings()
    process_edge(settings)
    run_service(serve(settings), settings)


if __name__ == "__main__":
    main()
