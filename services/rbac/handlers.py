"""rbac's bus handlers, one top-level function per message; `HANDLERS` is the table
`services.runtime.serve` subscribes from `contracts.rbac.SPECS`.

Every role command and the role reads are a superadmin's (their declared needs, checked by
the dispatcher before the handler); a permission check is any user's, about themself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts import rbac as c
from contracts.envelope import Actor
from services.rbac.app import SUPERADMIN, RbacApplication
from services.rbac.views import GrantView, RoleCatalogView
from services.runtime.context import MessageContext
from services.runtime.errors import Forbidden
from services.runtime.serve import SpecHandler, in_memory

S = c.Subjects


@dataclass(frozen=True)
class RbacDeps:
    app: RbacApplication
    catalog: RoleCatalogView
    grants: GrantView


# ---- roles --------------------------------------------------------------------------------


def create_role(deps: RbacDeps, ctx: MessageContext, p: c.CreateRole) -> dict[str, Any]:
    return deps.app.create_role(ctx.message_id, ctx.actor, p)


def update_role(deps: RbacDeps, ctx: MessageContext, p: c.UpdateRole) -> dict[str, Any]:
    return deps.app.update_role(ctx.message_id, ctx.actor, p)


def deactivate_role(deps: RbacDeps, ctx: MessageContext, p: c.RoleRef) -> dict[str, Any]:
    return deps.app.set_status(ctx.message_id, ctx.actor, p.role_id, False)


def activate_role(deps: RbacDeps, ctx: MessageContext, p: c.RoleRef) -> dict[str, Any]:
    return deps.app.set_status(ctx.message_id, ctx.actor, p.role_id, True)


def purge_role(deps: RbacDeps, ctx: MessageContext, p: c.RoleRef) -> dict[str, Any]:
    return deps.app.purge_role(ctx.message_id, ctx.actor, p.role_id)


def add_permission(deps: RbacDeps, ctx: MessageContext, p: c.AddPermission
                   ) -> dict[str, Any]:
    return deps.app.add_permission(ctx.message_id, ctx.actor, p)


def remove_permission(deps: RbacDeps, ctx: MessageContext, p: c.RemovePermission
                      ) -> dict[str, Any]:
    return deps.app.remove_permission(ctx.message_id, ctx.actor, p)


def assign_role(deps: RbacDeps, ctx: MessageContext, p: c.AssignUsers) -> dict[str, Any]:
    return deps.app.assign(ctx.message_id, ctx.actor, p)


def unassign_role(deps: RbacDeps, ctx: MessageContext, p: c.UnassignUser) -> dict[str, Any]:
    return deps.app.unassign(ctx.message_id, ctx.actor, p)


def list_roles(deps: RbacDeps, ctx: MessageContext, q: c.ListRoles) -> dict[str, Any]:
    return deps.catalog.list(q)


def get_role(deps: RbacDeps, ctx: MessageContext, q: c.GetRole) -> dict[str, Any]:
    return deps.catalog.get(q)


def search_users(deps: RbacDeps, ctx: MessageContext, q: c.SearchUsers) -> dict[str, Any]:
    return deps.catalog.search_users(q)


# ---- permission checks --------------------------------------------------------------------


@in_memory  # the grant index and the actor directory, under their locks
def check(deps: RbacDeps, ctx: MessageContext, q: c.Check) -> dict[str, Any]:
    _may_check(deps, ctx.actor, {q.user_id})
    return {"allowed": deps.grants.check(q)}


@in_memory
def check_batch(deps: RbacDeps, ctx: MessageContext, q: c.CheckBatch) -> dict[str, Any]:
    _may_check(deps, ctx.actor, {one.user_id for one in q.checks})
    return {"allowed": deps.grants.check_many(q.checks)}


def _may_check(deps: RbacDeps, actor: Actor, users: set[str]) -> None:
    """A superadmin may check anyone; any other user only themselves."""
    principal = deps.app.directory.resolve(actor)
    if principal.role != SUPERADMIN and users != {principal.user_id}:
        raise Forbidden("you may check only your own permissions")


HANDLERS: dict[str, SpecHandler[RbacDeps]] = {
    S.ROLE_CREATE: create_role,
    S.ROLE_UPDATE: update_role,
    S.ROLE_DEACTIVATE: deactivate_role,
    S.ROLE_ACTIVATE: activate_role,
    S.ROLE_PURGE: purge_role,
    S.ROLE_ADD_PERMISSION: add_permission,
    S.ROLE_REMOVE_PERMISSION: remove_permission,
    S.ROLE_ASSIGN: assign_role,
    S.ROLE_UNASSIGN: unassign_role,
    S.ROLE_LIST: list_roles,
    S.ROLE_GET: get_role,
    S.USER_SEARCH: search_users,
    S.CHECK: check,
    S.CHECK_BATCH: check_batch,
}
