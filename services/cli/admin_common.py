"""What every `baikal admin ...` module shares: connection options, the gateway client,
error reporting, tables or JSON, and unique-prefix ids."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from services.cli.admin_client import CliError, GatewayClient, load_credentials
from services.cli.output import cell, make_console

console = make_console()
errors = make_console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")
JsonFlag = typer.Option(False, "--json", help="Print JSON (for scripts) instead of a table.")
WideFlag = typer.Option(False, "--wide", "-w",
                        help="Full ids and times instead of their short forms.")


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
         rows: list[dict[str, Any]] | None = None, title: str | None = None,
         wide: bool = False) -> None:
    """JSON as the gateway answered, or a table of `rows` (default: data's items) whose cells
    never break across lines (short ids and times unless `wide`)."""
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    if columns is None:  # one object: field / value
        table = Table("field", "value", title=title, show_header=False)
        for key, value in data.items():
            table.add_row(key, cell(value, wide=True))
        console.print(table)
        return
    items = rows if rows is not None else data.get("items", [])
    table = Table(title=title)
    for column in columns:
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    for item in items:
        table.add_row(*(cell(item.get(c), wide) for c in columns))
    console.print(table)
    if isinstance(data, dict) and "total" in data:
        shown = f"{data.get('offset', 0) + 1}-{data.get('offset', 0) + len(items)}"
        console.print(f"{shown if items else 'none'} of {data['total']}", style="dim")


def expand_id(gw: GatewayClient, path: str, field: str, given: str,
              variants: Sequence[dict[str, Any]] = ({},)) -> str:
    """A full id from a unique prefix of one (the short ids tables show), as `docker` does:
    looked up in the list at `path` (once per `variants` of its filters), bounded pages."""
    if len(given) >= 36:
        return given
    matches: set[str] = set()
    for params in variants:
        for page in range(MAX_PREFIX_PAGES):
            answer = gw.call("GET", path, params={**params, "offset": page * PREFIX_PAGE,
                                                  "limit": PREFIX_PAGE})
            items = answer.get("items", [])
            matches |= {str(i[field]) for i in items if str(i[field]).startswith(given)}
            if len(items) < PREFIX_PAGE:
                break
    return unique_prefix(given, matches)


def unique_prefix(given: str, candidates: set[str]) -> str:
    """The one candidate `given` begins; `given` itself when none does (the gateway then says
    it does not exist); refused when several do."""
    matches = {c for c in candidates if c.startswith(given)}
    if len(matches) == 1:
        return matches.pop()
    if not matches:
        return given
    raise CliError(f"{given!r} matches {len(matches)} ids; give more of it (--wide shows them)")


PREFIX_PAGE = 1000
MAX_PREFIX_PAGES = 10
