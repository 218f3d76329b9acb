"""Proofs of who sent a message: short-lived Ed25519-signed tokens (JWS compact, `alg` EdDSA).

Two kinds, one format (`<header>.<claims>.<signature>`, base64url):

- a **user token**, signed by identity (`kid` "identity"): `sub` (user id), `ak` (access key);
- a **system proof**, signed by a component with its own key (`kid` = `sys` = its name).

Both name the stack (`iss` = `aud` = the stack id), `iat`, `exp` and a `jti`. A receiver
verifies them without a round trip against the public keys it trusts (`BAIKAL_TRUSTED_KEYS`),
so a service believes an actor only when it comes with a proof. Verified tokens are cached by
their text (a signature check costs ~50 µs, a lookup ~1 µs); expiry is checked on every use.
Whether the proven user is still active is the actor directory's business (`auth.inactive`).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from contracts.envelope import Actor
from services.runtime.errors import CodedError

IDENTITY = "identity"  # the only signer of user tokens
MAX_FUTURE_SECONDS = 60  # clock difference tolerated on `iat`
CACHE_MAX = 16_384
_HEADERS: dict[str, str] = {}


class ProofRefused(CodedError):
    code = "auth.token_invalid"


def refused(kind: str, message: str) -> ProofRefused:
    """kind: missing | invalid | expired | foreign | inactive (codes `auth.token_<kind>`,
    `auth.inactive`)."""
    return ProofRefused(message, code="auth.inactive" if kind == "inactive"
                        else f"auth.token_{kind}")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_private_key() -> str:
    """A fresh Ed25519 private key as base64url text (32 raw bytes)."""
    return _b64(Ed25519PrivateKey.generate().private_bytes_raw())


def public_key_of(private_key: str) -> str:
    key = Ed25519PrivateKey.from_private_bytes(_unb64(private_key))
    return _b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def format_keys(keys: dict[str, str]) -> str:
    """`name=<public key>,...`: the form of BAIKAL_TRUSTED_KEYS."""
    return ",".join(f"{name}={key}" for name, key in sorted(keys.items()))


def parse_keys(text: str) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"trusted key {item!r}: use name=<base64url Ed25519 public key>")
        try:
            keys[name.strip()] = Ed25519PublicKey.from_public_bytes(_unb64(value.strip()))
        except (ValueError, binascii.Error) as exc:
            raise ValueError(f"trusted key {name!r} is not an Ed25519 public key") from exc
    return keys


def _header(kid: str) -> str:
    found = _HEADERS.get(kid)
    if found is None:
        found = _HEADERS[kid] = _b64(json.dumps(
            {"alg": "EdDSA", "typ": "JWT", "kid": kid}, separators=(",", ":")).encode())
    return found


class ProofSigner:
    """Signs proofs with one private key: a component's system proofs, identity's tokens."""

    def __init__(self, private_key: str, stack_id: str, ttl_seconds: int = 600) -> None:
        self.key = Ed25519PrivateKey.from_private_bytes(_unb64(private_key))
        self.stack_id = stack_id
        self.ttl = ttl_seconds
        self._cached: dict[tuple[str | None, str | None, str | None], tuple[float, str]] = {}

    @classmethod
    def from_env(cls) -> ProofSigner | None:
        """From BAIKAL_SIGNING_KEY and BAIKAL_STACK_ID (a component's own key), if set."""
        key, stack = os.environ.get("BAIKAL_SIGNING_KEY"), os.environ.get("BAIKAL_STACK_ID")
        return cls(key, stack) if key and stack else None

    def sign(self, kid: str, claims: dict[str, Any], ttl: int | None = None,
             now: float | None = None) -> tuple[str, int]:
        issued = int(now if now is not None else time.time())
        expires = issued + (ttl or self.ttl)
        body = {**claims, "iss": self.stack_id, "aud": self.stack_id, "iat": issued,
                "exp": expires, "jti": secrets.token_hex(8)}
        signed = f"{_header(kid)}.{_b64(json.dumps(body, separators=(',', ':')).encode())}"
        return f"{signed}.{_b64(self.key.sign(signed.encode()))}", expires

    def user_token(self, user_id: str, access_key: str, ttl: int | None = None,
                   now: float | None = None) -> tuple[str, int]:
        """identity's token for a user acting with one keypair."""
        return self.sign(IDENTITY, {"sub": user_id, "ak": access_key}, ttl, now)

    def system_proof(self, system: str) -> str:
        """This component's proof as system actor `system`, reused until half its life."""
        return self.proof_for(Actor(system=system))

    def proof_for(self, actor: Actor) -> str:
        """A system actor's proof, or a user's token (only identity's key makes one that
        verifies), reused until half its life."""
        now = time.time()
        key = (actor.system, actor.access_key, actor.user_id)
        cached = self._cached.get(key)
        if cached is None or cached[0] <= now:
            if actor.system is not None:
                token, expires = self.sign(actor.system, {"sys": actor.system}, now=now)
            else:
                token, expires = self.user_token(actor.user_id or "", actor.access_key or "",
                                                 now=now)
            if len(self._cached) >= CACHE_MAX:
                self._cached.clear()
            cached = self._cached[key] = (now + (expires - now) / 2, token)
        return cached[1]


@dataclass(frozen=True)
class Proven:
    actor: Actor
    expires: int


class ProofVerifier:
    """Checks a proof against the trusted public keys and the stack id; caches good ones."""

    def __init__(self, keys: dict[str, Ed25519PublicKey], stack_id: str) -> None:
        self.keys = keys
        self.stack_id = stack_id
        self._cache: dict[str, Proven] = {}

    def verify(self, token: str | None, now: float | None = None) -> Actor:
        if not token:
            raise refused("missing", "the message carries no proof of its actor: log in "
                          "(a token from identity) or sign as a trusted component")
        now = time.time() if now is None else now
        proven = self._cache.get(token)
        if proven is None:
            proven = self._check(token, now)
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[token] = proven
        if proven.expires <= now:
            raise refused("expired", "the proof has expired; obtain a new token")
        return proven.actor

    def _check(self, token: str, now: float) -> Proven:
        header_text, _, rest = token.partition(".")
        claims_text, _, signature = rest.partition(".")
        try:
            header = json.loads(_unb64(header_text))
            claims = json.loads(_unb64(claims_text))
            kid, expires = str(header["kid"]), int(claims["exp"])
            issued = int(claims["iat"])
            raw_signature = _unb64(signature)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise refused("invalid", "the proof is malformed") from None
        if header.get("alg") != "EdDSA":
            raise refused("invalid", "the proof is not signed with EdDSA")
        if claims.get("aud") != self.stack_id or claims.get("iss") != self.stack_id:
            raise refused("foreign", "the proof was issued for another stack")
        key = self.keys.get(kid)
        if key is None:
            raise refused("invalid", f"the proof's signer {kid!r} is not trusted here")
        try:
            key.verify(raw_signature, f"{header_text}.{claims_text}".encode())
        except InvalidSignature:
            raise refused("invalid", "the proof's signature is wrong") from None
        if issued > now + MAX_FUTURE_SECONDS:
            raise refused("invalid", "the proof is issued in the future")
        return Proven(_actor(kid, claims), expires)


def _actor(kid: str, claims: dict[str, Any]) -> Actor:
    system = claims.get("sys")
    try:
        if system is not None:
            if system != kid:
                raise refused("invalid", "a system proof is signed by the system it names")
            return Actor(system=str(system))
        if kid != IDENTITY or not claims.get("ak"):
            raise refused("invalid", "user tokens are issued by identity and name a keypair")
        return Actor(access_key=str(claims["ak"]), user_id=str(claims.get("sub") or "") or None)
    except ValueError:  # pydantic: a field too long
        raise refused("invalid", "the proof's actor is malformed") from None
