"""`baikal admin session create|list|show|terminate` (the scheduler, via the gateway)."""

from __future__ import annotations

from typing import Annotated

import typer

from contracts.values import SlotName
from services.cli.admin_common import JsonFlag, WideFlag, emit, expand_id, gateway, reports_errors

app = typer.Typer(help="Compute sessions.", no_args_is_help=True)
COLUMNS = ["session_id", "name", "status", "reason", "access_key", "agent_id", "image"]


@app.command("list")
@reports_errors
def list_sessions(
    ctx: typer.Context,
    status: Annotated[list[str] | None, typer.Option("--status", help="Repeatable.")] = None,
    access_key: str = typer.Option(None, "--access-key"),
    offset: int = typer.Option(0), limit: int = typer.Option(50),
    as_json: bool = JsonFlag, wide: bool = WideFlag,
) -> None:
    params = {"status": [s.upper() for s in status or []] or None, "access_key": access_key,
              "offset": offset, "limit": limit}
    with gateway(ctx) as gw:
        emit(gw.call("GET", "/sessions", params=params), as_json, COLUMNS, wide=wide)


@app.command()
@reports_errors
def show(ctx: typer.Context, session_id: str, as_json: bool = JsonFlag) -> None:
    """One session with its status history."""
    with gateway(ctx) as gw:
        session_id = expand_id(gw, "/sessions", "session_id", session_id)
        emit(gw.call("GET", f"/sessions/{session_id}"), as_json, title=session_id)


@app.command()
@reports_errors
def terminate(ctx: typer.Context, session_id: str,
              reason: str = typer.Option("user-requested"), as_json: bool = JsonFlag) -> None:
    with gateway(ctx) as gw:
        session_id = expand_id(gw, "/sessions", "session_id", session_id)
        emit(gw.call("POST", f"/sessions/{session_id}/terminate", body={"reason": reason}),
             as_json, title="termination requested")


@app.command()
@reports_errors
def create(
    ctx: typer.Context,
    name: str,
    image: str = typer.Option("baikal/busybox:latest", help="A local image (no pulls)."),
    command: Annotated[list[str] | None, typer.Argument(help="Command and arguments.")] = None,
    cpu: str = typer.Option("1", help="CPU cores."),
    mem: str = typer.Option("256m", help="Memory: bytes or like 512m, 4g."),
    gpu: str = typer.Option(None, "--gpu", help="Whole GPUs (cuda.device)."),
    fgpu: str = typer.Option(None, "--fgpu", help="Fractional GPU (cuda.shares)."),
    batch: bool = typer.Option(False, "--batch", help="Ends when the command exits."),
    agent: str = typer.Option(None, help="Run on this agent only."),
    as_json: bool = JsonFlag,
) -> None:
    """Request a compute session (PENDING until the scheduler places it)."""
    slots = {SlotName.CPU: cpu, SlotName.MEM: mem}
    slots |= {SlotName.CUDA_DEVICE: gpu} if gpu else {}
    slots |= {SlotName.CUDA_SHARES: fgpu} if fgpu else {}
    body = {"name": name, "image": image, "command": command or [], "slots": slots,
            "session_type": "batch" if batch else "interactive", "agent": agent}
    with gateway(ctx) as gw:
        emit(gw.call("POST", "/sessions", body={k: v for k, v in body.items()
                                                 if v is not None}),
             as_json, title="session requested")
