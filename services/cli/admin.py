"""`baikal admin ...`: administration over the gateway (tables for people, --json for scripts).

Exit codes: 0 done, 1 refused (4xx), 2 usage, 3 no or refused credentials (401),
4 gateway or service unavailable (5xx, connection).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from services.cli.admin_client import CliError, GatewayClient, load_credentials

console = Console()
errors = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")
JsonFlag = typer.Option(False, "--json", help="Print JSON (for scripts) instead of a table.")


def connection(
    ctx: typer.Context,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", "-d", help="Stack data dir for fallback credentials [.baikal].")] = None,
    endpoint: Annotated[str | None, typer.Option(
        "--endpoint", help="Gateway URL (else BAIKAL_ENDPOINT).")] = None,
) -> None:
    """Connection options; a nested group keeps what an outer one set."""
    settings = ctx.ensure_object(dict)
    if data_dir is not None:
        settings["data_dir"] = data_dir
    if endpoint is not None:
        settings["endpoint"] = endpoint


@contextmanager
def gateway(ctx: typer.Context) -> Iterator[GatewayClient]:
    settings = ctx.obj or {}
    data_dir = Path(settings.get("data_dir") or ".baikal").resolve()
    credentials = load_credentials(data_dir, settings.get("endpoint"))
    client = GatewayClient(credentials, positions_file=(
        data_dir / "http-positions" if data_dir.is_dir() else None))
    try:
        yield client
    finally:
        client.close()


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """One line on stderr and the exit code, instead of a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CliError as exc:
            errors.print(f"[red]error:[/red] {escape(exc.message)}", highlight=False,
                         soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return run


def emit(data: Any, as_json: bool, columns: Sequence[str] | None = None,
         rows: list[dict[str, Any]] | None = None, title: str | None = None) -> None:
    """JSON as the gateway answered, or a table of `rows` (default: data's items)."""
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    if columns is None:  # one object: field / value
        table = Table("field", "value", title=title, show_header=False)
        for key, value in data.items():
            table.add_row(key, cell(value))
        console.print(table)
        return
    items = rows if rows is not None else data.get("items", [])
    table = Table(title=title)
    for column in columns:  # wrap long values (access keys, times) rather than cut them
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(*(cell(item.get(c)) for c in columns))
    console.print(table)
    if isinstance(data, dict) and "total" in data:
        shown = f"{data.get('offset', 0) + 1}-{data.get('offset', 0) + len(items)}"
        console.print(f"{shown if items else 'none'} of {data['total']}", style="dim")


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def build() -> typer.Typer:
    from services.cli import (
        admin_export,
        admin_keypairs,
        admin_policies,
        admin_roles,
        admin_sessions,
        admin_users,
    )

    admin_app = typer.Typer(help="Administration over the gateway (users, keypairs, policies, "
                                 "roles, sessions, exports, information).",
                            no_args_is_help=True,
                            callback=connection)
    admin_app.add_typer(admin_users.app, name="user")
    admin_app.add_typer(admin_keypairs.app, name="keypair")
    admin_app.add_typer(admin_policies.app, name="policy")
    admin_app.add_typer(admin_roles.app, name="role")
    admin_app.add_typer(admin_sessions.app, name="session")
    admin_app.add_typer(admin_export.app, name="export")
    admin_app.command("info")(admin_export.info)
    return admin_app
