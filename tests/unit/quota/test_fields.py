"""Policy field rules (services/quota/domain/fields.py): ranges, steps, units, "unlimited".

Pure functions: no bus, no store, no mocks.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from contracts.quota import effective_slots
from services.quota.domain import fields as f
from services.quota.domain.errors import QuotaError

GIB = 1024**3
GB = 1000**3
KEYPAIR = f.SCALAR_RULES["keypair"]
USER = f.SCALAR_RULES["user"]
PROJECT = f.SCALAR_RULES["project"]


def refused(call: Any, *args: Any) -> QuotaError:
    with pytest.raises(QuotaError) as info:
        call(*args)
    return info.value


def slot(name: str, raw: Any) -> str:
    return f.read_slots({name: raw})[name]


def slot_refusal(name: str, raw: Any) -> str:
    error = refused(f.read_slots, {name: raw})
    assert error.details["field"] == f"total_resource_slots.{name}"
    assert error.details["range"] == f.SLOT_RULES[name].describe()
    return error.code


def scalar(kind: str, field: str, raw: Any) -> Any:
    return f.read_fields(kind, {field: raw})[field]


def scalar_refusal(kind: str, field: str, raw: Any) -> str:
    error = refused(f.read_fields, kind, {field: raw})
    assert error.details["field"] == field
    assert error.details["range"] == f.SCALAR_RULES[kind][field].describe()
    assert field in error.message
    return error.code


# ---- the set of rules itself ----------------------------------------------------------------


def test_rules_cover_every_field_of_the_contracts() -> None:
    from contracts.quota import KeypairPolicyFields, ProjectPolicyFields, UserPolicyFields

    structured = {"total_resource_slots", "default_for_unspecified", "allowed_vfolder_hosts"}
    assert set(KEYPAIR) == set(KeypairPolicyFields.model_fields) - structured
    assert set(USER) == set(UserPolicyFields.model_fields)
    assert set(PROJECT) == set(ProjectPolicyFields.model_fields)
    assert set(f.SLOT_RULES) == {"cpu", "mem", "cuda.device", "cuda.shares"}


def test_describe_names_range_step_unit_and_unlimited() -> None:
    assert f.SLOT_RULES["cpu"].describe() == "0..512 (step 0.01) or 'unlimited'"
    assert f.SLOT_RULES["mem"].describe() == "0..1024 GiB (step 0.001) or 'unlimited'"
    assert f.SLOT_RULES["cuda.shares"].describe() == "0..256 (step 0.1) or 'unlimited'"
    assert KEYPAIR["max_vfolder_size"].describe() == "0..1024 GB (step 1) or 'unlimited'"


# ---- slots ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "stored"), [
    (0, "0"), (1, "1"), ("2", "2"), (2.5, "2.5"), ("0.01", "0.01"), ("511.99", "511.99"),
    (512, "512"), ("512.00", "512"), ("1e2", "100"), ("1E-2", "0.01"), ("  7 ", "7"),
    ("-0", "0"), ("-0.0", "0"), ("0.00", "0"),
])
def test_cpu_in_range_is_a_canonical_decimal_string(raw: Any, stored: str) -> None:
    assert slot("cpu", raw) == stored


@pytest.mark.parametrize(("raw", "code"), [
    (512.01, "quota.policy.out_of_range"), ("513", "quota.policy.out_of_range"),
    (10**30, "quota.policy.out_of_range"), ("1e999999999", "quota.policy.out_of_range"),
    (-1, "quota.policy.out_of_range"), ("-0.01", "quota.policy.out_of_range"),
    ("0.001", "quota.policy.bad_step"), ("1.005", "quota.policy.bad_step"),
    (1e-30, "quota.policy.bad_step"), ("1e-999999", "quota.policy.bad_step"),
    # beyond the decimal context's exponent range: `%` would underflow to 0
    ("1e-999999999999", "quota.policy.bad_step"), (5e-324, "quota.policy.bad_step"),
])
def test_cpu_out_of_range_or_off_step_is_refused(raw: Any, code: str) -> None:
    assert slot_refusal("cpu", raw) == code


@pytest.mark.parametrize(("gib", "stored"), [
    (0, 0), (1, GIB), ("4", 4 * GIB), (1.5, 3 * GIB // 2), ("0.5", GIB // 2),
    (1024, 1024 * GIB), ("1024.000", 1024 * GIB), ("-0", 0),
])
def test_mem_is_gib_in_commands_and_bytes_when_stored(gib: Any, stored: int) -> None:
    assert slot("mem", gib) == str(stored)


@pytest.mark.parametrize(("raw", "code"), [
    ("1024.001", "quota.policy.out_of_range"), (1025, "quota.policy.out_of_range"),
    (1024 * GIB, "quota.policy.out_of_range"),  # bytes are not accepted in commands
    (-1, "quota.policy.out_of_range"), ("0.0001", "quota.policy.bad_step"),
])
def test_mem_over_1024_gib_negative_or_off_step_is_refused(raw: Any, code: str) -> None:
    assert slot_refusal("mem", raw) == code


@pytest.mark.parametrize(("raw", "stored"), [(0, "0"), (1, "1"), ("8", "8"), (64, "64"),
                                             ("64.0", "64")])
def test_cuda_device_up_to_64_whole_devices(raw: Any, stored: str) -> None:
    assert slot("cuda.device", raw) == stored


@pytest.mark.parametrize(("raw", "code"), [
    (65, "quota.policy.out_of_range"), (-1, "quota.policy.out_of_range"),
    (0.5, "quota.policy.bad_step"), ("1.1", "quota.policy.bad_step"),
])
def test_cuda_device_over_64_negative_or_fractional_is_refused(raw: Any, code: str) -> None:
    assert slot_refusal("cuda.device", raw) == code


@pytest.mark.parametrize(("raw", "stored"), [
    (0, "0"), ("0.1", "0.1"), (0.5, "0.5"), ("1", "1"), ("1.0", "1"), ("255.9", "255.9"),
    (256, "256"), ("-0", "0"),
])
def test_cuda_shares_fractional_in_tenths_up_to_256(raw: Any, stored: str) -> None:
    assert slot("cuda.shares", raw) == stored


@pytest.mark.parametrize(("raw", "code"), [
    ("256.1", "quota.policy.out_of_range"), (257, "quota.policy.out_of_range"),
    ("-0.1", "quota.policy.out_of_range"), ("0.15", "quota.policy.bad_step"),
    (0.01, "quota.policy.bad_step"), (0.30000000000000004, "quota.policy.bad_step"),
])
def test_cuda_shares_over_256_negative_or_finer_than_tenths_is_refused(raw: Any, code: str) -> None:
    assert slot_refusal("cuda.shares", raw) == code


@pytest.mark.parametrize("name", sorted(f.SLOT_RULES))
@pytest.mark.parametrize("raw", ["unlimited", "UNLIMITED", " Unlimited "])
def test_every_slot_accepts_the_one_spelling_of_unlimited(name: str, raw: str) -> None:
    assert slot(name, raw) == "unlimited"


@pytest.mark.parametrize("name", sorted(f.SLOT_RULES))
@pytest.mark.parametrize("raw", ["NaN", "nan", "sNaN", "-NaN", "Infinity", "-Infinity", "inf",
                                 float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_out_of_range_for_every_slot(name: str, raw: Any) -> None:
    assert slot_refusal(name, raw) == "quota.policy.out_of_range"


@pytest.mark.parametrize("name", sorted(f.SLOT_RULES))
@pytest.mark.parametrize("raw", [True, False, None, "", " ", "two", "1,5", "0x10", "1 2",
                                 "unlimited!", "infinite", [1], {"v": 1}, "None"])
def test_non_numbers_are_refused_for_every_slot(name: str, raw: Any) -> None:
    assert slot_refusal(name, raw) == "quota.policy.not_a_number"


def test_zero_is_a_real_limit_for_slots_never_unlimited() -> None:
    assert f.read_slots({s: 0 for s in f.SLOT_RULES}) == {s: "0" for s in f.SLOT_RULES}


@pytest.mark.parametrize("name", ["tpu", "CPU", "memory", "cuda", "cuda.mem", "", "cpu "])
def test_unknown_slot_is_refused_with_the_known_ones(name: str) -> None:
    error = refused(f.read_slots, {name: 1})
    assert error.code == "quota.policy.unknown_slot"
    assert error.details["field"] == f"total_resource_slots.{name}"
    assert error.details["known"] == sorted(f.SLOT_RULES)


def test_read_slots_returns_only_the_named_slots_as_strings() -> None:
    assert f.read_slots({"cpu": 2, "mem": "4", "cuda.shares": "1"}) == {
        "cpu": "2", "mem": str(4 * GIB), "cuda.shares": "1"}
    assert f.read_slots({}) == {}


# ---- scalar fields ------------------------------------------------------------------------

# (kind, field, maximum in command units, bytes per unit or 0, step, minimum)
SCALARS = [
    ("keypair", "max_containers_per_session", 100, 0, 1, 1),
    ("keypair", "idle_timeout", 15_552_000, 0, 1, 0),
    ("keypair", "max_concurrent_sessions", 100, 0, 1, 0),
    ("keypair", "max_session_lifetime", 315_360_000, 0, 1, 0),
    ("keypair", "max_pending_session_count", 10_000, 0, 1, 0),
    ("keypair", "max_vfolder_count", 50, 0, 1, 0),
    ("keypair", "max_vfolder_size", 1024, GB, 1, 0),
    ("user", "max_vfolder_count", 50, 0, 1, 0),
    ("user", "max_quota_scope_size", 1024, GIB, Decimal("0.001"), 0),
    ("user", "max_session_count_per_model_session", 100, 0, 1, 0),
    ("user", "max_customized_image_count", 100, 0, 1, 0),
    ("user", "max_concurrent_logins", 1000, 0, 1, 1),
    ("project", "max_vfolder_count", 50, 0, 1, 0),
    ("project", "max_quota_scope_size", 1024, GIB, Decimal("0.001"), 0),
    ("project", "max_network_count", 100, 0, 1, 0),
]
SCALAR_IDS = [f"{kind}.{field}" for kind, field, *_ in SCALARS]
ZERO_IS_UNLIMITED = {("keypair", "idle_timeout"), ("keypair", "max_concurrent_sessions"),
                     ("keypair", "max_session_lifetime"), ("keypair", "max_vfolder_count"),
                     ("keypair", "max_vfolder_size"), ("user", "max_vfolder_count"),
                     ("user", "max_quota_scope_size"),
                     ("user", "max_session_count_per_model_session"),
                     ("project", "max_vfolder_count"), ("project", "max_quota_scope_size"),
                     ("project", "max_network_count")}
NONE_IS_UNLIMITED = {("keypair", "max_pending_session_count"),
                     ("user", "max_concurrent_logins")}


def test_the_documented_issue_ranges() -> None:
    assert KEYPAIR["max_containers_per_session"].maximum == 100
    assert KEYPAIR["idle_timeout"].maximum == 15_552_000
    assert KEYPAIR["max_concurrent_sessions"].maximum == 100
    assert KEYPAIR["max_vfolder_count"].maximum == 50
    assert KEYPAIR["max_vfolder_size"].maximum == 1024
    zero = {(k, n) for k, rules in f.SCALAR_RULES.items() for n, r in rules.items()
            if r.zero_is_unlimited}
    none = {(k, n) for k, rules in f.SCALAR_RULES.items() for n, r in rules.items()
            if r.none_is_unlimited}
    assert zero == ZERO_IS_UNLIMITED
    assert none == NONE_IS_UNLIMITED


@pytest.mark.parametrize(("kind", "field", "maximum", "unit", "step", "minimum"), SCALARS,
                         ids=SCALAR_IDS)
def test_scalar_maximum_is_accepted_and_one_step_more_is_refused(
        kind: str, field: str, maximum: int, unit: int, step: Any, minimum: int) -> None:
    assert scalar(kind, field, maximum) == (maximum * unit if unit else maximum)
    assert scalar(kind, field, str(maximum)) == scalar(kind, field, maximum)
    over = Decimal(maximum) + Decimal(step)
    assert scalar_refusal(kind, field, str(over)) == "quota.policy.out_of_range"
    assert scalar_refusal(kind, field, maximum * 10) == "quota.policy.out_of_range"
    assert scalar_refusal(kind, field, "1e400") == "quota.policy.out_of_range"


@pytest.mark.parametrize(("kind", "field", "maximum", "unit", "step", "minimum"), SCALARS,
                         ids=SCALAR_IDS)
def test_scalar_minimum_and_negatives(kind: str, field: str, maximum: int, unit: int,
                                      step: Any, minimum: int) -> None:
    low = max(minimum, 1)
    assert scalar(kind, field, low) == (low * unit if unit else low)
    for negative in (-1, "-1", -0.5, "-1e9", -(10**20)):
        assert scalar_refusal(kind, field, negative) == "quota.policy.out_of_range"
    if minimum == 1:
        assert scalar_refusal(kind, field, 0) == "quota.policy.out_of_range"


@pytest.mark.parametrize(("kind", "field", "maximum", "unit", "step", "minimum"), SCALARS,
                         ids=SCALAR_IDS)
def test_zero_means_unlimited_only_where_documented(kind: str, field: str, maximum: int,
                                                    unit: int, step: Any, minimum: int) -> None:
    if (kind, field) in ZERO_IS_UNLIMITED:
        assert scalar(kind, field, 0) == "unlimited"
        assert scalar(kind, field, "0") == "unlimited"
        assert scalar(kind, field, "-0") == "unlimited"
        assert scalar(kind, field, 0.0) == "unlimited"
    elif minimum == 0:
        assert scalar(kind, field, 0) == 0
    else:
        assert scalar_refusal(kind, field, 0) == "quota.policy.out_of_range"


@pytest.mark.parametrize(("kind", "field", "maximum", "unit", "step", "minimum"), SCALARS,
                         ids=SCALAR_IDS)
def test_none_means_unlimited_only_where_documented(kind: str, field: str, maximum: int,
                                                    unit: int, step: Any, minimum: int) -> None:
    if (kind, field) in NONE_IS_UNLIMITED:
        assert scalar(kind, field, None) == "unlimited"
    else:
        assert scalar_refusal(kind, field, None) == "quota.policy.not_a_number"


@pytest.mark.parametrize(("kind", "field", "maximum", "unit", "step", "minimum"), SCALARS,
                         ids=SCALAR_IDS)
def test_scalars_refuse_non_numbers_nan_infinity_and_booleans(
        kind: str, field: str, maximum: int, unit: int, step: Any, minimum: int) -> None:
    for raw in (True, False, "ten", "", "1O", [5], {"n": 5}, "0x1"):
        assert scalar_refusal(kind, field, raw) == "quota.policy.not_a_number", raw
    for raw in ("NaN", "Infinity", "-Infinity", float("nan"), float("inf")):
        assert scalar_refusal(kind, field, raw) == "quota.policy.out_of_range", raw
    assert scalar(kind, field, "unlimited") == "unlimited"


@pytest.mark.parametrize(("kind", "field", "maximum", "unit", "step", "minimum"), SCALARS,
                         ids=SCALAR_IDS)
def test_each_scalar_accepts_values_on_its_step_and_refuses_values_off_it(
        kind: str, field: str, maximum: int, unit: int, step: Any, minimum: int) -> None:
    if step == 1:
        assert scalar_refusal(kind, field, "1.5") == "quota.policy.bad_step"
        assert scalar(kind, field, "2.0") == (2 * unit if unit else 2)
        assert isinstance(scalar(kind, field, "2.0"), int)
    else:
        assert scalar(kind, field, "0.5") == unit // 2
        assert scalar_refusal(kind, field, "0.0005") == "quota.policy.bad_step"


@pytest.mark.parametrize(("kind", "field", "maximum", "unit", "step", "minimum"), SCALARS,
                         ids=SCALAR_IDS)
def test_a_value_below_every_step_is_never_read_as_zero(kind: str, field: str, maximum: int,
                                                        unit: int, step: Any,
                                                        minimum: int) -> None:
    for raw in ("1e-999999999999", "1E-1000000", 5e-324):
        code = scalar_refusal(kind, field, raw)
        assert code == ("quota.policy.out_of_range" if minimum else "quota.policy.bad_step")
    for zero in ("0E-999999999999", "-0E+5", "0.000"):
        expected = "unlimited" if (kind, field) in ZERO_IS_UNLIMITED else 0
        if minimum:
            assert scalar_refusal(kind, field, zero) == "quota.policy.out_of_range"
        else:
            assert scalar(kind, field, zero) == expected


def test_idle_timeout_is_seconds_and_zero_means_never() -> None:
    assert scalar("keypair", "idle_timeout", 3600) == 3600
    assert scalar("keypair", "idle_timeout", 0) == "unlimited"
    assert scalar_refusal("keypair", "idle_timeout", 15_552_001) == "quota.policy.out_of_range"


def test_max_pending_session_count_none_is_no_cap_but_zero_is_a_cap() -> None:
    assert scalar("keypair", "max_pending_session_count", None) == "unlimited"
    assert scalar("keypair", "max_pending_session_count", 0) == 0


def test_max_vfolder_size_is_gb_in_commands_and_bytes_when_stored() -> None:
    assert scalar("keypair", "max_vfolder_size", 1) == GB
    assert scalar("keypair", "max_vfolder_size", 1024) == 1024 * GB


# ---- structured fields and read_fields ---------------------------------------------------


def test_read_fields_returns_only_the_fields_given() -> None:
    assert f.read_fields("keypair", {}) == {}
    assert f.read_fields("keypair", {"name": "x", "max_concurrent_sessions": 3}) == {
        "max_concurrent_sessions": 3}
    assert f.read_fields("user", {"max_vfolder_count": 0}) == {"max_vfolder_count": "unlimited"}


def test_keypair_only_fields_are_ignored_for_other_tiers() -> None:
    given = {"total_resource_slots": {"tpu": 1}, "allowed_vfolder_hosts": {"": ["x"]},
             "default_for_unspecified": "maybe"}
    assert f.read_fields("user", given) == {}
    assert f.read_fields("project", given) == {}


@pytest.mark.parametrize("choice", ["limited", "unlimited"])
def test_default_for_unspecified_choices(choice: str) -> None:
    assert f.read_fields("keypair", {"default_for_unspecified": choice}) == {
        "default_for_unspecified": choice}


@pytest.mark.parametrize("choice", ["maybe", "", "Limited ", 1, True])
def test_default_for_unspecified_other_values_are_refused(choice: Any) -> None:
    error = refused(f.read_fields, "keypair", {"default_for_unspecified": choice})
    assert error.code.startswith("quota.policy.")
    assert error.details["field"] == "default_for_unspecified"


@pytest.mark.parametrize("field", ["total_resource_slots", "allowed_vfolder_hosts",
                                   "default_for_unspecified"])
def test_explicit_null_for_a_structured_field_leaves_it_unchanged(field: str) -> None:
    """The contract's default (None) means "not given"; it must never be stored as 'None'."""
    assert f.read_fields("keypair", {field: None}) == {}


