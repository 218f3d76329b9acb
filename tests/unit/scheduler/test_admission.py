"""Admission: policy → limits, refusals at request time, predicates at scheduling time."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.runtime.errors import CodedError
from services.scheduler.domain import slots as s
from services.scheduler.domain.admission import (
    Limits,
    Usage,
    failed_predicates,
    refuse_at_once,
)

D = Decimal
GIB = 1024**3


def policy(**overrides: Any) -> dict[str, Any]:
    """Quota's keypair policy in wire form (as PolicyCreated carries it)."""
    return {"total_resource_slots": {"cpu": "4", "mem": str(8 * GIB)},
            "default_for_unspecified": "limited", "max_containers_per_session": 2,
            "idle_timeout": "unlimited", "max_concurrent_sessions": 3,
            "max_session_lifetime": "unlimited", "max_pending_session_count": 5,
            "allowed_vfolder_hosts": {}, "max_vfolder_count": "unlimited",
            "max_vfolder_size": "unlimited"} | overrides


def refused(code: str, call: Any) -> CodedError:
    with pytest.raises(CodedError) as caught:
        call()
    assert caught.value.code == f"scheduler.{code}", caught.value.message
    return caught.value


# ---- Limits.from_policy --------------------------------------------------------------------


def test_limited_default_resolves_unnamed_slots_to_zero() -> None:
    limits = Limits.from_policy(policy())
    assert limits.slots == {"cpu": D(4), "mem": D(8 * GIB), "cuda.device": D(0),
                            "cuda.shares": D(0)}
    assert limits.max_concurrent_sessions == 3
    assert limits.max_containers_per_session == 2
    assert limits.max_pending_session_count == 5
    assert limits.idle_timeout == s.INF
    assert limits.max_session_lifetime == s.INF


def test_unlimited_default_resolves_unnamed_slots_to_infinity() -> None:
    limits = Limits.from_policy(policy(default_for_unspecified="unlimited"))
    assert limits.slots == {"cpu": D(4), "mem": D(8 * GIB), "cuda.device": s.INF,
                            "cuda.shares": s.INF}


def test_a_slot_named_unlimited_is_infinite_and_unnamed_slots_are_zero() -> None:
    limits = Limits.from_policy(policy(total_resource_slots={"cpu": "unlimited",
                                                             "cuda.shares": "0.5"}))
    assert limits.slots == {"cpu": s.INF, "mem": D(0), "cuda.device": D(0),
                            "cuda.shares": D("0.5")}


def test_scalars_unlimited_missing_or_numbers() -> None:
    limits = Limits.from_policy({"total_resource_slots": {}, "idle_timeout": 600,
                                 "max_session_lifetime": "3600",
                                 "max_concurrent_sessions": "unlimited",
                                 "max_pending_session_count": None})
    assert limits.idle_timeout == 600
    assert limits.max_session_lifetime == 3600
    assert limits.max_concurrent_sessions == s.INF
    assert limits.max_pending_session_count == s.INF
    assert limits.max_containers_per_session == s.INF      # absent
    assert limits.slots == {slot: D(0) for slot in s.KNOWN}  # limited by default


def test_an_empty_policy_limits_every_slot_to_zero_and_sessions_not_at_all() -> None:
    limits = Limits.from_policy({})
    assert limits.slots == {slot: D(0) for slot in s.KNOWN}
    assert limits.max_concurrent_sessions == s.INF


def test_unlimited_limits_allow_every_slot_and_any_number_of_sessions() -> None:
    limits = Limits.unlimited()
    assert limits.slots == {slot: s.INF for slot in s.KNOWN}
    assert limits.max_concurrent_sessions == s.INF


# ---- refuse_at_once ----------------------------------------------------------------------

AGENT = [{"cpu": D(16), "mem": D(64 * GIB), "cuda.device": D(0), "cuda.shares": D(0)}]  # one agent


def test_within_policy_and_cluster_passes() -> None:
    limits = Limits.from_policy(policy())
    refuse_at_once({"cpu": D(4), "mem": D(8 * GIB)}, 1, limits, Usage(), AGENT)
    refuse_at_once({"cpu": D(2)}, 2, limits, Usage(), AGENT)
    refuse_at_once({"cpu": D(100)}, 1, Limits.unlimited(), Usage(), None)  # no agents: no check


def test_exceeds_policy_slot_names_the_limit_and_over_by() -> None:
    limits = Limits.from_policy(policy())
    error = refused("session.exceeds_policy", lambda: refuse_at_once(
        {"cpu": D(6)}, 1, limits, Usage(), AGENT))
    assert error.details["limit"] == "total_resource_slots.cpu"
    assert error.details["over_by"] == {"cpu": "2"}
    assert error.details["allowed"] == {"cpu": "4"}
    assert "by 2" in error.message


def test_exceeds_policy_on_a_slot_the_policy_does_not_name() -> None:
    limits = Limits.from_policy(policy())  # limited: cuda.device is 0
    error = refused("session.exceeds_policy", lambda: refuse_at_once(
        {"cuda.device": D(1)}, 1, limits, Usage(), None))
    assert error.details["limit"] == "total_resource_slots.cuda.device"
    assert error.details["over_by"] == {"cuda.device": "1"}
    assert error.details["allowed"] == {"cuda.device": "0"}


