"""Handlers of the keypair messages: issue, (de)activate, assign a policy, rate limit, list."""

from __future__ import annotations

from typing import Any

from contracts import identity as c
from services.identity.handlers.deps import IdentityDeps
from services.runtime.context import MessageContext
from services.runtime.serve import SpecHandler

S = c.Subjects


def issue_keypair(deps: IdentityDeps, ctx: MessageContext, p: c.IssueKeypair
                  ) -> dict[str, Any]:
    return deps.app.issue_keypair(ctx.message_id, ctx.actor, p)


def activate_keypair(deps: IdentityDeps, ctx: MessageContext, p: c.KeypairRef
                     ) -> dict[str, Any]:
    return deps.app.change_keypair(ctx.message_id, ctx.actor, p.access_key, "activate")


def deactivate_keypair(deps: IdentityDeps, ctx: MessageContext, p: c.KeypairRef
                       ) -> dict[str, Any]:
    return deps.app.change_keypair(ctx.message_id, ctx.actor, p.access_key, "deactivate")


def assign_keypair_policy(deps: IdentityDeps, ctx: MessageContext, p: c.AssignKeypairPolicy
                          ) -> dict[str, Any]:
    return deps.app.change_keypair(ctx.message_id, ctx.actor, p.access_key, "assign-policy",
                                   p.resource_policy)


def set_keypair_rate_limit(deps: IdentityDeps, ctx: MessageContext,
                           p: c.SetKeypairRateLimit) -> dict[str, Any]:
    return deps.app.change_keypair(ctx.message_id, ctx.actor, p.access_key, "set-rate-limit",
                                   p.rate_limit)


def list_keypairs(deps: IdentityDeps, ctx: MessageContext, q: c.ListKeypairs
                  ) -> dict[str, Any]:
    return deps.view.list_keypairs(q, deps.guard.readable(ctx.actor, c.KEYPAIR_ROWS))


HANDLERS: dict[str, SpecHandler[IdentityDeps]] = {
    S.KEYPAIR_ISSUE: issue_keypair,
    S.KEYPAIR_ACTIVATE: activate_keypair,
    S.KEYPAIR_DEACTIVATE: deactivate_keypair,
    S.KEYPAIR_ASSIGN_POLICY: assign_keypair_policy,
    S.KEYPAIR_SET_RATE_LIMIT: set_keypair_rate_limit,
    S.KEYPAIR_LIST: list_keypairs,
}
