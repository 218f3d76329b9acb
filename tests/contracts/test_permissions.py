"""Every command of every service declares the permission it needs, and a role can grant it."""

from __future__ import annotations

import pytest

from contracts import agent, identity, quota, rbac, scheduler, storage
from contracts.permissions import DELEGATE_ALL, DELEGATE_PREFIX, Needs, Target
from contracts.rbac import CATALOGUE, EntityType, Operation, ScopeType

SERVICES = {"identity": identity, "quota": quota, "scheduler": scheduler, "rbac": rbac,
            "storage": storage}


def every_command() -> list[tuple[str, Needs, type]]:
    found = [(subject, module.COMMAND_NEEDS.get(subject), payload)
             for module in SERVICES.values()
             for subject, payload in module.COMMAND_PAYLOADS.items()]
    directed = agent.command_needs("a1")
    found += [(agent.start_subject("a1"), directed.get(agent.start_subject("a1")),
               agent.StartContainer),
              (agent.stop_subject("a1"), directed.get(agent.stop_subject("a1")),
               agent.StopContainer)]
    return found  # type: ignore[return-value]


@pytest.mark.parametrize("module", SERVICES.values(), ids=SERVICES.keys())
def test_needs_are_declared_for_exactly_the_commands(module: object) -> None:
    assert set(module.COMMAND_NEEDS) == set(module.COMMAND_PAYLOADS)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("subject", "needs", "payload"), every_command(),
                         ids=[s for s, _, _ in every_command()])
def test_each_declaration_is_grantable_and_names_a_real_field(subject: str, needs: Needs,
                                                              payload: type) -> None:
    assert needs is not None, f"{subject} declares no permission"
    if needs.scope_type is not None:
        assert needs.triple() in CATALOGUE, f"{subject}: no role could grant {needs}"
        if needs.field is not None:
            assert needs.field in payload.model_fields, f"{subject}: no field {needs.field}"
    else:
        assert needs.target is None and needs.field is None


def test_the_privileged_update_is_grantable_too() -> None:
    assert identity.PRIVILEGED_USER_UPDATE.grantable()
    assert set(identity.PRIVILEGED_USER_FIELDS) <= set(identity.UpdateUser.model_fields)


def test_delegate_naming_matches_the_operations() -> None:
    delegates = {str(op) for op in Operation if str(op).startswith(DELEGATE_PREFIX)}
    assert DELEGATE_ALL in delegates
    assert delegates == {str(op) for op in rbac.DELEGATES} | {DELEGATE_ALL}


@pytest.mark.parametrize("bad", [
    {"scope_type": ScopeType.USER},  # scoped without a target
    {"scope_type": ScopeType.USER, "target": Target.USER},  # target without its field
    {"scope_type": ScopeType.USER, "target": Target.ACTOR, "field": "email"},
])
def test_malformed_declarations_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Needs(EntityType.USER, Operation.UPDATE, **bad)  # type: ignore[arg-type]
