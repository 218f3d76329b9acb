"""`baikal admin folder create|list|show|usage|rename|set-permission|share|unshare|invite|
invitations|accept|reject|cancel|delete|restore|purge|hosts`."""

from __future__ import annotations

from urllib.parse import quote

import typer

from services.cli.admin_common import JsonFlag, WideFlag, emit, gateway, reports_errors

app = typer.Typer(help="Storage folders (user and group), invitations, the trash.",
                  no_args_is_help=True)
COLUMNS = ["name", "permission_label", "ownership", "host", "usage_mode", "creator", "status",
           "folder_id"]
INVITATION_COLUMNS = ["invitation_id", "folder_name", "inviter", "invitee", "permission",
                      "state", "created_at"]
Permission = typer.Option(None, "--permission", "-p", help="ro, rw or wd.")


def folder_path(folder: str, suffix: str = "") -> str:
    return f"/folders/{quote(folder, safe='')}{suffix}"


def _call(ctx: typer.Context, method: str, path: str, as_json: bool, title: str,
          body: dict[str, object] | None = None) -> None:
    with gateway(ctx) as gw:
        emit(gw.call(method, path, body=body), as_json, title=title)


@app.command()
@reports_errors
def create(ctx: typer.Context, name: str,
           group: str = typer.Option(None, "--group", "--project",
                                     help="A group folder of this project (id or name): "
                                          "admins only."),
           permission: str = Permission,
           host: str = typer.Option(None, help="Storage host (else the default one)."),
           usage_mode: str = typer.Option("general", help="general, model or data."),
           as_json: bool = JsonFlag) -> None:
    """Create a user folder, or with --group a group folder its project's members see."""
    body: dict[str, object] = {"name": name, "usage_mode": usage_mode,
                               "type": "group" if group else "user"}
    for key, value in (("project", group), ("permission", permission), ("host", host)):
        if value is not None:
            body[key] = value
    _call(ctx, "POST", "/folders", as_json, "folder created", body)


@app.command("list")
@reports_errors
def list_folders(ctx: typer.Context,
                 trash: bool = typer.Option(False, "--trash", help="Folders in the trash."),
                 offset: int = typer.Option(0), limit: int = typer.Option(100),
                 as_json: bool = JsonFlag, wide: bool = WideFlag) -> None:
    """Folders you can see, with your permission: R, RW or RWD."""
    params = {"status": "delete-pending" if trash else None, "offset": offset, "limit": limit}
    with gateway(ctx) as gw:
        page = gw.call("GET", "/folders", params=params)
    emit(page, as_json, COLUMNS, wide=wide)


@app.command()
@reports_errors
def show(ctx: typer.Context, folder: str, as_json: bool = JsonFlag) -> None:
    _call(ctx, "GET", folder_path(folder), as_json, folder)


@app.command()
@reports_errors
def usage(ctx: typer.Context, folder: str, as_json: bool = JsonFlag) -> None:
    """Bytes and files in a folder."""
    _call(ctx, "GET", folder_path(folder, "/usage"), as_json, f"usage of {folder}")


@app.command()
@reports_errors
def rename(ctx: typer.Context, folder: str, new_name: str, as_json: bool = JsonFlag) -> None:
    _call(ctx, "POST", folder_path(folder, "/rename"), as_json, "folder renamed",
          {"new_name": new_name})


@app.command("set-permission")
@reports_errors
def set_permission(ctx: typer.Context, folder: str, permission: str,
                   as_json: bool = JsonFlag) -> None:
    """A group folder's permission for its project's members (ro, rw, wd)."""
    _call(ctx, "POST", folder_path(folder, "/permission"), as_json, "permission updated",
          {"permission": permission})


@app.command()
@reports_errors
def share(ctx: typer.Context, folder: str, email: str, permission: str,
          as_json: bool = JsonFlag) -> None:
    """One user's own permission (a group folder's override, a user folder's grant)."""
    _call(ctx, "POST", folder_path(folder, "/share"), as_json, "permission set",
          {"email": email, "permission": permission})


@app.command()
@reports_errors
def unshare(ctx: typer.Context, folder: str, email: str, as_json: bool = JsonFlag) -> None:
    _call(ctx, "POST", folder_path(folder, "/unshare"), as_json, "permission removed",
          {"email": email})


@app.command()
@reports_errors
def invite(ctx: typer.Context, folder: str, emails: list[str],
           permission: str = typer.Option("rw", "--permission", "-p"),
           as_json: bool = JsonFlag) -> None:
    """Invite users to a user folder (they accept or reject)."""
    _call(ctx, "POST", folder_path(folder, "/invite"), as_json, "invitations sent",
          {"emails": emails, "permission": permission})


@app.command()
@reports_errors
def invitations(ctx: typer.Context, sent: bool = typer.Option(False, "--sent"),
                as_json: bool = JsonFlag, wide: bool = WideFlag) -> None:
    """Invitations you received (or --sent)."""
    with gateway(ctx) as gw:
        page = gw.call("GET", "/folders/invitations/list",
                       params={"direction": "sent" if sent else "received"})
    emit(page, as_json, INVITATION_COLUMNS, wide=wide)


def _decide(verb: str, title: str) -> None:
    @app.command(verb, help=f"{verb.capitalize()} an invitation.")
    @reports_errors
    def decide(ctx: typer.Context, invitation_id: str, as_json: bool = JsonFlag) -> None:
        _call(ctx, "POST", f"/folders/invitations/{verb}", as_json, title,
              {"inv_id": invitation_id})


_decide("accept", "invitation accepted")
_decide("reject", "invitation rejected")
_decide("cancel", "invitation canceled")


@app.command()
@reports_errors
def delete(ctx: typer.Context, folder: str, as_json: bool = JsonFlag) -> None:
    """Move a folder to the trash (restorable)."""
    _call(ctx, "DELETE", folder_path(folder), as_json, "moved to the trash")


@app.command()
@reports_errors
def restore(ctx: typer.Context, folder: str, as_json: bool = JsonFlag) -> None:
    _call(ctx, "POST", folder_path(folder, "/restore"), as_json, "restored")


@app.command()
@reports_errors
def purge(ctx: typer.Context, folder: str,
          yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
          as_json: bool = JsonFlag) -> None:
    """Delete a folder in the trash forever: its files are removed."""
    if not yes:
        typer.confirm(f"Delete '{folder}' and every file in it forever?", abort=True)
    _call(ctx, "POST", folder_path(folder, "/delete-forever"), as_json, "deleted forever")


@app.command()
@reports_errors
def hosts(ctx: typer.Context, as_json: bool = JsonFlag) -> None:
    """Storage hosts and what your policies allow on each."""
    with gateway(ctx) as gw:
        answer = gw.call("GET", "/folders/_/hosts")
    rows = [{**h, "allowed": ", ".join(h["allowed"]) or "nothing"} for h in answer["hosts"]]
    emit(answer, as_json, ["name", "is_default", "allowed"], rows=rows)
