"""Shared value types: enums and constrained scalars used by several services."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

SERVICE_NAMES = ("identity", "rbac", "quota", "storage", "scheduler", "agent", "gateway")


def canonical_email(raw: str) -> str:
    """The one form of an email every service compares and keys by (emails are
    case-insensitive and surrounding blanks are not part of them)."""
    return raw.strip().lower()


class UserRole(StrEnum):
    SUPERADMIN = "superadmin"
    ADMIN = "admin"
    USER = "user"
    MONITOR = "monitor"


class UserStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"


Slug = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
PolicyName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
AccessKey = Annotated[str, StringConstraints(pattern=r"^AKIA[A-Z2-7]{16}$")]
Offset = Annotated[int, Field(ge=0, le=1_000_000)]
Limit = Annotated[int, Field(ge=1, le=1000)]
