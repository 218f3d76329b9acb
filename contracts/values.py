"""Shared value types: enums and constrained scalars used by several services."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints

SERVICE_NAMES = ("identity", "rbac", "quota", "storage", "scheduler", "agent", "gateway")


def canonical_email(raw: str) -> str:
    """The one form of an email every service compares and keys by (emails are
    case-insensitive and surrounding blanks are not part of them)."""
    return raw.strip().lower()


PASSWORD_MIN = 8
PASSWORD_MAX = 64
_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"[0-9]")
_SPECIAL = re.compile(r"[^A-Za-z0-9\s]")


@dataclass(frozen=True)
class PasswordRefusal:
    """Why a password (and its confirmation) is refused: `code` is the part after `user.`."""

    code: str
    message: str
    field: str
    details: dict[str, Any] = dataclass_field(default_factory=dict)


def password_refusal(password: str | None, confirm: str | None) -> PasswordRefusal | None:
    """The seed's policy, in the seed's order of reasons (no input, no confirmation, not
    matching, then the rules): ≥8 characters with a letter, a digit and a special character.
    Identity enforces it; the CLI asks it before sending anything."""
    if not password:
        return PasswordRefusal("password_empty", "password is required", "password")
    if confirm is None or confirm == "":
        return PasswordRefusal("password_confirmation_missing",
                               "password confirmation is required", "password_confirm")
    if password != confirm:
        return PasswordRefusal("password_confirmation_mismatch",
                               "password confirmation does not match the password",
                               "password_confirm")
    if len(password) > PASSWORD_MAX:
        return PasswordRefusal("password_too_long",
                               f"password must be at most {PASSWORD_MAX} characters",
                               "password", {"max": PASSWORD_MAX})
    missing = [rule for rule, ok in (
        (f"at least {PASSWORD_MIN} characters", len(password) >= PASSWORD_MIN),
        ("a letter", bool(_LETTER.search(password))),
        ("a digit", bool(_DIGIT.search(password))),
        ("a special character", bool(_SPECIAL.search(password))),
    ) if not ok]
    if missing:
        return PasswordRefusal("password_too_weak", "password needs " + ", ".join(missing),
                               "password", {"missing": missing})
    return None


class UserRole(StrEnum):
    SUPERADMIN = "superadmin"
    ADMIN = "admin"
    USER = "user"
    MONITOR = "monitor"


class SlotName(StrEnum):
    """The resource slots every service knows (policies, requests, allocations, exports)."""

    CPU = "cpu"
    MEM = "mem"
    CUDA_DEVICE = "cuda.device"
    CUDA_SHARES = "cuda.shares"


# Typed as str: slot maps are keyed by the wire names (SlotName members are those strings).
SLOT_NAMES: tuple[str, ...] = tuple(SlotName)


class UserStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"


class SessionStatus(StrEnum):
    PENDING = "PENDING"
    SCHEDULED = "SCHEDULED"
    PREPARING = "PREPARING"
    RUNNING = "RUNNING"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    CANCELLED = "CANCELLED"
    ERROR = "ERROR"


class SessionType(StrEnum):
    INTERACTIVE = "interactive"
    BATCH = "batch"


class PolicyKind(StrEnum):
    KEYPAIR = "keypair"
    USER = "user"
    PROJECT = "project"


class DefaultForUnspecified(StrEnum):
    LIMITED = "limited"
    UNLIMITED = "unlimited"


Slug = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
PolicyName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
AccessKey = Annotated[str, StringConstraints(pattern=r"^AKIA[A-Z2-7]{16}$")]
Offset = Annotated[int, Field(ge=0, le=1_000_000)]
Limit = Annotated[int, Field(ge=1, le=1000)]
