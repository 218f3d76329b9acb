"""Policy field rules: ranges, units and the one wire form of "unlimited"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from contracts.values import SlotName
from services.quota.domain.errors import refuse

UNLIMITED = "unlimited"
GIB = 1024**3
GB = 1000**3
DEFAULT_FOR_UNSPECIFIED = ("limited", UNLIMITED)
# Below every step: refused before arithmetic, whose result would underflow to 0.
SMALLEST_EXPONENT = -30
NAME_MAX = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
VFOLDER_HOST_PERMISSIONS = frozenset({
    "create-vfolder", "modify-vfolder", "delete-vfolder", "mount-in-session", "upload-file",
    "download-file", "invite-others", "set-user-specific-permission",
})


@dataclass(frozen=True)
class Rule:
    """How one numeric field is read: range, step, unit, and what means unlimited."""

    maximum: Decimal
    minimum: Decimal = Decimal(0)
    step: Decimal = Decimal(1)
    unit_bytes: int = 0  # GiB in commands → bytes when > 0
    zero_is_unlimited: bool = False
    none_is_unlimited: bool = False
    default: Any = UNLIMITED

    def describe(self) -> str:
        unit = {GIB: " GiB", GB: " GB"}.get(self.unit_bytes, "")
        return f"{self.minimum}..{self.maximum}{unit} (step {self.step}) or '{UNLIMITED}'"


def rule(maximum: int | str, **kw: Any) -> Rule:
    return Rule(maximum=Decimal(str(maximum)), **kw)


SLOT_RULES: dict[str, Rule] = {
    SlotName.CPU: rule(512, step=Decimal("0.01")),
    SlotName.MEM: rule(1024, step=Decimal("0.001"), unit_bytes=GIB),
    SlotName.CUDA_DEVICE: rule(64),
    SlotName.CUDA_SHARES: rule(256, step=Decimal("0.1")),
}

SCALAR_RULES: dict[str, dict[str, Rule]] = {
    "keypair": {
        "max_containers_per_session": rule(100, minimum=Decimal(1), default=1),
        "idle_timeout": rule(15_552_000, zero_is_unlimited=True),
        "max_concurrent_sessions": rule(100, zero_is_unlimited=True),
        "max_session_lifetime": rule(315_360_000, zero_is_unlimited=True),
        "max_pending_session_count": rule(10_000, none_is_unlimited=True),
        "max_vfolder_count": rule(50, zero_is_unlimited=True),
        "max_vfolder_size": rule(1024, unit_bytes=GB, zero_is_unlimited=True),
    },
    "user": {
        "max_vfolder_count": rule(50, zero_is_unlimited=True),
        "max_quota_scope_size": rule(1024, step=Decimal("0.001"), unit_bytes=GIB,
                                     zero_is_unlimited=True),
        "max_session_count_per_model_session": rule(100, zero_is_unlimited=True),
        "max_customized_image_count": rule(100, default=3),
        "max_concurrent_logins": rule(1000, minimum=Decimal(1), none_is_unlimited=True),
    },
    "project": {
        "max_vfolder_count": rule(50, zero_is_unlimited=True),
        "max_quota_scope_size": rule(1024, step=Decimal("0.001"), unit_bytes=GIB,
                                     zero_is_unlimited=True),
        "max_network_count": rule(100, zero_is_unlimited=True),
    },
}


def check_name(name: str) -> str:
    if not name or len(name) > NAME_MAX or not _NAME.fullmatch(name):
        raise refuse("policy.name_invalid",
                     f"name must be 1-{NAME_MAX} letters, digits, '.', '_' or '-'",
                     field="name", max=NAME_MAX)
    return name


def read_quantity(field: str, raw: Any, r: Rule) -> str | int:
    """One value → canonical wire form: "unlimited", an int, or a decimal string."""
    if raw is None and r.none_is_unlimited:
        return UNLIMITED
    if isinstance(raw, str) and raw.strip().lower() == UNLIMITED:
        return UNLIMITED
    if isinstance(raw, bool) or raw is None:
        raise refuse("policy.not_a_number", f"{field} must be a number or '{UNLIMITED}'",
                     field=field, range=r.describe())
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise refuse("policy.not_a_number", f"{field} must be a number or '{UNLIMITED}'",
                     field=field, range=r.describe()) from None
    if not value.is_finite() or value < r.minimum and not (value == 0 and r.zero_is_unlimited):
        raise refuse("policy.out_of_range", f"{field} must be in {r.describe()}",
                     field=field, range=r.describe())
    if value > r.maximum:
        raise refuse("policy.out_of_range", f"{field} must be in {r.describe()}",
                     field=field, range=r.describe())
    if value == 0:
        value = Decimal(0)  # "-0", "0E-9", ... have one form
    elif value.adjusted() < SMALLEST_EXPONENT or value % r.step != 0:
        raise refuse("policy.bad_step", f"{field} must be a multiple of {r.step}",
                     field=field, range=r.describe())
    if value == 0 and r.zero_is_unlimited:
        return UNLIMITED
    if r.unit_bytes:
        return int(value * r.unit_bytes)
    return int(value) if r.step >= 1 else format(value.normalize(), "f")


def read_slots(raw: dict[str, Any]) -> dict[str, str]:
    slots: dict[str, str] = {}
    for name, value in raw.items():
        if name not in SLOT_RULES:
            raise refuse("policy.unknown_slot", f"unknown resource slot '{name}'",
                         field=f"total_resource_slots.{name}", known=sorted(SLOT_RULES))
        slots[name] = str(read_quantity(f"total_resource_slots.{name}", value, SLOT_RULES[name]))
    return slots


def read_vfolder_hosts(raw: dict[str, list[str]]) -> dict[str, list[str]]:
    hosts: dict[str, list[str]] = {}
    for host, permissions in raw.items():
        unknown = sorted(set(permissions) - VFOLDER_HOST_PERMISSIONS)
        if not host or unknown:
            raise refuse("policy.bad_vfolder_host", "unknown storage host permission",
                         field=f"allowed_vfolder_hosts.{host}", unknown=unknown,
                         known=sorted(VFOLDER_HOST_PERMISSIONS))
        hosts[host] = sorted(set(permissions))
    return hosts


def read_fields(kind: str, given: dict[str, Any]) -> dict[str, Any]:
    """Canonical values of the fields present in `given` (absent fields are not returned)."""
    values: dict[str, Any] = {}
    for field, r in SCALAR_RULES[kind].items():
        if field in given:
            values[field] = read_quantity(field, given[field], r)
    if kind == "keypair":
        # null is the contract's "not given" for these three (never stored as a value)
        if given.get("total_resource_slots") is not None:
            values["total_resource_slots"] = read_slots(given["total_resource_slots"])
        if given.get("default_for_unspecified") is not None:
            values["default_for_unspecified"] = read_choice(
                "default_for_unspecified", given["default_for_unspecified"],
                DEFAULT_FOR_UNSPECIFIED)
        if given.get("allowed_vfolder_hosts") is not None:
            values["allowed_vfolder_hosts"] = read_vfolder_hosts(given["allowed_vfolder_hosts"])
    return values


def read_choice(field: str, raw: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(raw, str) or raw not in choices:
        raise refuse("policy.bad_choice", f"{field} must be one of {', '.join(choices)}",
                     field=field, allowed=list(choices))
    return raw


def defaults(kind: str) -> dict[str, Any]:
    values: dict[str, Any] = {f: r.default for f, r in SCALAR_RULES[kind].items()}
    if kind == "keypair":
        values |= {"total_resource_slots": {}, "default_for_unspecified": "limited",
                   "allowed_vfolder_hosts": {}}
    return values


def unlimited_keypair_policy() -> dict[str, Any]:
    """The bootstrapped `default` policy: nothing capped."""
    return defaults("keypair") | {"default_for_unspecified": UNLIMITED,
                                  "max_containers_per_session": 100}
