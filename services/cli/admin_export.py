"""`baikal export users|keypairs|policies|sessions -o FILE` (streamed CSV) and `baikal info`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.cli.admin_common import JsonFlag, connection, console, emit, gateway, reports_errors

app = typer.Typer(help="Export lists as CSV files (streamed; progress for long ones).",
                  no_args_is_help=True, callback=connection)
Output = Annotated[Path | None, typer.Option(
    "--output", "-o", help="File to write; its name must be letters, digits, '-', '_', '.' "
                           "(≤255). Default: <list>_<date>_<time>.csv here.")]
Status = Annotated[str, typer.Option(help="active, inactive or all.")]


def _export(ctx: typer.Context, what: str, path: str, params: dict[str, Any],
            output: Path | None) -> None:
    if output is not None:
        params = {**params, "filename": output.name}
    with gateway(ctx) as gw, Progress(
            TextColumn(f"exporting {what}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task(what, total=None)

        def advance(rows: int, total: int | None) -> None:
            progress.update(task, completed=rows, total=total)

        target = output or Path(f".{what}.csv.part")
        rows, size, name = gw.download(path, params, target, advance)
    if output is None:  # the server's default name: <list>_<date>_<time>.csv
        final = Path(name or f"{what}.csv")
        target.replace(final)
        target = final
    console.print(f"{rows} rows, {size} bytes → {target}")


@app.command()
@reports_errors
def users(ctx: typer.Context, output: Output = None, status: Status = "all") -> None:
    """Users (Active and Inactive): email, username, full name, description, active, domain,
    role, projects."""
    _export(ctx, "users", "/exports/users", {"status": status}, output)


@app.command()
@reports_errors
def keypairs(ctx: typer.Context, output: Output = None, status: Status = "all") -> None:
    """Keypairs (never secrets) with their policy's resource slots."""
    _export(ctx, "keypairs", "/exports/keypairs", {"status": status}, output)


@app.command()
@reports_errors
def policies(ctx: typer.Context, output: Output = None,
             tier: Annotated[str, typer.Option("--tier", "-t")] = "keypair") -> None:
    """Resource policies of one tier."""
    _export(ctx, f"{tier}-resource-policies", "/exports/resource-policies", {"tier": tier},
            output)


@app.command()
@reports_errors
def sessions(ctx: typer.Context, output: Output = None,
             status: Annotated[list[str] | None, typer.Option("--status")] = None) -> None:
    """Sessions (reference §8.1 columns)."""
    params = {"status": [s.upper() for s in status or []] or None}
    _export(ctx, "sessions", "/exports/sessions", params, output)


@reports_errors
def info(
    ctx: typer.Context,
    as_json: bool = JsonFlag,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", "-d")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint")] = None,
) -> None:
    """Versions and health of every service, NATS, event stores, license."""
    connection(ctx, data_dir, endpoint)
    with gateway(ctx) as gw:
        body = gw.call("GET", "/info")
    if as_json:
        emit(body, True)
        return
    console.print(f"[bold]{body['name']}[/bold] {body['version']}  API {body['api_version']}  "
                  f"license {body['license']}")
    nats = body.get("nats", {})
    console.print(f"NATS {nats.get('server_version')} at {nats.get('url')}  "
                  f"JetStream {'on' if nats.get('jetstream') else 'off'}")
    stores = body.get("event_store", {})
    console.print(f"event stores: {', '.join(stores.get('in_use') or ['?'])} "
                  f"(supported: {', '.join(stores.get('backends', []))})")
    emit(body, False, ["instance", "status", "version", "store", "source"],
         rows=body.get("services", []), title="services")