def test_vfolder_hosts_keep_known_permissions_sorted_and_deduplicated() -> None:
    got = f.read_vfolder_hosts({"local:volume1": ["upload-file", "create-vfolder",
                                                  "upload-file"], "nfs": []})
    assert got == {"local:volume1": ["create-vfolder", "upload-file"], "nfs": []}
    every = sorted(f.VFOLDER_HOST_PERMISSIONS)
    assert f.read_vfolder_hosts({"h": every}) == {"h": every}
    assert len(every) == 8


@pytest.mark.parametrize(("hosts", "unknown"), [
    ({"h": ["fly"]}, ["fly"]), ({"h": ["upload-file", "Upload-File"]}, ["Upload-File"]),
    ({"": ["upload-file"]}, []), ({"": []}, []), ({"h": [""]}, [""]),
])
def test_vfolder_hosts_unknown_permission_or_empty_host_is_refused(
        hosts: dict[str, list[str]], unknown: list[str]) -> None:
    error = refused(f.read_vfolder_hosts, hosts)
    assert error.code == "quota.policy.bad_vfolder_host"
    assert error.details["unknown"] == unknown
    assert error.details["known"] == sorted(f.VFOLDER_HOST_PERMISSIONS)
    assert error.details["field"].startswith("allowed_vfolder_hosts.")


