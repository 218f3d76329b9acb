"""Handlers of the user messages: bootstrap, create, update, (de)activate, get, list."""

from __future__ import annotations

from typing import Any

from contracts import identity as c
from services.identity.domain.errors import refuse
from services.identity.handlers.deps import IdentityDeps
from services.runtime.context import MessageContext
from services.runtime.serve import SpecHandler, in_memory

S = c.Subjects


def bootstrap(deps: IdentityDeps, ctx: MessageContext, p: c.Bootstrap) -> dict[str, Any]:
    return deps.app.bootstrap(ctx.message_id, ctx.actor, p)


def create_user(deps: IdentityDeps, ctx: MessageContext, p: c.CreateUser) -> dict[str, Any]:
    return deps.app.create_user(ctx.message_id, ctx.actor, p)


def update_user(deps: IdentityDeps, ctx: MessageContext, p: c.UpdateUser) -> dict[str, Any]:
    # Status, role, policy and projects are an administrator's to change, besides the
    # declared need (which a user's own role meets for its own account).
    if any(getattr(p, name) is not None for name in c.PRIVILEGED_USER_FIELDS):
        deps.guard.require(ctx.actor, c.PRIVILEGED_USER_UPDATE, p)
    return deps.app.update_user(ctx.message_id, ctx.actor, p)


def deactivate_user(deps: IdentityDeps, ctx: MessageContext, p: c.UserRef) -> dict[str, Any]:
    return deps.app.set_user_status(ctx.message_id, ctx.actor, p, "inactive")


def activate_user(deps: IdentityDeps, ctx: MessageContext, p: c.UserRef) -> dict[str, Any]:
    return deps.app.set_user_status(ctx.message_id, ctx.actor, p, "active")


@in_memory  # the view, under its lock
def get_user(deps: IdentityDeps, ctx: MessageContext, q: c.GetUser) -> dict[str, Any]:
    # The user is readable (the dispatcher checked it); each of its keypairs is shown only
    # where the caller may read keypairs at the owner's scope.
    found = deps.view.get_user(q, deps.guard.readable(ctx.actor, c.KEYPAIR_ROWS))
    if found is None:
        raise refuse("user.not_found", "no such user")
    return found


def list_users(deps: IdentityDeps, ctx: MessageContext, q: c.ListUsers) -> dict[str, Any]:
    return deps.view.list_users(q, deps.guard.readable(ctx.actor, c.QUERY_NEEDS[S.USER_LIST]))


HANDLERS: dict[str, SpecHandler[IdentityDeps]] = {
    S.BOOTSTRAP: bootstrap,
    S.USER_CREATE: create_user,
    S.USER_UPDATE: update_user,
    S.USER_DEACTIVATE: deactivate_user,
    S.USER_ACTIVATE: activate_user,
    S.USER_GET: get_user,
    S.USER_LIST: list_users,
}
