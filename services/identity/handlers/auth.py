"""Handlers of the secret- and token-returning queries: resolve, login, token, bus login.

Only the gateway's proven system actor may ask the first three (their declared need; NATS
permits only its user too); the bus login alone needs no proof (it hands one out, after
checking the password).
"""

from __future__ import annotations

from typing import Any

from contracts import identity as c
from services.identity.domain.errors import refuse
from services.identity.handlers.deps import IdentityDeps
from services.runtime.context import MessageContext
from services.runtime.serve import SpecHandler

S = c.Subjects


def resolve_keypair(deps: IdentityDeps, ctx: MessageContext, q: c.KeypairRef
                    ) -> dict[str, Any]:
    return deps.app.resolve_keypair(q.access_key)


def login(deps: IdentityDeps, ctx: MessageContext, q: c.Login) -> dict[str, Any]:
    return deps.app.login(q)


def issue_token(deps: IdentityDeps, ctx: MessageContext, q: c.KeypairRef) -> dict[str, Any]:
    found = deps.view.token_for(q.access_key)
    if found is None:
        raise refuse("keypair.inactive", "the keypair is unknown or inactive, or its user")
    return _token(deps, *found)


def bus_login(deps: IdentityDeps, ctx: MessageContext, q: c.Login) -> dict[str, Any]:
    creds = deps.app.login(q)
    return _token(deps, creds["user_id"], creds["access_key"])


def _token(deps: IdentityDeps, user_id: str, access_key: str) -> dict[str, Any]:
    if deps.signer is None:
        raise refuse("auth.signing_unavailable", "identity has no signing key "
                     "(BAIKAL_SIGNING_KEY, BAIKAL_STACK_ID)")
    token, expires = deps.signer.user_token(user_id, access_key)
    return {"token": token, "expires_at": expires, "user_id": user_id,
            "access_key": access_key}


HANDLERS: dict[str, SpecHandler[IdentityDeps]] = {
    S.KEYPAIR_RESOLVE: resolve_keypair,
    S.LOGIN: login,
    S.TOKEN_ISSUE: issue_token,
    S.BUS_LOGIN: bus_login,
}
