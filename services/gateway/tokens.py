"""Short-lived login tokens: `bkt1.<payload>.<mac>`, HMAC-SHA256 over the payload.

A token names an access key and an expiry, nothing secret. Every request bearing one still
resolves the keypair (cached briefly), so deactivation ends a token's use within that cache time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

from services.gateway.errors import gateway_error

PREFIX = "bkt1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    def __init__(self, key: bytes | None, ttl_seconds: int) -> None:
        self.key = key or secrets.token_bytes(32)
        self.ttl = ttl_seconds

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self.key, f"{PREFIX}.{payload}".encode(), hashlib.sha256).digest())

    def issue(self, access_key: str, now: float | None = None) -> tuple[str, int]:
        issued = int(now if now is not None else time.time())
        expires = issued + self.ttl
        body = {"ak": access_key, "iat": issued, "exp": expires, "jti": secrets.token_hex(8)}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{PREFIX}.{payload}.{self._mac(payload)}", expires

    def verify(self, token: str, now: float | None = None) -> str:
        """The token's access key, or 401."""
        prefix, _, rest = token.partition(".")
        payload, _, mac = rest.partition(".")
        if prefix != PREFIX or not payload or not mac:
            raise gateway_error("auth.token_invalid", "the bearer token is malformed")
        if not hmac.compare_digest(mac.encode("latin-1", "replace"), self._mac(payload).encode()):
            raise gateway_error("auth.token_invalid", "the bearer token's signature is wrong")
        try:
            body = json.loads(_unb64(payload))
            access_key, expires = str(body["ak"]), int(body["exp"])
        except (ValueError, KeyError, TypeError):
            raise gateway_error("auth.token_invalid", "the bearer token is malformed") from None
        if expires <= (now if now is not None else time.time()):
            raise gateway_error("auth.token_expired", "the bearer token has expired; log in again")
        return access_key
