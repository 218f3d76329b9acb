"""`baikal bus env`: what a bus user needs to connect, without reading the source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from services.cli.admin_client import EXIT_USAGE
from services.cli.output import make_console
from services.cli.stack import StackLayout

app = typer.Typer(help="Talk to the bus directly (NATS): connection settings.",
                  no_args_is_help=True)
errors = make_console(stderr=True)
DataDir = typer.Option(Path(".baikal"), "--data-dir", "-d", help="Where the stack keeps state.")


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
    """Print the NATS URL, the operator's credentials file and the inbox prefix the server
    requires (`eval "$(baikal bus env)"` sets them in a shell)."""
    layout = StackLayout(data_dir.resolve())
    settings = operator_settings(layout)
    exported = {"BAIKAL_NATS_URL": settings["url"], "BAIKAL_NATS_USER": settings["user"],
                "BAIKAL_NATS_CREDENTIALS": str(layout.operator),
                "BAIKAL_NATS_INBOX_PREFIX": settings["inbox_prefix"]}
    if as_json:
        print(json.dumps(exported, indent=2))
        return
    print("# the operator's user and password are in BAIKAL_NATS_CREDENTIALS (JSON, 0600);")
    print("# replies come only to inboxes under BAIKAL_NATS_INBOX_PREFIX")
    for key, value in exported.items():
        print(f"export {key}={value}")
