"""The catalogue: the single list of valid (scope type, entity type, operation) triples."""

from __future__ import annotations

import pytest

from contracts import rbac as c


def test_every_triple_uses_known_names() -> None:
    for scope, entity, op in c.CATALOGUE:
        assert c.ScopeType(scope) and c.EntityType(entity) and c.Operation(op)
        assert c.EntityType(entity) in c.SCOPE_ENTITIES[c.ScopeType(scope)]


@pytest.mark.parametrize(("scope", "entity", "op"), [
    ("domain", "domain", "create"),  # a domain does not hold domains
    ("domain", "agent", "create"),
    ("domain", "agent", "update"),
    ("domain", "agent", "delegate-update"),  # a delegate is valid only where its op is
    ("project", "image", "read"),  # images are not a project-scope permission type
    ("user", "agent", "read"),
    ("user", "user", "create"),
    ("project", "project", "create"),
])
def test_senseless_triples_are_refused(scope: str, entity: str, op: str) -> None:
    assert not c.is_valid(scope, entity, op)


@pytest.mark.parametrize(("scope", "entity", "op"), [
    ("project", "vfolder", "create"),  # the seed's examples
    ("domain", "session", "read"),
    ("domain", "endpoint", "create"),
    ("domain", "endpoint", "update"),
    ("domain", "image", "soft-delete"),
    ("domain", "agent", "read"),
    ("domain", "domain", "update"),
    ("domain", "role", "delegate-all"),
    ("user", "keypair", "delegate-hard-delete"),
])
def test_sensible_triples_are_valid(scope: str, entity: str, op: str) -> None:
    assert c.is_valid(scope, entity, op)


def test_every_valid_pair_has_delegate_all_and_its_delegates() -> None:
    for scope, entities in c.SCOPE_ENTITIES.items():
        for entity in entities:
            ops = c.operations_for(scope, entity)
            assert "delegate-all" in ops
            for delegate, direct in c.DELEGATES.items():
                assert (delegate in ops) == (direct in ops)


def test_the_design_table_sizes() -> None:
    assert len(c.SCOPE_ENTITIES[c.ScopeType.DOMAIN]) == 13
    assert [str(e) for e in c.SCOPE_ENTITIES[c.ScopeType.PROJECT]] == [
        "project", "user", "vfolder", "session", "endpoint"]
    assert [str(e) for e in c.SCOPE_ENTITIES[c.ScopeType.USER]] == [
        "user", "keypair", "vfolder", "session", "endpoint"]
