"""Field rules for users: each violation has its own code and names the field."""

from __future__ import annotations

import re

from contracts.values import canonical_email, password_refusal
from services.identity.domain.errors import refuse

EMAIL_MAX = 64
USERNAME_MAX = 64
FULL_NAME_MAX = 64
DESCRIPTION_MAX = 500
SLUG_MAX = 64

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def normalize_email(raw: str) -> str:
    email = raw.strip()
    if not email:
        raise refuse("user.email_empty", "email is required", field="email")
    if len(email) > EMAIL_MAX:
        raise refuse("user.email_too_long", f"email must be at most {EMAIL_MAX} characters",
                     field="email", max=EMAIL_MAX)
    if not _EMAIL.fullmatch(email):
        raise refuse("user.email_invalid", "email is not a valid address", field="email")
    return canonical_email(email)


def check_username(username: str) -> str:
    name = username.strip()
    if not name:
        raise refuse("user.username_empty", "username must not be empty", field="username")
    if len(name) > USERNAME_MAX:
        raise refuse("user.username_too_long",
                     f"username must be at most {USERNAME_MAX} characters",
                     field="username", max=USERNAME_MAX)
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        raise refuse("user.username_invalid", "username must not contain spaces or control "
                     "characters", field="username")
    return name


def check_text(value: str, field: str, limit: int) -> str:
    if len(value) > limit:
        raise refuse(f"user.{field}_too_long", f"{field} must be at most {limit} characters",
                     field=field, max=limit)
    return value


def check_password(password: str | None, confirm: str | None) -> str:
    """The seed's policy (`contracts.values.password_refusal`), each reason its own code."""
    refusal = password_refusal(password, confirm)
    if refusal is not None:
        raise refuse(f"user.{refusal.code}", refusal.message, field=refusal.field,
                     **refusal.details)
    assert password is not None
    return password


def check_slug(value: str, field: str) -> str:
    if not value or len(value) > SLUG_MAX or not _SLUG.fullmatch(value):
        raise refuse(f"{field}.name_invalid",
                     f"{field} name must be 1-{SLUG_MAX} letters, digits, '.', '_' or '-'",
                     field="name", max=SLUG_MAX)
    return value
