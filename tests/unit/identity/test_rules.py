"""Field rules: each violation has its own stable code and names the field."""

from __future__ import annotations

import pytest

from services.identity.domain import rules
from services.identity.domain.errors import IdentityError

GOOD = "Passw0rd!"


def refusal(call: object, *args: object) -> IdentityError:
    assert callable(call)
    with pytest.raises(IdentityError) as caught:
        call(*args)
    return caught.value


# ---- email ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "identity.user.email_empty"),
        ("   ", "identity.user.email_empty"),
        ("x" * 60 + "@example.com", "identity.user.email_too_long"),
        ("not-an-email", "identity.user.email_invalid"),
        ("a@b", "identity.user.email_invalid"),
        ("a@@example.com", "identity.user.email_invalid"),
        ("a b@example.com", "identity.user.email_invalid"),
        ("a@-example.com", "identity.user.email_invalid"),
        ("@example.com", "identity.user.email_invalid"),
    ],
)
def test_each_bad_email_is_refused_with_its_own_code_naming_the_field(raw: str, code: str) -> None:
    error = refusal(rules.normalize_email, raw)
    assert error.code == code
    assert error.details["field"] == "email"


def test_email_too_long_names_the_limit() -> None:
    error = refusal(rules.normalize_email, "x" * 53 + "@example.com")  # 65 characters
    assert error.details["max"] == rules.EMAIL_MAX == 64


def test_email_is_trimmed_and_lowered() -> None:
    assert rules.normalize_email("  Alice.Smith+gpu@Example.COM ") == "alice.smith+gpu@example.com"


def test_email_at_the_limit_is_accepted() -> None:
    email = "x" * 52 + "@example.com"
    assert len(email) == rules.EMAIL_MAX
    assert rules.normalize_email(email) == email


# ---- username and text ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [("", "identity.user.username_empty"), ("  ", "identity.user.username_empty"),
     ("u" * 65, "identity.user.username_too_long")],
)
def test_an_empty_or_too_long_username_is_refused_with_its_own_code(raw: str, code: str) -> None:
    error = refusal(rules.check_username, raw)
    assert error.code == code
    assert error.details["field"] == "username"


def test_username_is_trimmed_and_keeps_its_case() -> None:
    assert rules.check_username("  Alice ") == "Alice"
    assert rules.check_username("u" * 64) == "u" * 64


def test_text_too_long_names_field_and_limit() -> None:
    error = refusal(rules.check_text, "x" * 65, "full_name", rules.FULL_NAME_MAX)
    assert error.code == "identity.user.full_name_too_long"
    assert error.details == {"field": "full_name", "max": 64}
    assert rules.check_text("x" * 500, "description", rules.DESCRIPTION_MAX) == "x" * 500


# ---- password ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "confirm", "code", "field"),
    [
        (None, None, "identity.user.password_empty", "password"),
        ("", "", "identity.user.password_empty", "password"),
        (GOOD, None, "identity.user.password_confirmation_missing", "password_confirm"),
        (GOOD, "", "identity.user.password_confirmation_missing", "password_confirm"),
        (GOOD, "Passw0rd?", "identity.user.password_confirmation_mismatch", "password_confirm"),
        ("Aa1!" * 17, "Aa1!" * 17, "identity.user.password_too_long", "password"),
    ],
)
def test_a_missing_mismatched_or_too_long_password_is_refused_naming_the_field(
        password: str | None, confirm: str | None, code: str, field: str) -> None:
    error = refusal(rules.check_password, password, confirm)
    assert error.code == code
    assert error.details["field"] == field


@pytest.mark.parametrize(
    ("password", "missing"),
    [
        ("Pa0!", ["at least 8 characters"]),
        ("12345678!", ["a letter"]),
        ("Password!", ["a digit"]),
        ("Passw0rdX", ["a special character"]),
        ("Passw0rd 1", ["a special character"]),  # whitespace is not special
        ("abc", ["at least 8 characters", "a digit", "a special character"]),
    ],
)
def test_weak_passwords_name_every_missing_rule(password: str, missing: list[str]) -> None:
    error = refusal(rules.check_password, password, password)
    assert error.code == "identity.user.password_too_weak"
    assert error.details["missing"] == missing
    assert error.details["field"] == "password"


@pytest.mark.parametrize("password", [GOOD, "ab12-xyz", "Ünïcødé-9x", "Aa1!" * 16])
def test_a_password_meeting_every_rule_is_accepted_as_given(password: str) -> None:
    assert rules.check_password(password, password) == password


# ---- slugs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "-lead", ".x", "has space", "x" * 65, "ümlaut"])
def test_a_slug_with_a_bad_character_or_length_is_refused(value: str) -> None:
    error = refusal(rules.check_slug, value, "project")
    assert error.code == "identity.project.name_invalid"


@pytest.mark.parametrize("value", ["default", "Team_1", "a.b-c", "x" * 64])
def test_a_slug_of_letters_digits_dots_dashes_and_underscores_is_accepted(value: str) -> None:
    assert rules.check_slug(value, "domain") == value
