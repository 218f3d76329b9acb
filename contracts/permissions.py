"""What each command and query needs: the permission it is checked against and its scope.

Every command subject of every service declares one `Needs` (in its own contract module's
`COMMAND_NEEDS`), every query subject one too (`QUERY_NEEDS`: reads are authorized like
writes). The owning service checks it before acting, from its replica of rbac's grants, for
requests from the bus and from the gateway alike:

- `scope_type` set: the actor needs `operation` on `entity_type` granted at that scope or an
  ancestor of it (domain ⊃ project ⊃ user). `target` says which payload field names the
  thing acted on and what kind of thing it names; the service maps it to the scope (a user's
  own scope or its domain, a keypair's owner, a session's owner, ...).
- `scope_type` None: system-wide (resource policies, domains, roles). No grant can name a
  system-wide scope, so only superadmins pass.
- `system_only`: only a trusted system actor (the stack supervisor, the scheduler) passes;
  no user, superadmins included. `systems` narrows it to the named system actors.
- `any_user`: any known, active user passes (reads of what bounds everyone, such as a resource
  policy, or of what the handler itself narrows to the caller, such as their own permissions).
- target `ROWS` (queries that list): the caller must be a known, active user; each row is
  then checked at its own scope (of `scope_type`: a user row at its owner's user scope, a
  project at the project, a domain at the domain) and rows the caller may not read are left
  out of the answer (`PermissionGuard.readable`).

The (scope type, entity type, operation) of every scoped declaration is in `CATALOGUE`, so
a custom role can grant exactly what a command needs (checked by the contract tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from contracts.catalogue import CATALOGUE, EntityType, Operation, ScopeType

# How delegate operations are named (contracts.catalogue.Operation): delegate-X is the right to
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
    ROWS = "rows"  # each row a list query answers, at its own scope (no field)


@dataclass(frozen=True)
class Needs:
    entity_type: EntityType
    operation: Operation
    scope_type: ScopeType | None = None
    target: Target | None = None
    field: str | None = None
    system_only: bool = False
    # When `field` is unset (None) in the payload, this one names the target (a user by id).
    or_field: str | None = None
    systems: frozenset[str] = frozenset()  # system_only: these system actors only, if given
    any_user: bool = False

    def __post_init__(self) -> None:
        if self.scope_type is not None:
            if self.target is None:
                raise ValueError("a scoped permission names its target")
            if (self.target in (Target.ACTOR, Target.ROWS)) != (self.field is None):
                raise ValueError("every target but the actor and rows is named by a field")
        elif self.target is not None:
            raise ValueError("a system-wide permission has no target")
        if self.any_user and (self.system_only or self.scope_type is not None):
            raise ValueError("any_user is neither scoped nor system-only")

    @property
    def filters_rows(self) -> bool:
        return self.target is Target.ROWS

    @property
    def system_wide(self) -> bool:
        """Superadmins only."""
        return self.scope_type is None and not self.any_user and not self.system_only

    def triple(self) -> tuple[str, str, str] | None:
        if self.scope_type is None:
            return None
        return (str(self.scope_type), str(self.entity_type), str(self.operation))

    def grantable(self) -> bool:
        """A role can grant it: scoped and in the catalogue."""
        triple = self.triple()
        return triple is not None and triple in CATALOGUE

    def describe(self) -> dict[str, str]:
        scope = (str(self.scope_type) if self.scope_type
                 else "any user" if self.any_user else "system")
        return {"entity_type": str(self.entity_type), "operation": str(self.operation),
                "scope_type": scope}

    def fields(self) -> tuple[str, ...]:
        """The payload fields that may name the target."""
        return tuple(f for f in (self.field, self.or_field) if f is not None)


def system_wide(entity: EntityType, operation: Operation) -> Needs:
    return Needs(entity, operation)


def system_only(entity: EntityType, operation: Operation, *systems: str) -> Needs:
    return Needs(entity, operation, system_only=True, systems=frozenset(systems))


def scoped(entity: EntityType, operation: Operation, scope: ScopeType, target: Target,
           field: str | None = None, or_field: str | None = None) -> Needs:
    return Needs(entity, operation, scope, target, field, or_field=or_field)


def any_user(entity: EntityType, operation: Operation) -> Needs:
    return Needs(entity, operation, any_user=True)


def rows(entity: EntityType, operation: Operation, scope: ScopeType) -> Needs:
    """A list query: each row checked at its own scope of `scope`, unreadable rows left out."""
    return Needs(entity, operation, scope, Target.ROWS)
