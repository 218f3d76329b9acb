"""`baikal login` and `baikal bus ...`: how to connect, a bus user's token and positions, and
requests with them.

`baikal bus env` prints what a bus user needs to connect without reading the source: the NATS
URL, the operator's credentials file and the inbox prefix the server requires.

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

from contracts.asyncapi import document_json
from contracts.envelope import Actor
from contracts.identity import Subjects
from services.cli.admin_client import EXIT_USAGE
from services.cli.output import make_console
from services.cli.stack import StackLayout, write_private
from services.runtime.bus import connect
from services.runtime.client import BusClient, BusError

app = typer.Typer(help="The bus (NATS) directly: connection settings, and commands and queries "
                       "as the logged-in user.", no_args_is_help=True)
errors = make_console(stderr=True)
DataDir = typer.Option(Path(".baikal"), "--data-dir", "-d", help="Where the stack keeps state.")
SESSION_FILE = "bus-session.json"
OutputFile = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout.")


def session_path(data_dir: Path) -> Path:
    return data_dir.resolve() / SESSION_FILE


def operator_settings(layout: StackLayout) -> dict[str, Any]:
    """The operator's connection as `baikal up` last wrote it (operator.json, 0600)."""
    if not layout.operator.exists():
        errors.print(f"[red]error:[/red] {layout.operator} does not exist: run `baikal up` "
                     "with this data dir first", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    settings: dict[str, Any] = json.loads(layout.operator.read_text())
    return settings


@app.command()
def env(data_dir: Path = DataDir, as_json: bool = typer.Option(False, "--json")) -> None:
    """Print the NATS URL, the operator's credentials file, the inbox prefix the server
    requires and where `baikal login` keeps the token (`eval "$(baikal bus env)"`)."""
    layout = StackLayout(data_dir.resolve())
    settings = operator_settings(layout)
    exported = {"BAIKAL_NATS_URL": settings["url"], "BAIKAL_NATS_USER": settings["user"],
                "BAIKAL_NATS_CREDENTIALS": str(layout.operator),
                "BAIKAL_NATS_INBOX_PREFIX": settings["inbox_prefix"],
                "BAIKAL_BUS_SESSION": str(session_path(data_dir))}
    if as_json:
        print(json.dumps(exported, indent=2))
        return
    print("# the operator's user and password are in BAIKAL_NATS_CREDENTIALS (JSON, 0600);")
    print("# replies come only to inboxes under BAIKAL_NATS_INBOX_PREFIX; every message carries")
    print("# a proof of its actor: `baikal login` keeps one in BAIKAL_BUS_SESSION")
    for key, value in exported.items():
        print(f"export {key}={value}")


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


@app.command("docs")
def docs(output: Path | None = OutputFile) -> None:
    """Print the AsyncAPI 3.0 document of every bus subject (what the gateway serves at
    /asyncapi.json): payload schemas, replies, permissions and error codes."""
    if output is None:
        print(document_json())
    else:
        output.write_text(document_json() + "\n", encoding="utf-8")


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
