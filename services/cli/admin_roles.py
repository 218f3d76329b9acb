"""`baikal admin role create|update|deactivate|activate|purge|list|show|grant|revoke|assign|
unassign`: roles, their permissions and assignments (rbac, over the gateway)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from services.cli.admin_client import CliError, GatewayClient
from services.cli.admin_common import (
    JsonFlag,
    WideFlag,
    emit,
    expand_id,
    gateway,
    reports_errors,
    unique_prefix,
)
from services.cli.output import short

app = typer.Typer(help="Roles: create, update, (de)activate, purge, list, show; grant and revoke "
                       "permissions; assign and unassign users.", no_args_is_help=True)
ROLE_COLUMNS = ["role_id", "name", "source", "status", "scope", "description", "updated_at"]
Scopes = Annotated[list[str], typer.Option(
    "--scope", help="TYPE:ID with TYPE domain, project or user (repeat).")]


def _scope(text: str) -> dict[str, str]:
    scope_type, sep, scope_id = text.partition(":")
    if not sep or not scope_type or not scope_id:
        raise CliError(f"--scope needs TYPE:ID (e.g. domain:<id>), got {text!r}", 2)
    return {"scope_type": scope_type, "scope_id": scope_id}


def _user_ref(user: str) -> dict[str, list[str]]:
    return {"emails": [user]} if "@" in user else {"user_ids": [user]}


@app.command()
@reports_errors
def create(ctx: typer.Context, name: str, scope: Scopes,
           description: str = typer.Option(""), as_json: bool = JsonFlag) -> None:
    """Create a custom role; its scopes are fixed from then on."""
    body = {"name": name, "description": description, "scopes": [_scope(s) for s in scope]}
    with gateway(ctx) as gw:
        emit(gw.call("POST", "/roles", body=body), as_json, title="role created")


@app.command()
@reports_errors
def update(ctx: typer.Context, role_id: str, name: str = typer.Option(None),
           description: str = typer.Option(None), as_json: bool = JsonFlag) -> None:
    """Rename or describe a custom role."""
    body = {k: v for k, v in {"name": name, "description": description}.items()
            if v is not None}
    with gateway(ctx) as gw:
        role_id = _role(gw, role_id)
        emit(gw.call("PATCH", f"/roles/{role_id}", body=body), as_json, title="role updated")


@app.command()
@reports_errors
def deactivate(ctx: typer.Context, role_id: str, as_json: bool = JsonFlag) -> None:
    """Deactivate a role: its permissions stop counting at once."""
    with gateway(ctx) as gw:
        role_id = _role(gw, role_id)
        emit(gw.call("POST", f"/roles/{role_id}/deactivate"), as_json, title="role deactivated")


@app.command()
@reports_errors
def activate(ctx: typer.Context, role_id: str, as_json: bool = JsonFlag) -> None:
    """Reactivate a role."""
    with gateway(ctx) as gw:
        role_id = _role(gw, role_id)
        emit(gw.call("POST", f"/roles/{role_id}/activate"), as_json, title="role activated")


@app.command()
@reports_errors
def purge(ctx: typer.Context, role_id: str, as_json: bool = JsonFlag) -> None:
    """Purge an inactive role that has no permissions or assignments left (for good)."""
    with gateway(ctx) as gw:
        role_id = _role(gw, role_id)
        emit(gw.call("DELETE", f"/roles/{role_id}"), as_json, title="role purged")


@app.command("list")
@reports_errors
def list_roles(
    ctx: typer.Context,
    status: str = typer.Option("active", help="active or inactive."),
    name_contains: str = typer.Option("", "--name"),
    source: str = typer.Option(None, help="system or custom (default: both)."),
    sort: str = typer.Option("name", help="name, created_at or updated_at."),
    order: str = typer.Option("asc"),
    offset: int = typer.Option(0),
    limit: int = typer.Option(50),
    as_json: bool = JsonFlag,
    wide: bool = WideFlag,
) -> None:
    """List roles (the Active and Inactive tabs)."""
    params = {"status": status, "name_contains": name_contains, "source": source,
              "sort": sort, "order": order, "offset": offset, "limit": limit}
    with gateway(ctx) as gw:
        page = gw.call("GET", "/roles", params=params)
    rows = [{**r, "scope": _scope_cell(r, wide)} for r in page.get("items", [])]
    emit(page, as_json, ROLE_COLUMNS, rows=rows, title=f"{status} roles", wide=wide)


def _scope_cell(row: dict[str, Any], wide: bool) -> str:
    if not row.get("scope_type"):
        return ""
    more = f" +{row['more_scopes']}" if row.get("more_scopes") else ""
    return f"{row['scope_type']}:{short(str(row['scope_id']), wide)}{more}"


def _role(gw: GatewayClient, given: str) -> str:
    """A role id from a unique prefix (active and inactive roles)."""
    return expand_id(gw, "/roles", "role_id", given,
                     variants=({"status": "active"}, {"status": "inactive"}))


@app.command()
@reports_errors
def show(ctx: typer.Context, role_id: str,
         scope_type: str = typer.Option(None, "--scope-type", help="Only scopes of this type."),
         as_json: bool = JsonFlag, wide: bool = WideFlag) -> None:
    """One role: scopes, permissions and assigned users."""
    with gateway(ctx) as gw:
        role_id = _role(gw, role_id)
        role = gw.call("GET", f"/roles/{role_id}", params={"scope_type": scope_type})
    if as_json:
        emit(role, True)
        return
    parts = {k: role.pop(k, []) for k in ("scopes", "permissions", "assignments")}
    emit(role, False, title=role.get("name"))
    emit({}, False, ["scope_type", "scope_id", "target"], rows=parts["scopes"], title="scopes",
         wide=wide)
    emit({}, False, ["permission_id", "entity_type", "operation", "scope_type", "target"],
         rows=parts["permissions"], title="permissions", wide=wide)
    emit({}, False, ["email", "full_name", "user_id", "granted_at"], rows=parts["assignments"],
         title="assigned users", wide=wide)


@app.command()
@reports_errors
def grant(
    ctx: typer.Context,
    role_id: str,
    scope: Annotated[str, typer.Option("--scope", help="TYPE:ID, one of the role's scopes.")],
    entity: Annotated[str, typer.Option("--entity",
                                        help="Entity type, e.g. session or vfolder.")],
    op: Annotated[list[str], typer.Option(
        "--op", help="Operation, e.g. read or delegate-read (repeat).")],
    as_json: bool = JsonFlag,
) -> None:
    """Grant operations on an entity type at one of the role's scopes."""
    body = {**_scope(scope), "entity_type": entity, "operations": op}
    with gateway(ctx) as gw:
        role_id = _role(gw, role_id)
        emit(gw.call("POST", f"/roles/{role_id}/permissions", body=body), as_json,
             title="permissions granted")


