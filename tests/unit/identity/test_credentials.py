"""Password hashing (argon2id, OWASP parameters) and keypair generation."""

from __future__ import annotations

import re

import pytest

from services.identity.domain import credentials

PASSWORD = "Passw0rd!"  # noqa: S105 - test fixture


@pytest.fixture(scope="module")
def password_hash() -> str:
    return credentials.hash_password(PASSWORD)


def test_hash_is_argon2id_with_owasp_parameters(password_hash: str) -> None:
    assert password_hash.startswith("$argon2id$")
    params = password_hash.split("$")[3]
    assert dict(p.split("=") for p in params.split(",")) == {"m": "19456", "t": "2", "p": "1"}
    assert PASSWORD not in password_hash


def test_the_right_password_verifies_against_its_hash(password_hash: str) -> None:
    assert credentials.verify_password(password_hash, PASSWORD) is True


@pytest.mark.parametrize("wrong", ["passw0rd!", "Passw0rd", "", PASSWORD + " "])
def test_a_wrong_password_does_not_verify(password_hash: str, wrong: str) -> None:
    assert credentials.verify_password(password_hash, wrong) is False


def test_garbage_hash_fails_instead_of_raising() -> None:
    assert credentials.verify_password("not-a-hash", PASSWORD) is False
    assert credentials.verify_password("", PASSWORD) is False


def test_hashing_a_password_twice_gives_two_hashes_that_both_verify(password_hash: str) -> None:
    again = credentials.hash_password(PASSWORD)
    assert again != password_hash
    assert credentials.verify_password(again, PASSWORD)


def test_access_keys_are_unique_and_akia_followed_by_sixteen_base32_characters() -> None:
    keys = {credentials.new_access_key() for _ in range(200)}
    assert len(keys) == 200
    assert all(re.fullmatch(r"AKIA[A-Z2-7]{16}", k) for k in keys)


def test_secret_keys_are_unique_and_forty_url_safe_characters() -> None:
    secrets = {credentials.new_secret_key() for _ in range(200)}
    assert len(secrets) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{40}", s) for s in secrets)
