"""`baikal admin keypair issue|list|activate|deactivate|set-policy|set-rate-limit|limits`."""

from __future__ import annotations

import typer

from contracts.values import SLOT_NAMES
from services.cli.admin_client import CliError
from services.cli.admin_common import JsonFlag, WideFlag, emit, gateway, reports_errors
from services.cli.output import slot_cells

app = typer.Typer(help="Keypairs (API credentials).", no_args_is_help=True)
COLUMNS = ["access_key", "email", "is_active", "is_default", "resource_policy", "rate_limit",
           "created_at"]
SLOT_COLUMNS = list(SLOT_NAMES)  # of the keypair's policy


@app.command()
@reports_errors
def issue(ctx: typer.Context, email: str,
          resource_policy: str = typer.Option(None, "--resource-policy"),
          rate_limit: int = typer.Option(None, "--rate-limit", help="Requests per 15 minutes."),
          as_json: bool = JsonFlag) -> None:
    """Issue another keypair for a user; prints the secret key once."""
    body = {"email": email, "resource_policy": resource_policy, "rate_limit": rate_limit}
    with gateway(ctx) as gw:
        created = gw.call("POST", "/keypairs",
                          body={k: v for k, v in body.items() if v is not None})
    emit(created, as_json, title="keypair issued (the secret key is shown only now)")


@app.command("list")
@reports_errors
def list_keypairs(ctx: typer.Context,
                  status: str = typer.Option("active", help="active, inactive or all."),
                  email_contains: str = typer.Option("", "--email"),
                  offset: int = typer.Option(0), limit: int = typer.Option(50),
                  as_json: bool = JsonFlag, wide: bool = WideFlag) -> None:
    """List keypairs (never their secrets) with their policy's slots (∞ unlimited, 0 none)."""
    params = {"status": status, "email_contains": email_contains, "offset": offset,
              "limit": limit}
    with gateway(ctx) as gw:
        page = gw.call("GET", "/keypairs", params=params)
        if as_json:
            emit(page, True)
            return
        try:
            policies = gw.call("GET", "/resource-policies/keypair", params={"limit": 1000})
        except CliError:  # a caller who may not read policies sees keypairs without slots
            policies = {"items": []}
    slots = {p["name"]: slot_cells(p.get("policy", {})) for p in policies.get("items", [])}
    rows = [{**row, **slots.get(row.get("resource_policy", ""), {})}
            for row in page.get("items", [])]
    emit(page, False, [*COLUMNS, *SLOT_COLUMNS] if slots else COLUMNS, rows=rows, wide=wide)


def _change(ctx: typer.Context, method: str, path: str, as_json: bool, title: str,
            body: dict[str, object] | None = None) -> None:
    with gateway(ctx) as gw:
        emit(gw.call(method, path, body=body), as_json, title=title)


@app.command()
@reports_errors
def activate(ctx: typer.Context, access_key: str, as_json: bool = JsonFlag) -> None:
    _change(ctx, "POST", f"/keypairs/{access_key}/activate", as_json, "keypair activated")


@app.command()
@reports_errors
def deactivate(ctx: typer.Context, access_key: str, as_json: bool = JsonFlag) -> None:
    _change(ctx, "POST", f"/keypairs/{access_key}/deactivate", as_json, "keypair deactivated")


@app.command("set-policy")
@reports_errors
def set_policy(ctx: typer.Context, access_key: str, policy: str,
               as_json: bool = JsonFlag) -> None:
    """Assign a keypair resource policy."""
    _change(ctx, "PUT", f"/keypairs/{access_key}/resource-policy", as_json, "policy assigned",
            {"resource_policy": policy})


@app.command("set-rate-limit")
@reports_errors
def set_rate_limit(ctx: typer.Context, access_key: str, rate_limit: int,
                   as_json: bool = JsonFlag) -> None:
    """Requests allowed per rolling 15 minutes."""
    _change(ctx, "PUT", f"/keypairs/{access_key}/rate-limit", as_json, "rate limit set",
            {"rate_limit": rate_limit})


@app.command()
@reports_errors
def limits(ctx: typer.Context, access_key: str, as_json: bool = JsonFlag) -> None:
    """The keypair's effective limits (policy resolved, unlimited explicit)."""
    _change(ctx, "GET", f"/keypairs/{access_key}/effective-limits", as_json, "effective limits")
