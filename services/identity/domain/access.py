"""Who may do what in identity (until RBAC refines it): a pure policy over roles."""

from __future__ import annotations

from dataclasses import dataclass

from services.identity.domain.errors import refuse

SUPERADMIN = "superadmin"
ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """The resolved actor of a command."""

    user_id: str
    email: str
    role: str
    domain: str
    system: bool = False


def require_admin_of(principal: Principal, domain: str) -> None:
    """Superadmins manage every domain; admins only their own."""
    if principal.system or principal.role == SUPERADMIN:
        return
    if principal.role == ADMIN and principal.domain == domain:
        return
    raise refuse("auth.forbidden", "this needs a superadmin, or an admin of the domain",
                 required="admin", domain=domain)


def require_superadmin(principal: Principal) -> None:
    if principal.system or principal.role == SUPERADMIN:
        return
    raise refuse("auth.forbidden", "this needs the superadmin role", required="superadmin")


def require_may_grant_role(principal: Principal, role: str) -> None:
    """Only a superadmin creates or promotes to superadmin."""
    if role == SUPERADMIN:
        require_superadmin(principal)


def require_may_manage_user(principal: Principal, target_role: str, target_domain: str) -> None:
    require_admin_of(principal, target_domain)
    if target_role == SUPERADMIN:
        require_superadmin(principal)
