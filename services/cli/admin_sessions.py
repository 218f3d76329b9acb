"""`baikal admin session list|show|terminate` (the scheduler, through the gateway)."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli.admin import JsonFlag, emit, gateway, reports_errors

app = typer.Typer(help="Compute sessions.", no_args_is_help=True)
COLUMNS = ["session_id", "name", "status", "reason", "access_key", "agent_id", "image"]


@app.command("list")
@reports_errors
def list_sessions(
    ctx: typer.Context,
    status: Annotated[list[str] | None, typer.Option("--status", help="Repeatable.")] = None,
    access_key: str = typer.Option(None, "--access-key"),
    offset: int = typer.Option(0), limit: int = typer.Option(50),
    as_json: bool = JsonFlag,
) -> None:
    params = {"status": [s.upper() for s in status or []] or None, "access_key": access_key,
              "offset": offset, "limit": limit}
    with gateway(ctx) as gw:
        emit(gw.call("GET", "/sessions", params=params), as_json, COLUMNS)


@app.command()
@reports_errors
def show(ctx: typer.Context, session_id: str, as_json: bool = JsonFlag) -> None:
    """One session with its status history."""
    with gateway(ctx) as gw:
        emit(gw.call("GET", f"/sessions/{session_id}"), as_json, title=session_id)


@app.command()
@reports_errors
def terminate(ctx: typer.Context, session_id: str,
              reason: str = typer.Option("user-requested"), as_json: bool = JsonFlag) -> None:
    with gateway(ctx) as gw:
        emit(gw.call("POST", f"/sessions/{session_id}/terminate", body={"reason": reason}),
             as_json, title="termination requested")
