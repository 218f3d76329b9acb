"""Every command and every query of every service declares the permission it needs, and a
role can grant it (or it is system-wide, system-only or any user's, said explicitly)."""

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


def every_query() -> list[tuple[str, Needs, type]]:
    found = [(subject, module.QUERY_NEEDS.get(subject), payload)
             for module in SERVICES.values()
             for subject, payload in module.QUERY_PAYLOADS.items()
             if subject not in getattr(module, "PUBLIC_QUERIES", ())]
    listing, report = agent.list_subject("a1"), agent.report_subject("a1")
    found.append((listing, agent.query_needs("a1").get(listing), agent.ListContainers))
    found.append((report, agent.query_needs("a1").get(report), agent.ReportRunning))
    return found  # type: ignore[return-value]


@pytest.mark.parametrize("module", SERVICES.values(), ids=SERVICES.keys())
def test_needs_are_declared_for_exactly_the_commands(module: object) -> None:
    assert set(module.COMMAND_NEEDS) == set(module.COMMAND_PAYLOADS)  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", SERVICES.values(), ids=SERVICES.keys())
def test_needs_are_declared_for_exactly_the_queries(module: object) -> None:
    # Only a public query (identity's bus login, which hands proofs out) declares none.
    public = set(getattr(module, "PUBLIC_QUERIES", ()))
    assert public <= {"bai.qry.identity.auth.bus-login.v1"}
    assert set(module.QUERY_NEEDS) | public == set(module.QUERY_PAYLOADS)  # type: ignore[attr-defined]
    assert not set(module.QUERY_NEEDS) & public  # type: ignore[attr-defined]


@pytest.mark.parametrize(("subject", "needs", "payload"), every_query(),
                         ids=[s for s, _, _ in every_query()])
def test_each_query_reads_and_its_declaration_is_grantable(subject: str, needs: Needs,
                                                           payload: type) -> None:
    assert needs is not None, f"{subject} declares no permission"
    assert needs.operation == Operation.READ, f"{subject}: a query needs `read`"
    if needs.scope_type is not None:
        assert needs.grantable(), f"{subject}: no role could grant {needs}"
        for name in needs.fields():
            assert name in payload.model_fields, f"{subject}: no field {name}"
    else:
        assert needs.target is None and not needs.fields()
        assert needs.system_wide or needs.system_only or needs.any_user


def test_list_queries_filter_rows_and_gets_name_their_target() -> None:
    by_subject = {s: n for s, n, _ in every_query()}
    for subject, needs in by_subject.items():
        name = subject.split(".")[4]
        if name == "list" and needs.scope_type is not None and needs.target is not Target.ACTOR:
            assert needs.target is Target.ROWS, subject
        if needs.target is Target.ROWS:
            assert name == "list", f"{subject}: only lists filter rows"


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
    {"scope_type": ScopeType.USER, "target": Target.ROWS, "field": "email"},
    {"target": Target.ROWS},  # rows of a system-wide need
    {"any_user": True, "system_only": True},
    {"any_user": True, "scope_type": ScopeType.USER, "target": Target.ACTOR},
])
def test_malformed_declarations_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Needs(EntityType.USER, Operation.UPDATE, **bad)  # type: ignore[arg-type]
