"""Quota's bus handlers, one top-level function per message; `HANDLERS` is the table
`services.runtime.serve` subscribes from `contracts.quota.SPECS`.

Each policy tier (keypair, user, project) has its own five messages; its handlers name the
tier and call the one application method every tier shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from contracts import quota as c
from services.quota.app import QuotaApplication
from services.quota.views import PolicyView
from services.runtime.context import MessageContext
from services.runtime.serve import SpecHandler

S = c.Subjects


@dataclass(frozen=True)
class QuotaDeps:
    app: QuotaApplication
    view: PolicyView


def _fields(p: BaseModel) -> dict[str, Any]:
    # Only what the caller set: an update leaves the other fields as they are.
    return p.model_dump(exclude_unset=True, mode="json")


# ---- keypair resource policies ------------------------------------------------------------


def create_keypair_policy(deps: QuotaDeps, ctx: MessageContext, p: c.CreateKeypairPolicy
                          ) -> dict[str, Any]:
    return deps.app.create_policy(ctx.message_id, ctx.actor, "keypair", _fields(p))


def update_keypair_policy(deps: QuotaDeps, ctx: MessageContext, p: c.UpdateKeypairPolicy
                          ) -> dict[str, Any]:
    return deps.app.update_policy(ctx.message_id, ctx.actor, "keypair", _fields(p))


def delete_keypair_policy(deps: QuotaDeps, ctx: MessageContext, p: c.PolicyRef
                          ) -> dict[str, Any]:
    return deps.app.delete_policy(ctx.message_id, ctx.actor, "keypair", p.name)


def get_keypair_policy(deps: QuotaDeps, ctx: MessageContext, q: c.PolicyRef
                       ) -> dict[str, Any]:
    return deps.view.get("keypair", q.name)


def list_keypair_policies(deps: QuotaDeps, ctx: MessageContext, q: c.ListPolicies
                          ) -> dict[str, Any]:
    return deps.view.list("keypair", q)


# ---- user resource policies ---------------------------------------------------------------


def create_user_policy(deps: QuotaDeps, ctx: MessageContext, p: c.CreateUserPolicy
                       ) -> dict[str, Any]:
    return deps.app.create_policy(ctx.message_id, ctx.actor, "user", _fields(p))


def update_user_policy(deps: QuotaDeps, ctx: MessageContext, p: c.UpdateUserPolicy
                       ) -> dict[str, Any]:
    return deps.app.update_policy(ctx.message_id, ctx.actor, "user", _fields(p))


def delete_user_policy(deps: QuotaDeps, ctx: MessageContext, p: c.PolicyRef
                       ) -> dict[str, Any]:
    return deps.app.delete_policy(ctx.message_id, ctx.actor, "user", p.name)


def get_user_policy(deps: QuotaDeps, ctx: MessageContext, q: c.PolicyRef) -> dict[str, Any]:
    return deps.view.get("user", q.name)


def list_user_policies(deps: QuotaDeps, ctx: MessageContext, q: c.ListPolicies
                       ) -> dict[str, Any]:
    return deps.view.list("user", q)


# ---- project resource policies ------------------------------------------------------------


def create_project_policy(deps: QuotaDeps, ctx: MessageContext, p: c.CreateProjectPolicy
                          ) -> dict[str, Any]:
    return deps.app.create_policy(ctx.message_id, ctx.actor, "project", _fields(p))


def update_project_policy(deps: QuotaDeps, ctx: MessageContext, p: c.UpdateProjectPolicy
                          ) -> dict[str, Any]:
    return deps.app.update_policy(ctx.message_id, ctx.actor, "project", _fields(p))


def delete_project_policy(deps: QuotaDeps, ctx: MessageContext, p: c.PolicyRef
                          ) -> dict[str, Any]:
    return deps.app.delete_policy(ctx.message_id, ctx.actor, "project", p.name)


def get_project_policy(deps: QuotaDeps, ctx: MessageContext, q: c.PolicyRef
                       ) -> dict[str, Any]:
    return deps.view.get("project", q.name)


def list_project_policies(deps: QuotaDeps, ctx: MessageContext, q: c.ListPolicies
                          ) -> dict[str, Any]:
    return deps.view.list("project", q)


# ---- limits -------------------------------------------------------------------------------


def effective_limits(deps: QuotaDeps, ctx: MessageContext, q: c.EffectiveLimits
                     ) -> dict[str, Any]:
    return deps.app.effective_limits(q.access_key)


HANDLERS: dict[str, SpecHandler[QuotaDeps]] = {
    S.KEYPAIR_POLICY_CREATE: create_keypair_policy,
    S.KEYPAIR_POLICY_UPDATE: update_keypair_policy,
    S.KEYPAIR_POLICY_DELETE: delete_keypair_policy,
    S.KEYPAIR_POLICY_GET: get_keypair_policy,
    S.KEYPAIR_POLICY_LIST: list_keypair_policies,
    S.USER_POLICY_CREATE: create_user_policy,
    S.USER_POLICY_UPDATE: update_user_policy,
    S.USER_POLICY_DELETE: delete_user_policy,
    S.USER_POLICY_GET: get_user_policy,
    S.USER_POLICY_LIST: list_user_policies,
    S.PROJECT_POLICY_CREATE: create_project_policy,
    S.PROJECT_POLICY_UPDATE: update_project_policy,
    S.PROJECT_POLICY_DELETE: delete_project_policy,
    S.PROJECT_POLICY_GET: get_project_policy,
    S.PROJECT_POLICY_LIST: list_project_policies,
    S.EFFECTIVE_LIMITS: effective_limits,
}
