"""Who sees a folder and with which permission (reference §4.5), and which storage-host
operations the policies allow (the union of domain, project and keypair policy, §4.4 rule 7)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts import storage as c
from contracts.values import UserRole
from services.storage.domain.errors import refuse

SUPERADMIN = UserRole.SUPERADMIN
ADMIN = UserRole.ADMIN
ALL_HOST_OPERATIONS = frozenset(str(op) for op in c.HostOperation)


@dataclass(frozen=True)
class Viewer:
    user_id: str
    email: str
    role: str
    domain: str
    projects: frozenset[str] = field(default_factory=frozenset)


def permission_for(folder: Mapping[str, Any], viewer: Viewer) -> str | None:
    """The viewer's permission on the folder, None when it is not visible to them.

    Superadmins own every folder, a domain admin its domain's group folders; project members
    see the project's group folders without any invitation, with the folder's permission
    unless a per-user permission overrides it; a user folder is its owner's (`wd`) and visible
    to those it was shared with (an accepted invitation or a direct share)."""
    if viewer.role == SUPERADMIN:
        return c.Permission.RW_DELETE.value
    share = folder["shares"].get(viewer.user_id)
    if folder["ownership"] == c.Ownership.GROUP:
        if viewer.role == ADMIN and folder["domain"] == viewer.domain:
            return c.Permission.RW_DELETE.value
        if folder["owner_id"] in viewer.projects:
            return str(share["permission"]) if share else str(folder["permission"])
        return None
    if folder["owner_id"] == viewer.user_id:
        return c.Permission.RW_DELETE.value
    return str(share["permission"]) if share else None


def is_owner(folder: Mapping[str, Any], viewer: Viewer) -> bool:
    """May change the folder itself (rename, permission, trash, purge, share)."""
    if viewer.role == SUPERADMIN:
        return True
    if folder["ownership"] == c.Ownership.GROUP:
        return viewer.role == ADMIN and bool(folder["domain"] == viewer.domain)
    return bool(folder["owner_id"] == viewer.user_id)


def require(permission: str | None, needed: frozenset[str], what: str) -> None:
    if permission is None:
        raise refuse("folder.not_found", "no such folder", field="folder")
    if permission not in needed:
        raise refuse("folder.forbidden", f"your permission '{permission}' does not allow "
                     f"{what}", permission=permission, needed=sorted(needed))


def allowed_host_operations(host: str, maps: Iterable[Mapping[str, Iterable[str]]]
                            ) -> frozenset[str]:
    """The union over the domain's, the project's and the keypair policy's maps."""
    allowed: set[str] = set()
    for host_map in maps:
        allowed |= set(host_map.get(host, ()))
    return frozenset(allowed)


def require_host(host: str, operation: c.HostOperation,
                 maps: Iterable[Mapping[str, Iterable[str]]]) -> None:
    if str(operation) not in allowed_host_operations(host, maps):
        raise refuse("host.not_allowed", f"'{operation}' is not allowed on storage host "
                     f"'{host}' by your domain, project or keypair resource policy",
                     host=host, operation=str(operation))
