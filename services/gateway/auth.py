"""Who is calling: Backend.AI HMAC request signing (reference §2.3) or a login token.

The secret of an access key comes from identity's `keypairs.resolve` query (only the gateway's
proven system actor may ask it) and is cached for `auth_cache_seconds`; inactive keypairs and
keypairs of inactive users are refused there. A signature is accepted once (`replay`); the
legacy scheme (empty body signed) can be switched off; version 2 signs the body. Once the
caller is known, its user token from identity is made ready for the bus (`proofs.TokenCache`):
the services believe the token, not the gateway. Every authenticated request also counts
against the keypair's rate limit.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from contracts import signing
from contracts.envelope import Actor
from contracts.identity import Subjects as IdentitySubjects
from contracts.values import UserRole
from services.gateway.bus import Bus
from services.gateway.errors import ApiError, gateway_error
from services.gateway.metrics import RATELIMIT_SCOPE_KEY, HttpMetrics
from services.gateway.proofs import CLIENT_AFTER, TokenCache, parse_positions
from services.gateway.ratelimit import SlidingWindow
from services.gateway.replay import ReplayCache
from services.gateway.tokens import TokenIssuer

ACCESS_KEY = re.compile(r"^AKIA[A-Z2-7]{16}$")
GATEWAY_ACTOR = Actor(system="gateway")
ADMIN_ROLES = (UserRole.SUPERADMIN, UserRole.ADMIN)
Scope = MutableMapping[str, Any]
BodyReader = Callable[[], Awaitable[bytes]]


@dataclass(frozen=True)
class Caller:
    access_key: str
    user_id: str
    email: str
    role: str
    domain: str
    rate_limit: int
    method: str  # "hmac" or "token"

    @functools.cached_property
    def actor(self) -> Actor:
        return actor_of(self.access_key)

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES


_ACTORS: dict[str, Actor] = {}


def actor_of(access_key: str) -> Actor:
    """One `Actor` object per access key, kept across the Callers rebuilt as the keypair cache
    refreshes: the bus encodes each actor once, keyed by it, and an identical key is found
    without pydantic's `__eq__` (~2 µs a request once the first Caller had been replaced)."""
    actor = _ACTORS.get(access_key)
    if actor is None:
        if len(_ACTORS) >= 100_000:
            _ACTORS.clear()
        actor = _ACTORS[access_key] = Actor(access_key=access_key)
    return actor


class KeypairDirectory:
    """keypairs.resolve with a short cache; concurrent misses for one key share one query."""

    def __init__(self, bus: Bus, ttl: float, unknown_ttl: float) -> None:
        self.bus = bus
        self.ttl = ttl
        self.unknown_ttl = unknown_ttl
        self._entries: dict[str, tuple[float, dict[str, Any] | ApiError]] = {}
        self._pending: dict[str, asyncio.Future[dict[str, Any] | ApiError]] = {}

    async def resolve(self, access_key: str) -> dict[str, Any]:
        if not ACCESS_KEY.match(access_key):
            raise _unknown_key()
        now = time.monotonic()
        cached = self._entries.get(access_key)
        if cached is not None and cached[0] > now:
            return _result(cached[1])
        pending = self._pending.get(access_key)
        if pending is not None:
            return _result(await pending)
        pending = self._pending[access_key] = asyncio.get_running_loop().create_future()
        try:
            found = await self._ask(access_key)
        except BaseException as exc:  # handed to the waiters, then re-raised
            if isinstance(exc, asyncio.CancelledError):
                pending.cancel()
            else:
                pending.set_exception(exc)
                pending.exception()  # retrieved: the waiters, if any, raise it too
            raise
        else:
            pending.set_result(found)
        finally:
            del self._pending[access_key]
        return _result(found)

    async def _ask(self, access_key: str) -> dict[str, Any] | ApiError:
        try:
            found: dict[str, Any] | ApiError = await self.bus.query(
                IdentitySubjects.KEYPAIR_RESOLVE, {"access_key": access_key}, GATEWAY_ACTOR)
            ttl = self.ttl
        except ApiError as exc:
            if exc.status >= 500:
                raise  # identity is down: say so (503/504), cache nothing
            inactive = exc.code.endswith("keypair.inactive")
            found = gateway_error("auth.inactive_key" if inactive else "auth.unknown_key",
                                  "the keypair or its user is inactive" if inactive
                                  else "access key not found")
            ttl = self.ttl if inactive else self.unknown_ttl
        self._entries[access_key] = (time.monotonic() + ttl, found)
        if len(self._entries) > 100_000:
            self._entries.clear()
        return found

    def forget(self, access_key: str) -> None:
        self._entries.pop(access_key, None)

    def forget_user(self, user_id: str) -> None:
        for key, (_, entry) in list(self._entries.items()):
            if isinstance(entry, dict) and entry.get("user_id") == user_id:
                self._entries.pop(key, None)

    def forget_refusals(self) -> None:
        """After an activation: refusals carry no user id, so all of them go."""
        for key, (_, entry) in list(self._entries.items()):
            if isinstance(entry, ApiError):
                self._entries.pop(key, None)


