"""Bus handlers for bai.cmd.identity.* and bai.qry.identity.*: parse, authorize, call, reply."""

from __future__ import annotations

from typing import Any

from contracts import identity as c
from contracts.envelope import Command, Query
from services.identity.app import IdentityApplication
from services.identity.domain.errors import refuse
from services.identity.views import IdentityView
from services.runtime.dispatch import Dispatcher
from services.runtime.permissions import PermissionGuard
from services.runtime.proofs import ProofSigner

S = c.Subjects
GATEWAY = "gateway"


def register(dispatcher: Dispatcher, app: IdentityApplication, view: IdentityView,
             guard: PermissionGuard, signer: ProofSigner | None = None) -> None:
    def cmd(subject: str, call: Any) -> None:
        def handle(envelope: Command, payload: Any) -> dict[str, Any]:
            return call(envelope.id, envelope.actor, payload)  # type: ignore[no-any-return]

        dispatcher.command(subject, c.COMMAND_PAYLOADS[subject], handle,
                           c.COMMAND_NEEDS[subject])

    def update_user(command_id: str, actor: Any, p: c.UpdateUser) -> dict[str, Any]:
        if any(getattr(p, name) is not None for name in c.PRIVILEGED_USER_FIELDS):
            guard.require(actor, c.PRIVILEGED_USER_UPDATE, p)
        return app.update_user(command_id, actor, p)

    cmd(S.BOOTSTRAP, app.bootstrap)
    cmd(S.DOMAIN_CREATE, app.create_domain)
    cmd(S.PROJECT_CREATE, app.create_project)
    cmd(S.PROJECT_ADD_MEMBER, lambda i, a, p: app.change_membership(i, a, p, add=True))
    cmd(S.PROJECT_REMOVE_MEMBER, lambda i, a, p: app.change_membership(i, a, p, add=False))
    cmd(S.USER_CREATE, app.create_user)
    cmd(S.USER_UPDATE, update_user)
    cmd(S.USER_DEACTIVATE, lambda i, a, p: app.set_user_status(i, a, p, "inactive"))
    cmd(S.USER_ACTIVATE, lambda i, a, p: app.set_user_status(i, a, p, "active"))
    cmd(S.KEYPAIR_ISSUE, app.issue_keypair)
    cmd(S.KEYPAIR_ACTIVATE, lambda i, a, p: app.change_keypair(i, a, p.access_key, "activate"))
    cmd(S.KEYPAIR_DEACTIVATE,
        lambda i, a, p: app.change_keypair(i, a, p.access_key, "deactivate"))
    cmd(S.KEYPAIR_ASSIGN_POLICY, lambda i, a, p: app.change_keypair(
        i, a, p.access_key, "assign-policy", p.resource_policy))
    cmd(S.KEYPAIR_SET_RATE_LIMIT, lambda i, a, p: app.change_keypair(
        i, a, p.access_key, "set-rate-limit", p.rate_limit))
    _register_queries(dispatcher, app, view, guard, signer)


def _register_queries(dispatcher: Dispatcher, app: IdentityApplication,
                      view: IdentityView, guard: PermissionGuard,
                      signer: ProofSigner | None) -> None:
    """The dispatcher checks each query's declared need (`c.QUERY_NEEDS`); lists keep only
    the rows the caller may read."""

    def qry(subject: str, call: Any) -> None:
        dispatcher.query(subject, c.QUERY_PAYLOADS[subject], call, c.QUERY_NEEDS[subject])

    def rows(subject: str) -> Any:
        return lambda envelope: guard.readable(envelope.actor, c.QUERY_NEEDS[subject])

    def get_user(envelope: Query, q: c.GetUser) -> dict[str, Any]:
        found = view.get_user(q, guard.readable(envelope.actor, c.KEYPAIR_ROWS))
        if found is None:
            raise refuse("user.not_found", "no such user")
        return found

    users, keypairs = rows(S.USER_LIST), rows(S.KEYPAIR_LIST)
    domains, projects = rows(S.DOMAIN_LIST), rows(S.PROJECT_LIST)
    qry(S.USER_GET, get_user)
    qry(S.USER_LIST, lambda e, q: view.list_users(q, users(e)))
    qry(S.KEYPAIR_LIST, lambda e, q: view.list_keypairs(q, keypairs(e)))
    qry(S.DOMAIN_LIST, lambda e, q: view.list_domains(domains(e)))
    qry(S.PROJECT_LIST, lambda e, q: view.list_projects(q, projects(e)))
    _register_auth(dispatcher, app, view, signer)


def _register_auth(dispatcher: Dispatcher, app: IdentityApplication, view: IdentityView,
                   signer: ProofSigner | None) -> None:
    """Secret- and token-returning queries: only the gateway's proven system actor may ask
    (their declared need; NATS permits only its user too); the bus login alone needs no proof
    (it hands one out, after checking the password)."""

    def issue(user_id: str, access_key: str) -> dict[str, Any]:
        if signer is None:
            raise refuse("auth.signing_unavailable", "identity has no signing key "
                         "(BAIKAL_SIGNING_KEY, BAIKAL_STACK_ID)")
        token, expires = signer.user_token(user_id, access_key)
        return {"token": token, "expires_at": expires, "user_id": user_id,
                "access_key": access_key}

    def token(envelope: Query, q: c.KeypairRef) -> dict[str, Any]:
        found = view.token_for(q.access_key)
        if found is None:
            raise refuse("keypair.inactive", "the keypair is unknown or inactive, or its user")
        return issue(*found)

    def bus_login(envelope: Query, q: c.Login) -> dict[str, Any]:
        creds = app.login(q)
        return issue(creds["user_id"], creds["access_key"])

    for subject, handler in ((S.KEYPAIR_RESOLVE, lambda e, q: app.resolve_keypair(q.access_key)),
                             (S.LOGIN, lambda e, q: app.login(q)), (S.TOKEN_ISSUE, token)):
        dispatcher.query(subject, c.QUERY_PAYLOADS[subject], handler, c.QUERY_NEEDS[subject])
    dispatcher.query(S.BUS_LOGIN, c.Login, bus_login, public=True)
