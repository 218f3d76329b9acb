"""System roles generated per scope (reference §9.4): names, scopes and default permissions."""

from __future__ import annotations

from dataclasses import dataclass

from contracts import rbac as c

_ALL = [str(op) for op in c.DIRECT_OPERATIONS]


@dataclass(frozen=True)
class Template:
    key: str  # deterministic: the role's id derives from it
    name: str
    scope_type: str
    scope_id: str
    grants: dict[str, list[str]]  # entity type -> operations (catalogue-valid only)

    @property
    def scopes(self) -> list[dict[str, str]]:
        return [{"scope_type": self.scope_type, "scope_id": self.scope_id}]

    def permissions(self) -> list[tuple[str, list[str]]]:
        return [(entity, [op for op in ops if c.is_valid(self.scope_type, entity, op)])
                for entity, ops in self.grants.items()]


def _admin_grants(scope: c.ScopeType) -> dict[str, list[str]]:
    return {str(entity): _ALL for entity in c.SCOPE_ENTITIES[scope]}


def user_role(user_id: str) -> Template:
    """The user's own role: owner operations on what the user owns; never `create` a user."""
    grants = {entity: _ALL for entity in ("keypair", "vfolder", "session", "endpoint")}
    grants["user"] = ["read", "update"]
    return Template(f"user:{user_id}", f"user-{user_id[:8]}", "user", user_id, grants)


def project_admin_role(project_id: str) -> Template:
    return Template(f"project-admin:{project_id}", f"project-{project_id[:8]}-admin", "project",
                    project_id, _admin_grants(c.ScopeType.PROJECT))


def project_member_role(project_id: str) -> Template:
    grants = {"project": ["read"], "user": ["read"], "session": ["read", "create"],
              "vfolder": ["read", "create"], "endpoint": ["read", "create"]}
    return Template(f"project-member:{project_id}", f"project-{project_id[:8]}-member",
                    "project", project_id, grants)


def domain_admin_role(domain_id: str, name: str) -> Template:
    return Template(f"domain-admin:{domain_id}", f"domain-{name}-admin", "domain", domain_id,
                    _admin_grants(c.ScopeType.DOMAIN))
