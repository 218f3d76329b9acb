"""`baikal admin ...`: administration over the gateway (tables for people, --json for scripts).

Exit codes: 0 done, 1 refused (4xx), 2 usage, 3 no or refused credentials (401),
4 gateway or service unavailable (5xx, connection).
"""

from __future__ import annotations

import typer

from services.cli import (
    admin_export,
    admin_folders,
    admin_keypairs,
    admin_policies,
    admin_roles,
    admin_sessions,
    admin_usage,
    admin_users,
)
from services.cli.admin_common import connection


def build() -> typer.Typer:
    admin_app = typer.Typer(help="Administration over the gateway (users, keypairs, policies, "
                                 "roles, sessions, exports, information).",
                            no_args_is_help=True,
                            callback=connection)
    admin_app.add_typer(admin_users.app, name="user")
    admin_app.add_typer(admin_keypairs.app, name="keypair")
    admin_app.add_typer(admin_policies.app, name="policy")
    admin_app.add_typer(admin_roles.app, name="role")
    admin_app.add_typer(admin_folders.app, name="folder")
    admin_app.add_typer(admin_sessions.app, name="session")
    admin_app.add_typer(admin_export.app, name="export")
    admin_app.command("info")(admin_export.info)
    admin_app.command("recalculate-usage")(admin_usage.recalculate_usage)
    admin_app.command("usage")(admin_usage.usage)
    return admin_app
