"""Quota's rules inside its aggregates: Policy refuses or records one event per command."""

from __future__ import annotations

import pytest

from services.quota.domain.errors import QuotaError
from services.quota.domain.model import Assignment, Policy, PolicyUsage


def code(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(QuotaError) as refused:
        call()
    return refused.value.code


def test_a_change_records_the_whole_policy_and_only_the_fields_that_changed() -> None:
    policy = Policy(kind="keypair", name="p", values={"a": 1, "b": 2})
    assert policy.change({"a": 1, "b": 3}) == ["b"]
    assert policy.change({"a": 1}) == []  # nothing changed: nothing recorded
    events = policy.collect_events()
    assert [type(e).__name__ for e in events] == ["Created", "Updated"]
    assert (events[1].values, events[1].changed) == ({"a": 1, "b": 3}, ["b"])


def test_a_policy_is_never_renamed() -> None:
    policy = Policy(kind="user", name="p", values={})
    assert code(lambda: policy.change({}, new_name="q")) == "quota.policy.name_immutable"
    assert policy.change({}, new_name="p") == []


def test_default_and_referenced_policies_are_not_deleted() -> None:
    default = Policy(kind="keypair", name="default", values={})
    assert code(lambda: default.delete(None)) == "quota.policy.protected"
    used = Policy(kind="keypair", name="gpu", values={})
    usage = PolicyUsage(kind="keypair", name="gpu")
    usage.reference("AKIA1", "AKIA1 (a@x.test)")
    assert code(lambda: used.delete(usage)) == "quota.policy.in_use"
    usage.release("AKIA1")
    used.delete(usage)
    assert used.deleted


def test_only_a_deleted_policy_is_created_again() -> None:
    policy = Policy(kind="project", name="p", values={"x": 1})
    assert code(lambda: policy.create_again({"x": 2})) == "quota.policy.name_taken"
    policy.delete(None)
    policy.create_again({"x": 2})
    assert (policy.deleted, policy.values) == (False, {"x": 2})


def test_an_assignment_moves_only_to_another_policy() -> None:
    assignment = Assignment(kind="user", subject="u1", policy="a", label="u1@x.test")
    assert not assignment.move_to("a")
    assert assignment.move_to("b") and assignment.policy == "b"
