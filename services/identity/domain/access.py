"""Identity's rules beyond RBAC: the permission each command declares is checked by the
service's guard before it runs (contracts.identity.COMMAND_NEEDS); these keep superadmin
accounts the superadmins' own, whatever a role grants."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.values import UserRole
from services.identity.domain.errors import refuse

SUPERADMIN = UserRole.SUPERADMIN


@dataclass(frozen=True)
class Principal:
    """The resolved actor of a command."""

    user_id: str
    email: str
    role: str
    domain: str
    system: bool = False


def require_superadmin(principal: Principal) -> None:
    if principal.system or principal.role == SUPERADMIN:
        return
    raise refuse("auth.forbidden", "this needs the superadmin role", required=SUPERADMIN)


def require_may_grant_role(principal: Principal, role: str) -> None:
    """Only a superadmin creates or promotes to superadmin."""
    if role == SUPERADMIN:
        require_superadmin(principal)


def require_may_manage(principal: Principal, target_role: str) -> None:
    """Only a superadmin changes a superadmin's account or keypairs."""
    if target_role == SUPERADMIN:
        require_superadmin(principal)
