"""`baikal admin recalculate-usage` and `baikal admin usage` (the scheduler, via the gateway)."""

from __future__ import annotations

from typing import Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.cli.admin_common import JsonFlag, cell, console, emit, gateway, reports_errors

DRIFT_COLUMNS = ("subject", "slot", "tracked", "actual", "cause")


@reports_errors
def recalculate_usage(
    ctx: typer.Context,
    stop_orphans: bool = typer.Option(None, "--stop-orphans/--keep-orphans",
                                      help="Stop containers with our labels and no session "
                                           "(default: the scheduler's setting)."),
    agent_timeout: float = typer.Option(2.0, help="Seconds each agent has to answer."),
    as_json: bool = JsonFlag,
) -> None:
    """Correct occupancy to what the agents really run (RECALCULATE USAGE, superadmin)."""
    body: dict[str, Any] = {"agent_timeout_seconds": agent_timeout}
    if stop_orphans is not None:
        body["stop_orphans"] = stop_orphans
    with gateway(ctx) as gw:
        if as_json:
            emit(gw.call("POST", "/resource/recalculate-usage", body=body), True)
            return
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task("replaying events, asking agents, correcting", total=None)
            result = gw.call("POST", "/resource/recalculate-usage", body=body)
            progress.update(task, total=1, completed=1)
    show_result(result)


def show_result(result: dict[str, Any]) -> None:
    table = Table(title="corrections", show_lines=False)
    for column in DRIFT_COLUMNS:
        table.add_column(column)
    for drift in result.get("drifts", []):
        table.add_row(*(cell(drift.get(c)) for c in DRIFT_COLUMNS))
    if result.get("drifts"):
        console.print(table)
    else:
        console.print("no drift: the ledgers match what runs", style="green")
    for orphan in result.get("orphans", []):
        console.print(f"orphan: session {orphan['session_id']} on {orphan['agent_id']} "
                      f"(container {orphan['container_id'][:12]})", style="yellow")
    if result.get("agents_unanswered"):
        console.print(f"did not answer (left as tracked): "
                      f"{', '.join(result['agents_unanswered'])}", style="red")
    summary = result.get("summary", {})
    console.print(f"{result.get('events_replayed', 0)} events replayed, "
                  f"{len(result.get('agents_asked', []))} agents asked, "
                  + ", ".join(f"{k} {v}" for k, v in summary.items())
                  + f" in {result.get('duration', 0):.3f}s", style="dim")


@reports_errors
def usage(ctx: typer.Context,
          kind: str = typer.Option(None, help="keypair, user, project, domain or agent."),
          as_json: bool = JsonFlag) -> None:
    """What each keypair, user, project, domain and agent occupies now."""
    with gateway(ctx) as gw:
        found = gw.call("GET", "/resource/usage", params={"kind": kind} if kind else None)
    if as_json:
        emit(found, True)
        return
    for name, rows in found.items():
        table = Table(title=name)
        table.add_column(name)
        table.add_column("occupied")
        for row in rows:
            table.add_row(row["key"], ", ".join(f"{k}={v}" for k, v in row["occupied"].items()))
        console.print(table)