def test_first_bad_field_wins_and_nothing_partial_is_returned() -> None:
    error = refused(f.read_fields, "keypair", {"max_concurrent_sessions": 5, "idle_timeout": -1})
    assert error.details["field"] == "idle_timeout"


# ---- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "a", "gpu-large", "team_1.v2", "A" * 64, "9lives"])
def test_names_of_letters_digits_dots_dashes_and_underscores_are_accepted(name: str) -> None:
    assert f.check_name(name) == name


@pytest.mark.parametrize("name", ["", "A" * 65, "-lead", ".dot", "_under", "has space",
                                  "slash/x", "ümlaut", "tab\t", "new\nline", "semi;colon"])
def test_invalid_names_are_refused(name: str) -> None:
    error = refused(f.check_name, name)
    assert error.code == "quota.policy.name_invalid"
    assert error.details == {"field": "name", "max": 64}


# ---- defaults and effective slots ------------------------------------------------------------


def test_each_tier_has_its_own_defaults_and_a_keypair_is_limited_by_default() -> None:
    keypair = f.defaults("keypair")
    assert keypair["total_resource_slots"] == {}
    assert keypair["default_for_unspecified"] == "limited"
    assert keypair["allowed_vfolder_hosts"] == {}
    assert keypair["max_containers_per_session"] == 1
    assert keypair["max_concurrent_sessions"] == "unlimited"
    assert set(f.defaults("user")) == set(USER)
    assert f.defaults("user")["max_customized_image_count"] == 3
    assert set(f.defaults("project")) == set(PROJECT)


