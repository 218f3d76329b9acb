"""Deterministic ids: the one part of the runtime that domain code imports."""

from __future__ import annotations

from hashlib import sha1
from uuid import NAMESPACE_URL, UUID, uuid5

NAMESPACE = uuid5(NAMESPACE_URL, "https://baikal.dev/ids")
_NAMESPACE_BYTES = NAMESPACE.bytes


def stable_id(*parts: str) -> UUID:
    """Deterministic id, used for index aggregates and command records."""
    return uuid5(NAMESPACE, "\x1f".join(parts))


def stable_id_str(*parts: str) -> str:
    """`str(stable_id(*parts))` without building the UUID (an event id per placement):
    the same name-based SHA-1 (RFC 4122 version 5), formatted as its canonical string."""
    name = _NAMESPACE_BYTES + "\x1f".join(parts).encode()
    digest = bytearray(sha1(name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
