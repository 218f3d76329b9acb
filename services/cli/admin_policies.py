"""`baikal admin policy list|show|create|update|delete` for the three policy tiers."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from contracts.values import SLOT_NAMES
from services.cli.admin_client import CliError
from services.cli.admin_common import JsonFlag, WideFlag, emit, errors, gateway, reports_errors
from services.cli.output import slot_cells

app = typer.Typer(help="Resource policies (keypair, user and project tiers).",
                  no_args_is_help=True)
Tier = Annotated[str, typer.Option("--tier", "-t", help="keypair, user or project.")]
Sets = Annotated[list[str] | None, typer.Option(
    "--set", help="FIELD=VALUE for any policy field; VALUE is JSON or text (repeat).")]
SLOT_OPTIONS = {slot.replace(".", "_"): slot for slot in SLOT_NAMES}  # option → slot
# The named field options `create` and `update` share.
Cpu = Annotated[str | None, typer.Option(help="Cores, or 'unlimited'.")]
Mem = Annotated[str | None, typer.Option(help="GiB, or 'unlimited'.")]
CudaDevice = Annotated[str | None, typer.Option("--cuda-device")]
CudaShares = Annotated[str | None, typer.Option("--cuda-shares", help="fGPU.")]
MaxSessions = Annotated[int | None, typer.Option("--max-concurrent-sessions")]
IdleTimeout = Annotated[int | None, typer.Option("--idle-timeout", help="Seconds; 0 = never.")]


def _fields(sets: list[str] | None, **given: Any) -> dict[str, Any]:
    """The named options (slots go into total_resource_slots) plus --set pairs."""
    fields: dict[str, Any] = {}
    slots = {SLOT_OPTIONS[k]: v for k, v in given.items() if k in SLOT_OPTIONS and v is not None}
    if slots:
        fields["total_resource_slots"] = slots
    fields |= {k: v for k, v in given.items() if k not in SLOT_OPTIONS and v is not None}
    for pair in sets or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--set needs FIELD=VALUE, got {pair!r}")
        try:
            fields[key] = json.loads(raw)
        except ValueError:
            fields[key] = raw
    return fields


def _columns(tier: str) -> list[str]:
    return ["name", "references", "policy", "updated_at"] if tier != "keypair" else [
        "name", "references", *SLOT_NAMES,
        "max_concurrent_sessions", "idle_timeout", "updated_at"]


def _readable(policy: dict[str, Any]) -> dict[str, Any]:
    """A policy's fields with its slots resolved one by one (∞ unlimited, 0 none allowed)."""
    slots = slot_cells(policy)
    plain = {k: v for k, v in policy.items()
             if not (slots and k in ("total_resource_slots", "default_for_unspecified"))}
    return {**plain, **slots}


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """A policy reply for a field/value table: its fields beside its name, slots resolved."""
    return {**{k: v for k, v in row.items() if k != "policy"}, **_readable(row.get("policy", {}))}


def _warn_if_allows_nothing(policy: dict[str, Any]) -> None:
    slots = slot_cells(policy)
    if slots and all(value == "0" for value in slots.values()):
        errors.print("[yellow]warning:[/yellow] this policy allows no resource at all: every "
                     "slot is 0, so no session can start under it (name slots with --cpu, "
                     "--mem, ... or --set default_for_unspecified=unlimited)", highlight=False)


@app.command("list")
@reports_errors
def list_policies(ctx: typer.Context, tier: Tier = "keypair",
                  name_contains: str = typer.Option("", "--name"),
                  offset: int = typer.Option(0), limit: int = typer.Option(50),
                  as_json: bool = JsonFlag, wide: bool = WideFlag) -> None:
    """List policies with how many keypairs, users or projects use each."""
    params = {"name_contains": name_contains, "offset": offset, "limit": limit}
    with gateway(ctx) as gw:
        page = gw.call("GET", f"/resource-policies/{tier}", params=params)
    rows = [{**row, **_readable(row.get("policy", {}))} for row in page.get("items", [])]
    emit(page, as_json, _columns(tier), rows=rows, title=f"{tier} resource policies",
         wide=wide)


@app.command()
@reports_errors
def show(ctx: typer.Context, name: str, tier: Tier = "keypair",
         as_json: bool = JsonFlag) -> None:
    with gateway(ctx) as gw:
        row = gw.call("GET", f"/resource-policies/{tier}/{name}")
    emit(row if as_json else _flat(row), as_json, title=f"{tier} policy {name}")


@app.command()
@reports_errors
def create(
    ctx: typer.Context, name: str, tier: Tier = "keypair",
    cpu: Cpu = None, mem: Mem = None, cuda_device: CudaDevice = None,
    cuda_shares: CudaShares = None, max_concurrent_sessions: MaxSessions = None,
    idle_timeout: IdleTimeout = None,
    sets: Sets = None, as_json: bool = JsonFlag,
) -> None:
    """Create a policy (superadmin)."""
    body = {"name": name, **_fields(sets, cpu=cpu, mem=mem, cuda_device=cuda_device,
                                    cuda_shares=cuda_shares,
                                    max_concurrent_sessions=max_concurrent_sessions,
                                    idle_timeout=idle_timeout)}
    with gateway(ctx) as gw:
        created = gw.call("POST", f"/resource-policies/{tier}", body=body)
    emit(created if as_json else _flat(created), as_json, title="policy created")
    _warn_if_allows_nothing(created.get("policy", {}))


@app.command()
@reports_errors
def update(
    ctx: typer.Context, name: str, tier: Tier = "keypair",
    cpu: Cpu = None, mem: Mem = None, cuda_device: CudaDevice = None,
    cuda_shares: CudaShares = None, max_concurrent_sessions: MaxSessions = None,
    idle_timeout: IdleTimeout = None,
    sets: Sets = None, as_json: bool = JsonFlag,
) -> None:
    """Change a policy's fields (superadmin); the name never changes."""
    body = _fields(sets, cpu=cpu, mem=mem, cuda_device=cuda_device, cuda_shares=cuda_shares,
                   max_concurrent_sessions=max_concurrent_sessions, idle_timeout=idle_timeout)
    with gateway(ctx) as gw:
        updated = gw.call("PATCH", f"/resource-policies/{tier}/{name}", body=body)
    emit(updated if as_json else _flat(updated), as_json, title="policy updated")
    _warn_if_allows_nothing(updated.get("policy", {}))


@app.command()
@reports_errors
def delete(ctx: typer.Context, name: str, tier: Tier = "keypair",
           as_json: bool = JsonFlag) -> None:
    """Delete a policy (refused while anything uses it, inactive users included)."""
    with gateway(ctx) as gw:
        emit(gw.call("DELETE", f"/resource-policies/{tier}/{name}"), as_json,
             title="policy deleted")
