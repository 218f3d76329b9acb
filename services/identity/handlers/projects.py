"""Handlers of the domain and project messages: create, membership, list."""

from __future__ import annotations

from typing import Any

from contracts import identity as c
from services.identity.handlers.deps import IdentityDeps
from services.runtime.context import MessageContext
from services.runtime.serve import SpecHandler

S = c.Subjects


def create_domain(deps: IdentityDeps, ctx: MessageContext, p: c.CreateDomain
                  ) -> dict[str, Any]:
    return deps.app.create_domain(ctx.message_id, ctx.actor, p)


def create_project(deps: IdentityDeps, ctx: MessageContext, p: c.CreateProject
                   ) -> dict[str, Any]:
    return deps.app.create_project(ctx.message_id, ctx.actor, p)


def add_member(deps: IdentityDeps, ctx: MessageContext, p: c.ProjectMember) -> dict[str, Any]:
    return deps.app.change_membership(ctx.message_id, ctx.actor, p, add=True)


def remove_member(deps: IdentityDeps, ctx: MessageContext, p: c.ProjectMember
                  ) -> dict[str, Any]:
    return deps.app.change_membership(ctx.message_id, ctx.actor, p, add=False)


def list_domains(deps: IdentityDeps, ctx: MessageContext, q: c.ListDomains) -> dict[str, Any]:
    return deps.view.list_domains(deps.guard.readable(ctx.actor,
                                                      c.QUERY_NEEDS[S.DOMAIN_LIST]))


def list_projects(deps: IdentityDeps, ctx: MessageContext, q: c.ListProjects
                  ) -> dict[str, Any]:
    return deps.view.list_projects(q, deps.guard.readable(ctx.actor,
                                                          c.QUERY_NEEDS[S.PROJECT_LIST]))


HANDLERS: dict[str, SpecHandler[IdentityDeps]] = {
    S.DOMAIN_CREATE: create_domain,
    S.PROJECT_CREATE: create_project,
    S.PROJECT_ADD_MEMBER: add_member,
    S.PROJECT_REMOVE_MEMBER: remove_member,
    S.DOMAIN_LIST: list_domains,
    S.PROJECT_LIST: list_projects,
}
