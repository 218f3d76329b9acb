"""`baikal admin recalculate-usage` and `baikal admin usage` (the scheduler, via the gateway)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from services.cli.admin_client import CliError, GatewayClient
from services.cli.admin_common import JsonFlag, cell, console, emit, gateway, reports_errors

DRIFT_COLUMNS = ("subject", "slot", "tracked", "actual", "cause")
# The scheduler's stages (services/scheduler/recalc_progress.py STAGES) as the bars name them.
STAGES = {"replay": "replaying events", "agents": "asking agents", "compare": "comparing",
          "commit": "committing"}
POLL_SECONDS = 0.2
POLL_TIMEOUT = 2.0  # each status request; a slow one is skipped, the next poll asks again
MAX_POSTS = 30  # the gateway answers a long run with a timeout: ask again with the same key
RETRIED = ("service.timeout", "scheduler.usage.recalculation_timeout",
           "usage.recalculation_timeout")


@reports_errors
def recalculate_usage(
    ctx: typer.Context,
    stop_orphans: bool = typer.Option(None, "--stop-orphans/--keep-orphans",
                                      help="Stop containers with our labels and no session "
                                           "(default: the scheduler's setting)."),
    agent_timeout: float = typer.Option(2.0, help="Seconds each agent has to answer."),
    as_json: bool = JsonFlag,
) -> None:
    """Correct occupancy to what the agents really run (RECALCULATE USAGE, superadmin).

    Shows one bar per stage (replaying events k/N, asking agents k/M, comparing,
    committing) from the run's status, which it polls while the run goes on."""
    body: dict[str, Any] = {"agent_timeout_seconds": agent_timeout}
    if stop_orphans is not None:
        body["stop_orphans"] = stop_orphans
    key = f"cli-{uuid.uuid4()}"
    with gateway(ctx) as gw:
        if as_json:
            emit(_post(gw, body, key), True)
            return
        with gateway(ctx) as watcher:
            result = _with_progress(gw, watcher, body, key)
    show_result(result)


def _post(gw: GatewayClient, body: dict[str, Any], key: str) -> dict[str, Any]:
    for attempt in range(MAX_POSTS):
        try:
            found: dict[str, Any] = gw.call("POST", "/resource/recalculate-usage", body=body,
                                            headers={"Idempotency-Key": key})
            return found
        except CliError as exc:
            if attempt + 1 == MAX_POSTS or not exc.message.startswith(RETRIED):
                raise
    raise AssertionError("unreachable")


def _with_progress(gw: GatewayClient, watcher: GatewayClient, body: dict[str, Any],
                   key: str) -> dict[str, Any]:
    outcome: dict[str, Any] = {}

    def post() -> None:
        try:
            outcome["result"] = _post(gw, body, key)
        except CliError as exc:
            outcome["error"] = exc

    runner = threading.Thread(target=post, name="recalculate-usage", daemon=True)
    bars = _Bars()
    with bars:
        runner.start()
        while runner.is_alive():  # bounded by the POST's own timeouts and retries
            bars.show(_status(watcher, key))
            runner.join(POLL_SECONDS)
        bars.show(_status(watcher, key), final="result" in outcome)
    if "error" in outcome:
        raise outcome["error"]
    result: dict[str, Any] = outcome["result"]
    return result


def _status(watcher: GatewayClient, key: str) -> dict[str, Any]:
    try:
        found: dict[str, Any] = watcher.call("GET", f"/resource/recalculate-usage/{key}",
                                             timeout=POLL_TIMEOUT)
        return found
    except CliError:
        return {}  # not known yet, or slow: the next poll asks again


class _Bars:
    """Bars on a terminal; elsewhere (a pipe, a log) one line per stage as it completes."""

    def __init__(self) -> None:
        self.live = console.is_terminal
        self.progress = Progress(TextColumn("{task.description:<18}"), BarColumn(),
                                 MofNCompleteColumn(), console=console, transient=False,
                                 disable=not self.live)
        self.tasks: dict[str, TaskID] = {}
        self.printed: set[str] = set()

    def __enter__(self) -> _Bars:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def show(self, status: dict[str, Any], final: bool = False) -> None:
        stages = {s["stage"]: s for s in status.get("stages", [])}
        current = status.get("stage")
        for stage, label in STAGES.items():
            found = stages.get(stage)
            if found is None:
                continue
            done, total = int(found["done"]), int(found["total"])
            complete = (final or status.get("finished") or stage != current) and \
                done >= total
            if self.live:
                if stage not in self.tasks:
                    self.tasks[stage] = self.progress.add_task(label, total=total or None)
                if complete and total == 0:  # nothing to do in it (no agent alive): done
                    done = total = 1
                self.progress.update(self.tasks[stage], completed=done, total=total or None)
            elif complete and stage not in self.printed:
                self.printed.add(stage)
                console.print(f"{label}: {done}/{total}", highlight=False)


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