def _result(entry: dict[str, Any] | ApiError) -> dict[str, Any]:
    if isinstance(entry, ApiError):
        raise ApiError(entry.code, entry.message, status=entry.status)
    return entry


def _unknown_key() -> ApiError:
    return gateway_error("auth.unknown_key", "access key not found")


DECLARED_DIGEST_SCOPE_KEY = "baikal.content_sha256"
DIGEST = re.compile(r"[0-9a-f]{64}")


class Authenticator:
    def __init__(self, keys: KeypairDirectory, tokens: TokenIssuer, limiter: SlidingWindow,
                 metrics: HttpMetrics, clock_skew_seconds: int,
                 proofs: TokenCache | None = None, replay: ReplayCache | None = None,
                 legacy_signing: bool = True) -> None:
        self.keys = keys
        self.tokens = tokens
        self.proofs = proofs
        self.replay = replay
        self.legacy_signing = legacy_signing
        self.limiter = limiter
        self.metrics = metrics
        self.skew = clock_skew_seconds
        # (access key, method) → (the resolved keypair, its Caller): rebuilt when it changes.
        self._callers: dict[tuple[str, str], tuple[dict[str, Any], Caller]] = {}

    async def authenticate(self, scope: Scope, body: BodyReader) -> Caller:
        """The caller of one request (its ASGI scope; `body` reads it when it is signed)."""
        try:
            caller = await self._identify(scope, body)
        except ApiError as exc:
            if exc.status == 401:
                self.metrics.auth_failures(exc.code.rsplit(".", 1)[-1]).inc()
            raise
        if self.proofs is not None and not self.proofs.fresh(caller.access_key):
            await self.proofs.ensure(caller.access_key)  # only when not already cached
        allowed, remaining = self.limiter.hit(caller.access_key, caller.rate_limit)
        scope[RATELIMIT_SCOPE_KEY] = (caller.rate_limit, remaining)
        if not allowed:
            self.metrics.rate_limited.inc()
            raise gateway_error("rate_limit.exceeded",
                                f"more than {caller.rate_limit} requests in "
                                f"{self.limiter.window:g}s for this keypair",
                                limit=caller.rate_limit, window_seconds=self.limiter.window)
        return caller

    async def _identify(self, scope: Scope, body: BodyReader) -> Caller:
        headers = header_map(scope)
        after = headers.get("x-baikal-after")
        if after:
            CLIENT_AFTER.set(parse_positions(after))
        header = headers.get("authorization")
        if not header:
            raise gateway_error("auth.missing", "no Authorization header: sign the request "
                                "(BackendAI signMethod=HMAC-SHA256, ...) or send a Bearer token")
        if header[:7].lower() == "bearer ":
            access_key = self.tokens.verify(header[7:].strip())
            return self._caller(await self.keys.resolve(access_key), "token")
        return await self._verify_signature(scope, headers, header, body)

    async def _verify_signature(self, scope: Scope, headers: dict[str, str], header: str,
                                body_reader: BodyReader) -> Caller:
        try:
            credential = signing.parse_authorization(header)
            hash_type = credential.hash_type
        except signing.SignatureFormatError as exc:
            raise gateway_error("auth.header_invalid", str(exc)) from None
        version = headers.get("x-backendai-version")
        version_header = "x-backendai-version"
        if version is None and "x-sorna-version" in headers:
            version, version_header = headers["x-sorna-version"], "x-sorna-version"
        if not version:
            raise gateway_error("auth.version_missing", "API version missing in request headers "
                                "(X-BackendAI-Version)")
        raw_date, date = self._checked_date(headers)
        body_signed = self._signature_version(headers)
        keypair = await self.keys.resolve(credential.access_key)
        content_type = headers.get("content-type", signing.DEFAULT_CONTENT_TYPE)
        content_type = content_type.split(";", 1)[0].strip().lower()
        body = b""
        declared = headers.get(signing.CONTENT_SHA256_HEADER) if body_signed else None
        if declared is not None:
            if not DIGEST.fullmatch(declared):
                raise gateway_error("auth.header_invalid", "X-Baikal-Content-SHA256 must be "
                                    "the body's SHA-256 in lowercase hex")
            scope[DECLARED_DIGEST_SCOPE_KEY] = declared  # checked where the body is read
        elif body_signed or (version < signing.UNSIGNED_BODY_SINCE
                             and content_type != "multipart/form-data"):
            body = await body_reader()
        expected = signing.sign(
            secret_key=keypair["secret_key"], method=scope["method"],
            path_with_query=path_with_query(scope), raw_date=raw_date, date=date,
            host=headers.get("host", ""), content_type=content_type, api_version=version,
            hash_type=hash_type, body=body, version_header=version_header,
            body_signed=body_signed, body_digest=declared)
        # Bytes: compare_digest refuses non-ASCII str, and headers arrive as latin-1 text.
        if not hmac.compare_digest(expected.encode(), credential.signature.encode("latin-1")):
            raise gateway_error("auth.signature_mismatch", "HMAC signature mismatch")
        if self.replay is not None:  # after the check: only genuine signatures are kept
            self.replay.check(credential.signature, date)
        return self._caller(keypair, "hmac")

    def _signature_version(self, headers: dict[str, str]) -> bool:
        """True for version 2 (body signed); the legacy scheme unless switched off."""
        version = headers.get(signing.SIGNATURE_VERSION_HEADER)
        if version is None:
            if not self.legacy_signing:
                raise gateway_error("auth.legacy_signing_disabled",
                                    "this gateway accepts only body-signed requests "
                                    "(X-Baikal-Signature-Version: 2)")
            return False
        if version != signing.BODY_SIGNED:
            raise gateway_error("auth.signature_version_unknown",
                                f"unknown signature version {version[:20]!r}; use 2",
                                supported=[signing.BODY_SIGNED])
        return True

    def _caller(self, keypair: dict[str, Any], method: str) -> Caller:
        key = (keypair["access_key"], method)
        known = self._callers.get(key)
        if known is not None and known[0] is keypair:
            return known[1]
        caller = Caller(access_key=keypair["access_key"], user_id=keypair["user_id"],
                        email=keypair["email"], role=keypair["role"],
                        domain=keypair["domain"], rate_limit=int(keypair["rate_limit"]),
                        method=method)
        if len(self._callers) >= 100_000:
            self._callers.clear()
        self._callers[key] = (keypair, caller)
        return caller

    def _checked_date(self, headers: dict[str, str]) -> tuple[str, datetime]:
        raw = headers.get("date") or headers.get("x-backendai-date") or headers.get(
            "x-sorna-date")
        if not raw:
            raise gateway_error("auth.date_missing", "Date or X-BackendAI-Date header missing")
        try:
            date = signing.parse_date(raw)
        except signing.SignatureFormatError as exc:
            raise gateway_error("auth.date_invalid", str(exc)) from None
        offset = (date - datetime.now(UTC)).total_seconds()
        if abs(offset) > self.skew:
            raise gateway_error("auth.date_skew",
                                f"Date/time sync error: the request is {offset:+.0f}s from the "
                                f"server's clock (allowed ±{self.skew}s)",
                                offset_seconds=round(offset), allowed_seconds=self.skew)
        return raw, date


