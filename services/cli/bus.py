"""`baikal login` and `baikal bus ...`: a bus user's token and positions, and requests with them.

`baikal login` asks identity (`auth.bus-login`, email + password) for a token and keeps it,
with the highest positions seen, in `<data dir>/bus-session.json` (0600). `baikal bus command`
and `baikal bus query` send one message as that user: the token proves the actor, and the
positions make the request wait until the service has seen this user's earlier writes.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from contracts.envelope import Actor
from contracts.identity import Subjects
from services.cli.stack import StackLayout, write_private
from services.runtime.bus import connect
from services.runtime.client import BusClient, BusError

app = typer.Typer(help="Send commands and queries on the bus as the logged-in user.",
                  no_args_is_help=True)
errors = Console(stderr=True)
DataDir = typer.Option(Path(".baikal"), "--data-dir", "-d", help="Where the stack keeps state.")
SESSION_FILE = "bus-session.json"


def session_path(data_dir: Path) -> Path:
    return data_dir.resolve() / SESSION_FILE


async def _connect(layout: StackLayout) -> Any:
    config = json.loads(layout.config.read_text())
    secrets_ = json.loads(layout.secrets.read_text())
    return await connect(f"nats://127.0.0.1:{config['nats_port']}", user="admin",
                         password=secrets_["nats"]["admin"], name="baikal-cli")


async def login_on_bus(layout: StackLayout, email: str, password: str,
                       domain: str) -> dict[str, Any]:
    nc = await _connect(layout)
    try:
        client = BusClient(nc, Actor(), timeout=10, proof="")  # the login needs no proof
        reply = await client.query_or_raise(Subjects.BUS_LOGIN, {
            "email": email, "password": password, "domain": domain})
    finally:
        await nc.close()
    session = {**reply, "positions": {}}
    write_private(layout.root / SESSION_FILE, json.dumps(session, indent=2))
    return session


def load_session(data_dir: Path) -> dict[str, Any]:
    path = session_path(data_dir)
    if not path.is_file():
        raise typer.BadParameter(f"not logged in: run `baikal login` (no {path})")
    session: dict[str, Any] = json.loads(path.read_text())
    if session["expires_at"] <= time.time():
        raise typer.BadParameter("the bus token has expired: run `baikal login` again")
    return session


async def send(data_dir: Path, subject: str, data: dict[str, Any], command: bool
               ) -> dict[str, Any]:
    layout = StackLayout(data_dir.resolve())
    session = load_session(data_dir)
    nc = await _connect(layout)
    try:
        client = BusClient(nc, Actor(access_key=session["access_key"],
                                     user_id=session["user_id"]),
                           timeout=10, proof=session["token"], positions=session["positions"])
        reply = await (client.command(subject, data) if command
                       else client.query(subject, data))
    finally:
        await nc.close()
    if client.positions != session["positions"]:
        session["positions"] = client.positions
        write_private(layout.root / SESSION_FILE, json.dumps(session, indent=2))
    return reply.model_dump(exclude_none=True)


def _run(data_dir: Path, subject: str, body: str, command: bool) -> None:
    try:
        data = json.loads(body)
    except ValueError:
        raise typer.BadParameter("DATA must be a JSON object") from None
    try:
        reply = asyncio.run(send(data_dir, subject, data, command))
    except BusError as exc:
        errors.print(f"error: {exc}")
        raise typer.Exit(1) from None
    print(json.dumps(reply, indent=2, default=str))
    if reply.get("status") != "accepted":
        raise typer.Exit(1)


@app.command("command")
def command(subject: str, body: str = typer.Argument("{}", metavar="DATA"),
            data_dir: Path = DataDir) -> None:
    """Send a command (e.g. bai.cmd.identity.user.create.v1 '{"email": ...}')."""
    _run(data_dir, subject, body, command=True)


@app.command("query")
def query(subject: str, body: str = typer.Argument("{}", metavar="DATA"),
          data_dir: Path = DataDir) -> None:
    """Send a query (e.g. bai.qry.identity.users.list.v1 '{}')."""
    _run(data_dir, subject, body, command=False)


def login(
    email: str = typer.Option(..., "--email", help="The user's email."),
    password: str = typer.Option(..., "--password", prompt=True, hide_input=True,
                                 help="Prompted (hidden) when not given."),
    domain: str = typer.Option("default", "--domain"),
    data_dir: Path = DataDir,
) -> None:
    """Log in on the bus: keep the user's token (0600) for `baikal bus ...`."""
    layout = StackLayout(data_dir.resolve())
    try:
        session = asyncio.run(login_on_bus(layout, email, password, domain))
    except BusError as exc:
        errors.print(f"error: {exc}")
        raise typer.Exit(3) from None
    left = int(session["expires_at"] - time.time())
    print(f"logged in as {email} ({session['access_key']}); the token is valid {left}s, "
          f"kept in {layout.root / SESSION_FILE}")