def test_exceeds_policy_counts_the_whole_cluster() -> None:
    limits = Limits.from_policy(policy())
    error = refused("session.exceeds_policy", lambda: refuse_at_once(
        {"cpu": D(3)}, 2, limits, Usage(), AGENT))
    assert error.details["over_by"] == {"cpu": "2"}


def test_exceeds_policy_ignores_current_usage() -> None:
    """Usage only makes a request wait; the policy refusal is about the request alone."""
    limits = Limits.from_policy(policy())
    refuse_at_once({"cpu": D(4)}, 1, limits, Usage({"cpu": D(4)}, 3, 0), AGENT)


def test_exceeds_max_containers_per_session() -> None:
    limits = Limits.from_policy(policy())
    error = refused("session.exceeds_policy", lambda: refuse_at_once(
        {"cpu": D(1)}, 3, limits, Usage(), AGENT))
    assert error.details["limit"] == "max_containers_per_session"
    assert error.details["requested"] == 3
    assert error.details["allowed"] == "2"


def test_a_request_no_agent_could_hold_is_refused_as_exceeding_the_cluster() -> None:
    limits = Limits.unlimited()
    error = refused("session.exceeds_cluster", lambda: refuse_at_once(
        {"cpu": D(8), "cuda.device": D(2)}, 1, limits, Usage(), AGENT))
    assert error.details["over_by"] == {"cuda.device": "2"}
    assert error.details["limit"] == "cluster.cuda.device"
    error = refused("session.exceeds_cluster", lambda: refuse_at_once(
        {"cpu": D(20)}, 1, limits, Usage(), AGENT))
    assert error.details == {"limit": "cluster.cpu", "over_by": {"cpu": "4"}}


def test_cluster_check_needs_one_agent_that_holds_every_container() -> None:
    agents = [{"cpu": D(16), "cuda.device": D(0)}, {"cpu": D(2), "cuda.device": D(1)}]
    refused("session.exceeds_cluster", lambda: refuse_at_once(
        {"cpu": D(8), "cuda.device": D(1)}, 1, Limits.unlimited(), Usage(), agents))
    refused("session.exceeds_cluster", lambda: refuse_at_once(
        {"cpu": D(10)}, 2, Limits.unlimited(), Usage(), agents))
    refuse_at_once({"cpu": D(8)}, 2, Limits.unlimited(), Usage(), agents)


def test_policy_is_checked_before_the_cluster() -> None:
    limits = Limits.from_policy(policy())
    refused("session.exceeds_policy", lambda: refuse_at_once(
        {"cpu": D(20)}, 1, limits, Usage(), AGENT))


def test_a_request_at_max_pending_session_count_is_refused_unless_unlimited() -> None:
    limits = Limits.from_policy(policy())
    refuse_at_once({"cpu": D(1)}, 1, limits, Usage({}, 0, 4), AGENT)
    error = refused("session.too_many_pending", lambda: refuse_at_once(
        {"cpu": D(1)}, 1, limits, Usage({}, 0, 5), AGENT))
    assert error.details == {"limit": "max_pending_session_count"}
    refuse_at_once({"cpu": D(1)}, 1, Limits.unlimited(), Usage({}, 0, 10_000), AGENT)


# ---- failed_predicates -------------------------------------------------------------------


def test_nothing_fails_with_room() -> None:
    limits = Limits.from_policy(policy())
    assert failed_predicates({"cpu": D(1)}, 1, limits, Usage({"cpu": D(3)}, 2, 0)) == []


def test_max_concurrent_sessions_reached_fails_the_concurrency_predicate() -> None:
    limits = Limits.from_policy(policy())
    failed = failed_predicates({"cpu": D(1)}, 1, limits, Usage({"cpu": D(1)}, 3, 0))
    assert failed == ["concurrency: 3 of 3 sessions already run"]


def test_usage_plus_request_over_the_keypair_slots_fails_naming_each_slot_over() -> None:
    limits = Limits.from_policy(policy())
    failed = failed_predicates({"cpu": D(2), "mem": D(GIB)}, 1, limits,
                               Usage({"cpu": D(3), "mem": D(8 * GIB)}, 1, 0))
    assert failed == [f"keypair_resource_limit: over by cpu 1, mem {GIB}"]


def test_slot_limit_counts_the_whole_cluster() -> None:
    limits = Limits.from_policy(policy())
    assert failed_predicates({"cpu": D(2)}, 2, limits, Usage()) == []
    assert failed_predicates({"cpu": D(2)}, 2, limits, Usage({"cpu": D(1)}, 1, 0)) == [
        "keypair_resource_limit: over by cpu 1"]


def test_concurrency_and_slot_limit_failures_are_both_reported_in_order() -> None:
    limits = Limits.from_policy(policy())
    failed = failed_predicates({"cpu": D(2)}, 1, limits, Usage({"cpu": D(4)}, 3, 0))
    assert [f.split(":")[0] for f in failed] == ["concurrency", "keypair_resource_limit"]


def test_unlimited_limits_never_fail_a_predicate() -> None:
    assert failed_predicates({"cpu": D(10**6)}, 10, Limits.unlimited(),
                             Usage({"cpu": D(10**9)}, 10**6, 0)) == []
