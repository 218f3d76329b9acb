"""The permission vocabulary: scope types, entity types, operations and the catalogue of
the (scope, entity, operation) triples a role may grant.

Below both `contracts.permissions` (which declares what each message needs in these terms) and
`contracts.rbac` (the role service's contract, which re-exports them), so neither imports the
other.
"""

from __future__ import annotations

from enum import StrEnum


class ScopeType(StrEnum):
    DOMAIN = "domain"
    PROJECT = "project"
    USER = "user"


class EntityType(StrEnum):
    DOMAIN = "domain"
    PROJECT = "project"
    USER = "user"
    KEYPAIR = "keypair"
    KEYPAIR_RESOURCE_POLICY = "keypair_resource_policy"
    USER_RESOURCE_POLICY = "user_resource_policy"
    PROJECT_RESOURCE_POLICY = "project_resource_policy"
    VFOLDER = "vfolder"
    SESSION = "session"
    IMAGE = "image"
    ENDPOINT = "endpoint"
    AGENT = "agent"
    ROLE = "role"


class Operation(StrEnum):
    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    SOFT_DELETE = "soft-delete"
    HARD_DELETE = "hard-delete"
    DELEGATE_ALL = "delegate-all"
    DELEGATE_READ = "delegate-read"
    DELEGATE_UPDATE = "delegate-update"
    DELEGATE_SOFT_DELETE = "delegate-soft-delete"
    DELEGATE_HARD_DELETE = "delegate-hard-delete"


_E, _O = EntityType, Operation
DIRECT_OPERATIONS = (_O.CREATE, _O.READ, _O.UPDATE, _O.SOFT_DELETE, _O.HARD_DELETE)
# delegate-X is the right to grant X to others within the same or a narrower scope; it is
# valid exactly where X is. delegate-all is valid wherever any direct operation is.
DELEGATES = {_O.DELEGATE_READ: _O.READ, _O.DELEGATE_UPDATE: _O.UPDATE,
             _O.DELEGATE_SOFT_DELETE: _O.SOFT_DELETE, _O.DELEGATE_HARD_DELETE: _O.HARD_DELETE}

SCOPE_ENTITIES: dict[ScopeType, tuple[EntityType, ...]] = {
    ScopeType.DOMAIN: (_E.DOMAIN, _E.PROJECT, _E.USER, _E.KEYPAIR, _E.KEYPAIR_RESOURCE_POLICY,
                       _E.USER_RESOURCE_POLICY, _E.PROJECT_RESOURCE_POLICY, _E.VFOLDER, _E.SESSION,
                       _E.IMAGE, _E.ENDPOINT, _E.AGENT, _E.ROLE),
    ScopeType.PROJECT: (_E.PROJECT, _E.USER, _E.VFOLDER, _E.SESSION, _E.ENDPOINT),
    ScopeType.USER: (_E.USER, _E.KEYPAIR, _E.VFOLDER, _E.SESSION, _E.ENDPOINT),
}

# Pairs that make no sense. Keys: (scope type or None for every scope, entity type).
REFUSED: dict[tuple[ScopeType | None, EntityType], frozenset[Operation]] = {
    (ScopeType.DOMAIN, _E.DOMAIN): frozenset({_O.CREATE}),  # a domain does not hold domains
    (ScopeType.PROJECT, _E.PROJECT): frozenset({_O.CREATE}),  # nor a project projects
    (ScopeType.USER, _E.USER): frozenset({_O.CREATE}),  # nor a user users
    (None, _E.AGENT): frozenset({_O.CREATE, _O.UPDATE}),  # agents register themselves
}


def _direct_ops(scope: ScopeType, entity: EntityType) -> tuple[Operation, ...]:
    refused = REFUSED.get((scope, entity), frozenset()) | REFUSED.get((None, entity), frozenset())
    return tuple(op for op in DIRECT_OPERATIONS if op not in refused)


def _build_catalogue() -> frozenset[tuple[str, str, str]]:
    triples: set[tuple[str, str, str]] = set()
    for scope, entities in SCOPE_ENTITIES.items():
        for entity in entities:
            direct = _direct_ops(scope, entity)
            ops = [*direct, *(d for d, op in DELEGATES.items() if op in direct)]
            if direct:
                ops.append(_O.DELEGATE_ALL)
            triples |= {(str(scope), str(entity), str(op)) for op in ops}
    return frozenset(triples)


CATALOGUE: frozenset[tuple[str, str, str]] = _build_catalogue()


def is_valid(scope_type: str, entity_type: str, operation: str) -> bool:
    return (scope_type, entity_type, operation) in CATALOGUE


def entity_valid_at(scope_type: str, entity_type: str) -> bool:
    return any(s == scope_type and e == entity_type for s, e, _ in CATALOGUE)


def operations_for(scope_type: str, entity_type: str) -> list[str]:
    """Valid operations for one permission type at one scope type, in catalogue order."""
    return [str(op) for op in _O if (scope_type, entity_type, str(op)) in CATALOGUE]


class RoleSource(StrEnum):
    SYSTEM = "system"
    CUSTOM = "custom"


class RoleStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
