"""Password hashing (argon2id, OWASP parameters) and keypair generation."""

from __future__ import annotations

import base64
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_access_key() -> str:
    """'AKIA' + 16 base32 characters, as the reference system generates them."""
    return "AKIA" + base64.b32encode(secrets.token_bytes(10)).decode("ascii")


def new_secret_key() -> str:
    """40 URL-safe characters."""
    return secrets.token_urlsafe(30)
