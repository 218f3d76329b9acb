"""`baikal up`: run the whole stack on this machine until Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from contracts.envelope import Actor
from contracts.identity import Subjects
from services.cli.agents import write_nats_conf
from services.cli.output import make_console
from services.cli.stack import (
    AGENT,
    BOOTSTRAP,
    GATEWAY,
    SERVICES,
    Child,
    StackLayout,
    Supervisor,
    agent_env,
    gateway_env,
    nats_binary,
    new_superadmin_password,
    service_env,
    wait_healthy,
    write_private,
)
from services.runtime.bus import connect
from services.runtime.client import BusClient, BusError
from services.runtime.proofs import ProofSigner
from services.runtime.provision import provision_at

console = make_console()


async def wait_for_nats(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
            writer.close()
            return
        except (OSError, TimeoutError):
            await asyncio.sleep(0.1)
    raise TimeoutError(f"nats-server did not listen on 127.0.0.1:{port} within {timeout}s")


async def bootstrap_once(layout: StackLayout, config: dict[str, Any],
                         secrets_: dict[str, Any], email: str) -> dict[str, Any] | None:
    """Create the first superadmin unless this data dir already has one."""
    if layout.superadmin.exists():
        return None
    nc = await connect(f"nats://127.0.0.1:{config['nats_port']}", user="admin",
                       password=secrets_["nats"]["admin"], name="baikal-up")
    try:
        signer = ProofSigner(secrets_["signing"][BOOTSTRAP], config["stack_id"])
        client = BusClient(nc, Actor(system=BOOTSTRAP), timeout=30, signer=signer)
        password = new_superadmin_password()
        try:
            creds = await client.command_or_raise(
                Subjects.BOOTSTRAP, {"email": email, "password": password},
                command_id=f"bootstrap:{email}")
        except BusError as exc:
            if exc.code == "identity.system.already_bootstrapped":
                console.print("[yellow]a superadmin exists but superadmin.json is gone; "
                              "its credentials were printed at first start[/yellow]")
                return None
            raise
    finally:
        await nc.close()
    record = {**creds, "password": password}
    write_private(layout.superadmin, json.dumps(record, indent=2))
    return record


async def run_stack(data_dir: Path, store: str | None, nats_port: int, admin_email: str) -> int:
    layout = StackLayout(data_dir.resolve())
    layout.create()
    secrets_ = layout.load_secrets()  # registers the local agent at first start
    config = layout.load_config(
        nats_port, store, say=lambda line: console.print(f"[yellow]{line}[/yellow]"))
    layout.write_operator(config, secrets_)
    write_nats_conf(layout, config, secrets_)
    supervisor = Supervisor(console.print)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, supervisor.stopping.set)
    try:
        await start_children(layout, config, secrets_, supervisor)
        admin = await bootstrap_once(layout, config, secrets_, admin_email)
        print_ready(layout, config, admin)
        await supervisor.stopping.wait()
    finally:
        console.print("stopping…")
        await supervisor.stop()
        console.print("stopped")
    return 1 if supervisor.failed else 0


async def start_children(layout: StackLayout, config: dict[str, Any],
                         secrets_: dict[str, Any], supervisor: Supervisor) -> None:
    console.print(f"starting nats-server on 127.0.0.1:{config['nats_port']}")
    await supervisor.add(Child("nats-server", [nats_binary(), "-c", str(layout.nats_conf)],
                               {}, layout.logs / "nats-server.log"))
    await wait_for_nats(config["nats_port"])
    # The operator creates every stream (and durable, bucket) before any service starts:
    # services may not create or change them (contracts/principals.py).
    changed = await provision_at(f"nats://127.0.0.1:{config['nats_port']}",
                                 secrets_["nats"]["provision"])
    for line in changed:
        console.print(f"  provisioned: {line}")
    for service in SERVICES:
        since = time.time()
        console.print(f"starting {service}")
        await supervisor.add(Child(service, [sys.executable, "-m", f"services.{service}"],
                                   service_env(layout, config, secrets_, service),
                                   layout.logs / f"{service}.log"))
        info = await wait_healthy(layout, service, since)
        console.print(f"  {service} healthy on http://127.0.0.1:{info['http_port']}/health")
    since = time.time()
    console.print("starting agent 'local' (Docker when an engine answers, else processes)")
    await supervisor.add(Child(AGENT, [sys.executable, "-m", f"services.{AGENT}"],
                               agent_env(layout, config, secrets_),
                               layout.logs / f"{AGENT}.log"))
    info = await wait_healthy(layout, AGENT, since)
    runtime = info["health"]["checks"].get("runtime", {}).get("runtime", "?")
    console.print(f"  agent healthy (runtime {runtime})")
    since = time.time()
    console.print(f"starting {GATEWAY}")
    await supervisor.add(Child(GATEWAY, [sys.executable, "-m", f"services.{GATEWAY}"],
                               gateway_env(layout, config, secrets_),
                               layout.logs / f"{GATEWAY}.log"))
    await wait_healthy(layout, GATEWAY, since)


def print_ready(layout: StackLayout, config: dict[str, Any], admin: dict[str, Any] | None) -> None:
    console.print("\n[bold green]Baikal is ready.[/bold green]")
    console.print(f"  NATS       nats://127.0.0.1:{config['nats_port']}  "
                  f"(operator credentials {layout.operator}; `baikal bus env`)")
    console.print(f"  Monitor    http://127.0.0.1:{config['monitor_port']}/varz")
    console.print(f"  Store      {config['store']}  (data dir {layout.root})")
    console.print(f"  Gateway    http://127.0.0.1:{config['gateway_port']}  "
                  "(OpenAPI /openapi.json, docs /docs; `baikal admin ...` uses it)")
    if admin is not None:
        console.print("\n[bold]First superadmin — shown once, saved to "
                      f"{layout.superadmin} (0600):[/bold]")
        console.print(f"  email       {admin['email']}")
        console.print(f"  password    {admin['password']}")
        console.print(f"  access key  {admin['access_key']}")
        console.print(f"  secret key  {admin['secret_key']}")
    else:
        console.print(f"  Superadmin  see {layout.superadmin}")
    console.print("\nCtrl-C stops everything.  `baikal status` shows health.", highlight=False)