def test_the_bootstrapped_default_policy_is_unlimited() -> None:
    policy = f.unlimited_keypair_policy()
    assert policy["default_for_unspecified"] == "unlimited"
    assert policy["total_resource_slots"] == {}
    assert effective_slots(policy) == {s: "unlimited" for s in f.SLOT_RULES}
    for field, value in policy.items():
        if field in KEYPAIR and value != "unlimited":
            f.read_quantity(field, value, KEYPAIR[field])  # in range


def test_effective_slots_limited_fallback_is_zero_for_unnamed_slots() -> None:
    policy = f.defaults("keypair") | {"total_resource_slots": f.read_slots(
        {"cpu": 2, "mem": 4, "cuda.shares": "1"})}
    assert effective_slots(policy) == {"cpu": "2", "mem": str(4 * GIB), "cuda.device": "0",
                                         "cuda.shares": "1"}


def test_effective_slots_unlimited_fallback_for_unnamed_slots() -> None:
    policy = f.unlimited_keypair_policy() | {"total_resource_slots": {"cpu": "4"}}
    assert effective_slots(policy) == {"cpu": "4", "mem": "unlimited",
                                         "cuda.device": "unlimited", "cuda.shares": "unlimited"}


def test_effective_slots_keep_an_explicit_unlimited_under_limited_default() -> None:
    policy = f.defaults("keypair") | {"total_resource_slots": {"mem": "unlimited"}}
    assert effective_slots(policy) == {"cpu": "0", "mem": "unlimited", "cuda.device": "0",
                                         "cuda.shares": "0"}
