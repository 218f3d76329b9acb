"""identity + quota + rbac + gateway against a real nats-server, in a background thread.

The services and the gateway (uvicorn) share one event loop in a daemon thread, so a test talks
to the gateway over real HTTP with a plain synchronous httpx client.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from eventsourcing.cryptography import AESCipher

from contracts.envelope import Actor
from contracts.rbac import Subjects as RbacSubjects
from services.cli.admin_client import BackendAISigner
from services.gateway.app import create_app
from services.gateway.sendfile import http_protocol
from services.gateway.settings import GatewaySettings
from services.runtime.client import BusClient
from services.runtime.host import ServiceHost
from tests.support.identity import bootstrap, connect_as, start_identity
from tests.support.natsserver import NatsServer, start_nats
from tests.support.quota import start_quota
from tests.support.rbac import eventually as eventually_async
from tests.support.rbac import start_rbac
from tests.support.storage import start_storage

ROOT_PASSWORD = "Sup3r-secret!"


class GatewayStack:
    def __init__(self, directory: Path, scheduler: bool = False, agent: str | None = None,
                 wiretap: bool = False, **gateway_overrides: Any) -> None:
        self.directory = directory
        self.data = directory / "data"  # shared, as in `baikal up`: run files for /info
        self.with_scheduler = scheduler or agent is not None
        self.agent_runtime = agent  # also start one agent with this runtime ("process")
        self.agent: Any = None
        self.wiretap = wiretap  # the test-only NATS user that hears every `bai.>` message
        self.cipher_key = AESCipher.create_key(32)
        self.overrides = gateway_overrides
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="gateway-stack")
        self.nats: NatsServer | None = None
        self.hosts: list[ServiceHost] = []
        self.server: uvicorn.Server | None = None
        self._serving: asyncio.Future[Any] | None = None
        self.others: list[tuple[uvicorn.Server, asyncio.Future[Any]]] = []
        self.port = 0
        self.root: dict[str, Any] = {}

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> GatewayStack:
        self.nats = start_nats(self.directory / "nats", wiretap=self.wiretap)
        self.thread.start()
        self.run(self._start(), timeout=90)
        return self

    async def _start(self) -> None:
        assert self.nats is not None
        self.hosts.append(await start_quota(self.nats, self.data, self.cipher_key))
        self.hosts.append(await start_identity(self.nats, self.data, self.cipher_key))
        self.hosts.append(await start_rbac(self.nats, self.data, self.cipher_key))
        self.hosts.append(await start_storage(self.nats, self.data, self.cipher_key))
        if self.with_scheduler:
            self.hosts.append(await start_scheduler(self.nats, self.data, self.cipher_key))
        if self.agent_runtime is not None:
            from tests.support.agent import start_agent, unique_label_prefix

            self.agent = await start_agent(self.nats, self.directory / "agent",
                                           self.cipher_key, self.agent_runtime,
                                           unique_label_prefix())
        nc = await connect_as(self.nats, "admin")
        # The gateways' shared replay cache is provisioned with the streams (start_nats).
        self.root = await bootstrap(nc)
        # rbac learns users from identity's events: ready once it knows the superadmin
        root = BusClient(nc, Actor(access_key=self.root["access_key"]))
        await eventually_async(lambda: root.query(RbacSubjects.ROLE_LIST, {}),
                               lambda reply: reply.ok)
        await nc.close()
        await self.start_gateway()

    async def start_gateway(self) -> None:
        self.server, self._serving, self.port = await self._serve(create_app(self.settings()))

    def settings(self) -> GatewaySettings:
        assert self.nats is not None
        return GatewaySettings(
            nats_url=self.nats.url, nats_user="gateway",
            nats_password=self.nats.passwords["gateway"], data_dir=self.data,
            http_host="127.0.0.1", log_level="WARNING", **self.overrides)

    def another_gateway(self, settings: dict[str, Any] | None = None, **create_kw: Any) -> str:
        """One more gateway on the same bus (e.g. `direct=False`, or other `settings` such as
        `gateway_reply_splice=False`), stopped with the stack."""
        chosen = self.settings().model_copy(update=settings or {})
        server, serving, port = self.run(self._serve(create_app(chosen, **create_kw)))
        self.others.append((server, serving))
        return f"http://127.0.0.1:{port}"

    async def _serve(self, app: Any) -> tuple[uvicorn.Server, asyncio.Future[Any], int]:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        # As services.gateway.main configures it (no proxy headers, zero-copy downloads).
        zero_copy = self.overrides.get("gateway_zero_copy", True)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                access_log=False, lifespan="on", proxy_headers=False,
                                http=http_protocol(zero_copy, tls=False))
        server = uvicorn.Server(config)
        serving = asyncio.ensure_future(server.serve())
        for _ in range(400):
            if server.started:
                return server, serving, port
            if serving.done():
                serving.result()
            await asyncio.sleep(0.025)
        raise TimeoutError("the gateway did not start")

    async def stop_gateway(self) -> None:
        for server, serving in [*self.others, (self.server, self._serving)]:
            if server is not None:
                server.should_exit = True
                await asyncio.wait_for(serving, 15)
        self.server, self.others = None, []

    def stop(self) -> None:
        try:
            if self.thread.is_alive():
                self.run(self._stop(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            if self.nats is not None:
                self.nats.stop()

    async def _stop(self) -> None:
        await self.stop_gateway()
        if self.agent is not None:
            for live in self.agent.supervisor.view.running():  # leave no process behind
                await self.agent.supervisor.runtime.stop(live.container_id, 1)
            await self.agent.stop()
        for host in reversed(self.hosts):
            await host.stop()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop_service(self, name: str) -> None:
        """Stop one service (e.g. to see the gateway answer 503)."""
        host = next(h for h in self.hosts if h.settings.service == name)
        self.run(host.stop())
        self.hosts.remove(host)

    # ---- clients --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, access_key: str | None = None, secret_key: str | None = None,
               signed: bool = True) -> httpx.Client:
        auth = BackendAISigner(access_key or self.root["access_key"],
                               secret_key or self.root["secret_key"]) if signed else None
        return httpx.Client(base_url=self.url, auth=auth, timeout=15)


async def start_scheduler(server: NatsServer, data_dir: Path, cipher_key: str) -> ServiceHost:
    from services.scheduler.main import SchedulerSettings, build

    host, _ = build(SchedulerSettings(
        nats_url=server.url, nats_user="scheduler", nats_password=server.passwords["scheduler"],
        data_dir=data_dir, cipher_key=cipher_key, relay_poll_seconds=0.2, log_level="WARNING"))
    await host.start()
    return host


def eventually(call: Callable[[], Any], check: Callable[[Any], bool], attempts: int = 100,
               delay: float = 0.05) -> Any:
    import time

    result = None
    for _ in range(attempts):
        result = call()
        if check(result):
            return result
        time.sleep(delay)
    raise AssertionError(f"condition never held; last result: {result!r}")


def new_user(n: int | str, **overrides: Any) -> dict[str, Any]:
    data = {"email": f"user{n}@example.com", "password": "Passw0rd!",
            "password_confirm": "Passw0rd!", "full_name": f"User {n}"}
    return data | overrides
