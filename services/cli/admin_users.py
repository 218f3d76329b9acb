"""`baikal admin user create|update|deactivate|activate|list|show`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from contracts.values import password_refusal
from services.cli.admin_client import EXIT_USAGE, CliError
from services.cli.admin_common import JsonFlag, WideFlag, emit, gateway, reports_errors

app = typer.Typer(help="Users: create, update, deactivate, activate, list, show.",
                  no_args_is_help=True)
USER_COLUMNS = ["email", "username", "full_name", "role", "status", "domain"]


def ask_password() -> str:
    """Asked twice, hidden; the seed's reasons (no input, no confirmation, not matching, the
    policy) are told here, before anything is sent."""
    password = typer.prompt("Password", default="", hide_input=True, show_default=False)
    confirm = typer.prompt("Repeat for confirmation", default="", hide_input=True,
                           show_default=False) if password else None
    refusal = password_refusal(password, confirm)
    if refusal is not None:
        raise CliError(f"{refusal.message} (user.{refusal.code}); nothing was sent",
                       exit_code=EXIT_USAGE)
    return password


@app.command()
@reports_errors
def create(
    ctx: typer.Context,
    email: str,
    password: str = typer.Option(None, help="≥8 characters with a letter, a digit and a "
                                 "symbol; asked twice, hidden, when not given."),
    username: str = typer.Option(None, help="Default: the email's local part."),
    full_name: str = typer.Option("", "--full-name"),
    description: str = typer.Option(""),
    role: str = typer.Option("user", help="user, admin, monitor or superadmin."),
    domain: str = typer.Option("default"),
    project: Annotated[list[str] | None, typer.Option(
        "--project", help="Project id or name (repeat).")] = None,
    resource_policy: str = typer.Option("default", "--resource-policy"),
    need_password_change: bool = typer.Option(False, "--need-password-change"),
    inactive: bool = typer.Option(False, "--inactive", help="Create it inactive."),
    as_json: bool = JsonFlag,
) -> None:
    """Create a user and its default keypair; prints the secret key once."""
    password = password if password is not None else ask_password()
    body: dict[str, Any] = {
        "email": email, "username": username, "full_name": full_name,
        "description": description, "password": password, "password_confirm": password,
        "role": role, "domain": domain, "projects": project or [],
        "resource_policy": resource_policy, "need_password_change": need_password_change,
        "status": "inactive" if inactive else "active"}
    with gateway(ctx) as gw:
        created = gw.call("POST", "/users", body={k: v for k, v in body.items() if v is not None})
    emit(created, as_json, title="user created (the secret key is shown only now)")


@app.command()
@reports_errors
def update(
    ctx: typer.Context,
    email: str,
    username: str = typer.Option(None),
    full_name: str = typer.Option(None, "--full-name"),
    description: str = typer.Option(None),
    password: str = typer.Option(None, help="New password (same policy as on create)."),
    role: str = typer.Option(None),
    status: str = typer.Option(None, help="active or inactive."),
    resource_policy: str = typer.Option(None, "--resource-policy"),
    need_password_change: bool = typer.Option(None, "--need-password-change/--no-need-"
                                                    "password-change"),
    project: Annotated[list[str] | None, typer.Option(
        "--project", help="Replace memberships (repeat).")] = None,
    as_json: bool = JsonFlag,
) -> None:
    """Change a user's fields; the email never changes."""
    body = {"username": username, "full_name": full_name, "description": description,
            "password": password, "password_confirm": password, "role": role,
            "status": status, "resource_policy": resource_policy,
            "need_password_change": need_password_change, "projects": project or None}
    with gateway(ctx) as gw:
        updated = gw.call("PATCH", f"/users/{email}",
                          body={k: v for k, v in body.items() if v is not None})
    emit(updated, as_json, title="user updated")


@app.command()
@reports_errors
def deactivate(ctx: typer.Context, email: str, as_json: bool = JsonFlag) -> None:
    """Deactivate a user: they cannot log in and all their keypairs are deactivated."""
    with gateway(ctx) as gw:
        emit(gw.call("POST", f"/users/{email}/deactivate"), as_json, title="user deactivated")


@app.command()
@reports_errors
def activate(ctx: typer.Context, email: str, as_json: bool = JsonFlag) -> None:
    """Reactivate a user; keypairs stay inactive until re-enabled one by one."""
    with gateway(ctx) as gw:
        emit(gw.call("POST", f"/users/{email}/activate"), as_json, title="user activated")


@app.command("list")
@reports_errors
def list_users(
    ctx: typer.Context,
    status: str = typer.Option("active", help="active, inactive or all."),
    email_contains: str = typer.Option("", "--email"),
    username_contains: str = typer.Option("", "--username"),
    domain: str = typer.Option(None),
    sort: str = typer.Option("email"),
    order: str = typer.Option("asc"),
    offset: int = typer.Option(0),
    limit: int = typer.Option(50),
    as_json: bool = JsonFlag,
    wide: bool = WideFlag,
) -> None:
    """List users (the Active and Inactive tabs)."""
    params = {"status": status, "email_contains": email_contains,
              "username_contains": username_contains, "domain": domain, "sort": sort,
              "order": order, "offset": offset, "limit": limit}
    with gateway(ctx) as gw:
        emit(gw.call("GET", "/users", params=params), as_json, USER_COLUMNS, wide=wide)


@app.command()
@reports_errors
def show(ctx: typer.Context, email: str, as_json: bool = JsonFlag,
         wide: bool = WideFlag) -> None:
    """One user with domain, projects and keypairs."""
    with gateway(ctx) as gw:
        user = gw.call("GET", f"/users/{email}")
    if as_json:
        emit(user, True)
        return
    keypairs = user.pop("keypairs", [])
    user["projects"] = ", ".join(p["name"] for p in user.get("projects", []))
    emit(user, False, title=email)
    emit({}, False, ["access_key", "is_active", "is_default", "resource_policy", "rate_limit"],
         rows=keypairs, title="keypairs", wide=wide)
