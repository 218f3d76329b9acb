"""What each command needs: the permission it is checked against and the scope it applies to.

Every command subject of every service declares one `Needs` (in its own contract module's
`COMMAND_NEEDS`). The owning service checks it before acting, from its replica of rbac's
grants, for commands from the bus and from the gateway alike:

- `scope_type` set: the actor needs `operation` on `entity_type` granted at that scope or an
  ancestor of it (domain ⊃ project ⊃ user). `target` says which payload field names the
  thing acted on and what kind of thing it names; the service maps it to the scope (a user's
  own scope or its domain, a keypair's owner, a session's owner, ...).
- `scope_type` None: system-wide (resource policies, domains, roles). No grant can name a
  system-wide scope, so only superadmins pass.
- `system_only`: only a trusted system actor (the stack supervisor, the scheduler) passes;
  no user, superadmins included.

The (scope type, entity type, operation) of every scoped declaration is in `CATALOGUE`, so
a custom role can grant exactly what a command needs (checked by the contract tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # contracts.rbac declares its own commands' needs with this module
    from contracts.rbac import EntityType, Operation, ScopeType


# How delegate operations are named (contracts.rbac.Operation): delegate-X is the right to
# grant X; delegate-all covers every delegate-X.
DELEGATE_PREFIX = "delegate-"
DELEGATE_ALL = "delegate-all"


class Target(StrEnum):
    """What the payload field named by `Needs.field` refers to."""

    ACTOR = "actor"  # the acting user (no field)
    DOMAIN = "domain"  # a domain, by name
    PROJECT = "project"  # a project, by id
    USER = "user"  # a user, by email
    KEYPAIR = "keypair"  # a keypair, by access key: its owner
    SESSION = "session"  # a session, by id: its owner


@dataclass(frozen=True)
class Needs:
    entity_type: EntityType
    operation: Operation
    scope_type: ScopeType | None = None
    target: Target | None = None
    field: str | None = None
    system_only: bool = False

    def __post_init__(self) -> None:
        if self.scope_type is not None:
            if self.target is None:
                raise ValueError("a scoped permission names its target")
            if (self.target is Target.ACTOR) != (self.field is None):
                raise ValueError("every target but the actor is named by a payload field")

    @property
    def system_wide(self) -> bool:
        return self.scope_type is None

    def triple(self) -> tuple[str, str, str] | None:
        if self.scope_type is None:
            return None
        return (str(self.scope_type), str(self.entity_type), str(self.operation))

    def grantable(self) -> bool:
        """A role can grant it: scoped and in the catalogue."""
        from contracts.rbac import CATALOGUE

        triple = self.triple()
        return triple is not None and triple in CATALOGUE

    def describe(self) -> dict[str, str]:
        return {"entity_type": str(self.entity_type), "operation": str(self.operation),
                "scope_type": str(self.scope_type) if self.scope_type else "system"}


def system_wide(entity: EntityType, operation: Operation) -> Needs:
    return Needs(entity, operation)


def system_only(entity: EntityType, operation: Operation) -> Needs:
    return Needs(entity, operation, system_only=True)


def scoped(entity: EntityType, operation: Operation, scope: ScopeType, target: Target,
           field: str | None = None) -> Needs:
    return Needs(entity, operation, scope, target, field)
