"""Backend.AI request signing (HMAC): the one implementation used by the gateway and the CLI
(in contracts: both may import it; pure standard library).

Reference §2.3. Pure functions, no I/O: given the request's parts and a secret, the signature.

Signature versions: the **legacy** scheme (no version header; what the Backend.AI SDK sends)
signs the hash of an empty body, so a body can be swapped under the same headers. **Version 2**
(`X-Baikal-Signature-Version: 2`, what Baikal's own CLI sends) signs the hash of the body
itself and the version line, so a swapped body or a stripped header fails the check.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

API_VERSION = "v8.20240915"
AUTH_TYPES = ("BackendAI", "Sorna")
# Modern API versions sign the empty body (reference §2.3 step 2).
UNSIGNED_BODY_SINCE = "v4.20181215"
DEFAULT_CONTENT_TYPE = "application/octet-stream"  # what aiohttp's server reports when absent
SIGNATURE_VERSION_HEADER = "x-baikal-signature-version"
BODY_SIGNED = "2"
# Version 2 for a body streamed too large to hold (a file upload): the client declares the
# body's SHA-256 here, the signature covers the declared digest, and whoever reads the body
# (the upload route) checks it as the bytes arrive, keeping nothing on a mismatch.
CONTENT_SHA256_HEADER = "x-baikal-content-sha256"


class SignatureFormatError(ValueError):
    """The Authorization header or the date cannot be read."""


@dataclass(frozen=True)
class Credential:
    sign_method: str  # e.g. "HMAC-SHA256"
    access_key: str
    signature: str

    @property
    def hash_type(self) -> str:
        mac, _, hash_type = self.sign_method.lower().partition("-")
        # shake_* need a digest length: not usable for HMAC hex signatures
        if (mac != "hmac" or hash_type not in hashlib.algorithms_guaranteed
                or hash_type.startswith("shake")):
            raise SignatureFormatError(f"unsupported signing method {self.sign_method!r}")
        return hash_type


def parse_authorization(header: str) -> Credential:
    """`BackendAI signMethod=HMAC-SHA256, credential=AK:SIG` → Credential."""
    auth_type, _, rest = header.strip().partition(" ")
    if auth_type not in AUTH_TYPES:
        raise SignatureFormatError("authorization type must be BackendAI")
    params: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            params[key.strip()] = value.strip()
    method, credential = params.get("signMethod"), params.get("credential")
    if not method or not credential or ":" not in credential:
        raise SignatureFormatError("authorization needs signMethod and credential=AK:SIG")
    access_key, _, signature = credential.partition(":")
    return Credential(method, access_key, signature)


def parse_date(raw: str) -> datetime:
    """ISO 8601 (what the SDK sends) or RFC 1123; a naive time is taken as UTC."""
    text = raw.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            raise SignatureFormatError("the date header is not a date") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def body_hash(hash_type: str, api_version: str, body: bytes) -> str:
    signed = body if api_version < UNSIGNED_BODY_SINCE else b""
    return hashlib.new(hash_type, signed).hexdigest() if signed else _empty_hash(hash_type)


@functools.lru_cache(maxsize=16)
def _empty_hash(hash_type: str) -> str:
    return hashlib.new(hash_type, b"").hexdigest()


@functools.lru_cache(maxsize=4096)
def signing_key(secret_key: str, day: str, host: str, hash_type: str = "sha256") -> bytes:
    """HMAC(HMAC(secret, day), host): the same for every request of a key, day and host."""
    key = hmac.digest(secret_key.encode(), day.encode(), hash_type)
    return hmac.digest(key, host.encode(), hash_type)


def sign(
    *,
    secret_key: str,
    method: str,
    path_with_query: str,
    raw_date: str,
    date: datetime,
    host: str,
    content_type: str,
    api_version: str,
    hash_type: str = "sha256",
    body: bytes = b"",
    version_header: str = "x-backendai-version",
    body_signed: bool = False,
    body_digest: str | None = None,
) -> str:
    """The hex signature of one request (reference §2.3 steps 2-4).

    `raw_date` is the date header exactly as sent; `date` is it parsed, and its own calendar day
    (in the offset it was written with) derives the key, as the reference server does.
    """
    if body_signed and body_digest is not None:
        digest = body_digest  # declared (CONTENT_SHA256_HEADER), checked by the body's reader
    elif body_signed:
        digest = hashlib.new(hash_type, body).hexdigest()
    else:
        digest = body_hash(hash_type, api_version, body)
    text = (
        f"{method.upper()}\n{path_with_query}\n{raw_date}\nhost:{host}\n"
        f"content-type:{content_type.lower()}\n{version_header}:{api_version}\n{digest}"
    )
    if body_signed:
        text += f"\n{SIGNATURE_VERSION_HEADER}:{BODY_SIGNED}"
    key = signing_key(secret_key, f"{date.year:04d}{date.month:02d}{date.day:02d}", host,
                      hash_type)
    return hmac.digest(key, text.encode(), hash_type).hex()


def signed_headers(
    *,
    access_key: str,
    secret_key: str,
    method: str,
    path_with_query: str,
    host: str,
    content_type: str = "application/json",
    api_version: str = API_VERSION,
    now: datetime | None = None,
    body: bytes | None = None,
    body_digest: str | None = None,
) -> dict[str, str]:
    """Headers for a request signed as the official SDK does (date = isoformat of aware UTC);
    with `body`, signature version 2 (the body's hash signed too); with `body_digest` (the
    SHA-256 hex of a body streamed from a file), version 2 over that declared digest."""
    date = now or datetime.now(UTC)
    raw_date = date.isoformat()
    signature = sign(secret_key=secret_key, method=method, path_with_query=path_with_query,
                     raw_date=raw_date, date=date, host=host, content_type=content_type,
                     api_version=api_version, body=body or b"",
                     body_signed=body is not None or body_digest is not None,
                     body_digest=body_digest)
    headers = {
        "Authorization": f"BackendAI signMethod=HMAC-SHA256, credential={access_key}:{signature}",
        "Date": raw_date,
        "X-BackendAI-Version": api_version,
        "Content-Type": content_type,
    }
    if body is not None or body_digest is not None:
        headers["X-Baikal-Signature-Version"] = BODY_SIGNED
    if body_digest is not None:
        headers["X-Baikal-Content-SHA256"] = body_digest
    return headers
