"""Bus handlers for bai.cmd.rbac.* and bai.qry.rbac.*: parse, authorize, call app, reply."""

from __future__ import annotations

from typing import Any

from contracts import rbac as c
from contracts.envelope import Actor, Query
from services.rbac.app import SUPERADMIN, RbacApplication
from services.rbac.views import GrantView, RoleCatalogView
from services.runtime.dispatch import Dispatcher
from services.runtime.errors import Forbidden

S = c.Subjects


def register(dispatcher: Dispatcher, app: RbacApplication, catalog: RoleCatalogView,
             grants: GrantView) -> None:
    def command(subject: str, call: Any) -> None:
        dispatcher.command(subject, c.COMMAND_PAYLOADS[subject],
                           lambda env, p: call(env.id, env.actor, p), c.COMMAND_NEEDS[subject])

    command(S.ROLE_CREATE, app.create_role)
    command(S.ROLE_UPDATE, app.update_role)
    command(S.ROLE_DEACTIVATE, lambda i, a, p: app.set_status(i, a, p.role_id, False))
    command(S.ROLE_ACTIVATE, lambda i, a, p: app.set_status(i, a, p.role_id, True))
    command(S.ROLE_PURGE, lambda i, a, p: app.purge_role(i, a, p.role_id))
    command(S.ROLE_ADD_PERMISSION, app.add_permission)
    command(S.ROLE_REMOVE_PERMISSION, app.remove_permission)
    command(S.ROLE_ASSIGN, app.assign)
    command(S.ROLE_UNASSIGN, app.unassign)

    def query(subject: str, call: Any) -> None:
        dispatcher.query(subject, c.QUERY_PAYLOADS[subject], call, c.QUERY_NEEDS[subject])

    # Superadmins only (system-wide needs, checked by the dispatcher).
    query(S.ROLE_LIST, lambda env, p: catalog.list(p))
    query(S.ROLE_GET, lambda env, p: catalog.get(p))
    query(S.USER_SEARCH, lambda env, p: catalog.search_users(p))

    def may_check(actor: Actor, users: set[str]) -> None:
        """A superadmin may check anyone; any other user only themselves."""
        principal = app.directory.resolve(actor)
        if principal.role != SUPERADMIN and users != {principal.user_id}:
            raise Forbidden("you may check only your own permissions")

    def check(envelope: Query, payload: c.Check) -> dict[str, Any]:
        may_check(envelope.actor, {payload.user_id})
        return {"allowed": grants.check(payload)}

    def check_batch(envelope: Query, payload: c.CheckBatch) -> dict[str, Any]:
        may_check(envelope.actor, {q.user_id for q in payload.checks})
        return {"allowed": grants.check_many(payload.checks)}

    query(S.CHECK, check)
    query(S.CHECK_BATCH, check_batch)