def header_map(scope: Scope) -> dict[str, str]:
    """The request's headers by (lower-case) name; the first of repeated ones, as Starlette."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1")
        if key not in headers:
            headers[key] = value.decode("latin-1")
    return headers


def path_with_query(scope: Scope) -> str:
    """The request target as sent (raw path, raw query), as the reference server signs it."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


SECURITY_SCHEME = {
    "type": "apiKey", "in": "header", "name": "Authorization",
    "description": "`BackendAI signMethod=HMAC-SHA256, credential=<ACCESS_KEY>:<SIGNATURE>` "
                   "with `Date` (or `X-BackendAI-Date`) within ±15 min and "
                   "`X-BackendAI-Version`; or `Bearer <token>` from POST /auth/login.",
}


def require(caller: Caller, role: str) -> Caller:
    """Refuse (403) a caller below the route's role: "user", "admin" or "superadmin"."""
    if role == UserRole.ADMIN and not caller.is_admin:
        raise gateway_error("auth.forbidden", "this needs an admin or superadmin",
                            required=UserRole.ADMIN)
    if role == UserRole.SUPERADMIN and caller.role != UserRole.SUPERADMIN:
        raise gateway_error("auth.forbidden", "this needs the superadmin role",
                            required=UserRole.SUPERADMIN)
    return caller


# Plain functions of the request (no nested dependencies: FastAPI's dependency solving is a
# large share of a request's CPU); the OpenAPI security scheme is added by the app factory.
async def authenticated(request: Request) -> Caller:
    authenticator: Authenticator = request.app.state.gateway.auth
    # request.body, not the raw receive: FastAPI may have read (and kept) the body already.
    caller = await authenticator.authenticate(request.scope, request.body)
    declared = request.scope.get(DECLARED_DIGEST_SCOPE_KEY)
    if declared is not None and hasattr(request, "_body"):
        # A declared digest on a body the route has already read (FastAPI reads a JSON body
        # before its dependencies): checked now. A streamed body is checked by its reader.
        check_declared_digest(declared, hashlib.sha256(request._body).hexdigest())
    return caller


def check_declared_digest(declared: str, actual: str) -> None:
    if not hmac.compare_digest(declared, actual):
        raise gateway_error("auth.content_mismatch", "the body does not match its signed "
                            "X-Baikal-Content-SHA256")


async def admin(request: Request) -> Caller:
    return require(await authenticated(request), UserRole.ADMIN)


async def superadmin(request: Request) -> Caller:
    return require(await authenticated(request), UserRole.SUPERADMIN)