@app.command()
@reports_errors
def revoke(ctx: typer.Context, role_id: str, permission_id: str,
           as_json: bool = JsonFlag) -> None:
    """Revoke one permission (ids, or their short forms, as `show` lists them)."""
    with gateway(ctx) as gw:
        role_id = _role(gw, role_id)
        if len(permission_id) < 36:
            held = gw.call("GET", f"/roles/{role_id}").get("permissions", [])
            permission_id = unique_prefix(permission_id,
                                          {str(p["permission_id"]) for p in held})
        emit(gw.call("DELETE", f"/roles/{role_id}/permissions/{permission_id}"), as_json,
             title="permission revoked")


@app.command()
@reports_errors
def assign(ctx: typer.Context, role_id: str,
           user: Annotated[list[str], typer.Argument(help="Emails or user ids.")],
           as_json: bool = JsonFlag) -> None:
    """Assign the role to users (a user holds a role at most once)."""
    body: dict[str, list[str]] = {"emails": [], "user_ids": []}
    for ref in user:
        for key, values in _user_ref(ref).items():
            body[key] += values
    with gateway(ctx) as gw:
        role_id = _role(gw, role_id)
        emit(gw.call("POST", f"/roles/{role_id}/assignments", body=body), as_json,
             title="role assigned")


@app.command()
@reports_errors
def unassign(ctx: typer.Context, role_id: str,
             user: str = typer.Argument(help="An email or a user id."),
             as_json: bool = JsonFlag) -> None:
    """Take the role from one user."""
    with gateway(ctx) as gw:
        role_id = _role(gw, role_id)
        emit(gw.call("DELETE", f"/roles/{role_id}/assignments/{user}"), as_json,
             title="role unassigned")
