"""The `baikal` command: up, status, events, admin, export, info."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import typer
from rich.table import Table

from contracts import subjects
from services.cli import admin, admin_export, bus, folder
from services.cli.output import make_console
from services.cli.stack import StackLayout

app = typer.Typer(help="Baikal: control plane for GPU compute sessions.", no_args_is_help=True)
events_app = typer.Typer(help="Watch the event streams.", no_args_is_help=True)
app.add_typer(events_app, name="events")
agent_app = typer.Typer(help="Register node agents.", no_args_is_help=True)
app.add_typer(agent_app, name="agent")
app.add_typer(admin.build(), name="admin")
app.add_typer(admin_export.app, name="export")
app.add_typer(bus.app, name="bus")
app.add_typer(folder.app, name="folder")
app.command("info")(admin_export.info)
app.command("login")(bus.login)
console = make_console()

DataDir = typer.Option(Path(".baikal"), "--data-dir", "-d", help="Where the stack keeps state.")


@app.command()
def up(
    data_dir: Path = DataDir,
    store: str = typer.Option(None, help="'sqlite' (default) or a postgresql:// DSN."),
    nats_port: int = typer.Option(0, help="NATS port (first start; default 4222 if free)."),
    admin_email: str = typer.Option("admin@baikal.local", help="The first superadmin's email."),
) -> None:
    """Start nats-server and every service on this machine; Ctrl-C stops them."""
    from services.cli.up import run_stack

    raise typer.Exit(asyncio.run(run_stack(data_dir, store, nats_port, admin_email)))


@app.command()
def status(data_dir: Path = DataDir, as_json: bool = typer.Option(False, "--json")) -> None:
    """Print each service's health."""
    layout = StackLayout(data_dir.resolve())
    rows = []
    for run_file in sorted(layout.run.glob("*.json")) if layout.run.exists() else []:
        info = json.loads(run_file.read_text())
        url = f"http://{info['http_host']}:{info['http_port']}/health"
        try:
            answer = httpx.get(url, timeout=2.0)
            health = answer.json()
            state = health["status"]
        except (httpx.HTTPError, ValueError):
            health, state = {}, "down"
        rows.append({"service": info["service"], "pid": info["pid"], "status": state,
                     "health_url": url, "checks": health.get("checks", {})})
    if as_json:
        console.print_json(json.dumps(rows))
    else:
        table = Table("service", "pid", "status", "health")
        for row in rows:
            color = "green" if row["status"] == "ok" else "red"
            table.add_row(row["service"], str(row["pid"]), f"[{color}]{row['status']}[/]",
                          row["health_url"])
        console.print(table if rows else f"no services have run from {layout.root}")
    if not rows or any(row["status"] != "ok" for row in rows):
        raise typer.Exit(1)


@app.command()
def provision(
    data_dir: Path = DataDir,
    nats_url: str = typer.Option(None, help="Provision this server (default: the data dir's)."),
    replicas: int = typer.Option(1, min=1, max=5, help="Stream replicas (3 on a cluster)."),
) -> None:
    """Create or update every declared stream, durable and bucket (as the provisioner).

    `baikal up` does this itself; with compose, run it before the services start. The
    password comes from BAIKAL_PROVISION_PASSWORD, else from the data dir's secrets."""
    import os

    from services.runtime.provision import provision_at

    password = os.environ.get("BAIKAL_PROVISION_PASSWORD")
    layout = StackLayout(data_dir.resolve())
    if nats_url is None or password is None:
        if not layout.config.exists():
            console.print(f"[red]no stack in {layout.root}; give --nats-url and "
                          "BAIKAL_PROVISION_PASSWORD[/red]")
            raise typer.Exit(2)
        port = json.loads(layout.config.read_text())["nats_port"]
        nats_url = nats_url or f"nats://127.0.0.1:{port}"
        password = password or layout.load_secrets()["nats"]["provision"]
    changed = asyncio.run(provision_at(nats_url, password, replicas))
    for line in changed or ["everything already provisioned"]:
        console.print(line)


@agent_app.command("add")
def agent_add(agent_id: str = typer.Argument(..., help="The node's id, e.g. gpu-node-1."),
              data_dir: Path = DataDir) -> None:
    """Register a node agent: its own NATS user, which may do nothing but that node's job.
    Writes its credentials file (0600) and reloads a running nats-server."""
    from services.cli.agents import AgentRegistrationError, add_agent

    try:
        path, creds, reloaded = add_agent(StackLayout(data_dir.resolve()), agent_id)
    except AgentRegistrationError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"agent {agent_id!r} registered; credentials in {path} (0600)")
    console.print(f"  BAIKAL_AGENT_ID={agent_id} BAIKAL_NATS_USER={creds['nats_user']} "
                  f"BAIKAL_STACK_ID={creds['stack_id']} BAIKAL_NATS_PASSWORD=<in {path}>",
                  highlight=False)
    console.print("nats-server reloaded" if reloaded
                  else "nats-server is not running: the user exists from the next `baikal up`")


@events_app.command("tail")
def tail(
    data_dir: Path = DataDir,
    subject: str = typer.Option(subjects.ALL_EVENTS, help="Subject filter."),
    from_start: bool = typer.Option(False, "--from-start", help="Replay history first."),
    limit: int = typer.Option(0, help="Stop after this many events (0: until Ctrl-C)."),
    idle_exit: float = typer.Option(0.0, help="Stop after this many idle seconds (0: never)."),
) -> None:
    """Print events live from JetStream."""
    from services.cli.events import tail_events

    asyncio.run(tail_events(StackLayout(data_dir.resolve()), subject, from_start, limit,
                            idle_exit))


if __name__ == "__main__":
    app()
