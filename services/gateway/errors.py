"""The one table from error codes to HTTP statuses, and the JSON shape of every error."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.values import SERVICE_NAMES

# Exact codes, without the service prefix ("identity.user.not_found" → "user.not_found").
STATUS_BY_CODE: dict[str, int] = {
    "request.malformed": 400,
    "request.invalid": 422,
    "auth.unauthenticated": 401,
    "auth.invalid_credentials": 401,
    "auth.forbidden": 403,
    "auth.no_active_keypair": 403,
    "keypair.inactive": 401,  # from keypairs.resolve: the caller's own key
    "keypair.unknown": 404,  # quota has not seen the keypair
    "keypair.user_inactive": 409,
    "keypair.orphaned": 409,
    "policy.unknown": 400,  # identity: a field names a policy that does not exist
    "policy.name_immutable": 400,
    "project.other_domain": 400,
    "user.self_deactivation": 409,
    # rbac: what the role's state forbids now (deactivate first, empty it first, ...)
    "role.active": 409,
    "role.not_empty": 409,
    "role.inactive": 409,
    "role.system_immutable": 409,
    "system.already_bootstrapped": 409,
    "command.id_reused": 409,
    "command.conflict": 409,
    "rate_limit.exceeded": 429,
    "export.filename_invalid": 400,
    "export.too_many_rows": 400,
    "route.not_found": 404,
    # storage: what the folder's or invitation's state forbids now
    "folder.not_ready": 409,
    "folder.mounted": 409,
    "folder.not_in_trash": 409,
    "folder.ambiguous": 409,
    "invitation.pending": 409,
    "invitation.not_pending": 409,
    "invitation.grant_exists": 409,
    "method_not_allowed": 405,
    "internal": 502,  # the service failed: the gateway is fine, its upstream is not
    "service.unavailable": 503,
    "service.timeout": 504,
    # a service's replicas have not reached the positions the request names: retry
    "replica.behind": 503,
}

# Then families of codes: by how they start, then by how they end (first match wins).
STATUS_BY_SUFFIX: list[tuple[str, int]] = [
    (".not_found", 404),
    ("_taken", 409), (".in_use", 409), (".conflict", 409), ("_reused", 409), (".exists", 409),
    ("_empty", 400), ("_too_long", 400), ("_invalid", 400), ("_missing", 400),
    ("_mismatch", 400), ("_too_weak", 400),
    (".out_of_range", 400), (".not_a_number", 400), (".bad_step", 400), (".unknown_slot", 400),
    (".bad_vfolder_host", 400),
    ("forbidden", 403), (".not_allowed", 403), (".not_yours", 403),
]
STATUS_BY_PREFIX: list[tuple[str, int]] = [("auth.", 401)]
DEFAULT_REFUSAL_STATUS = 400  # a refusal the table does not know is still the caller's problem


def relative_code(code: str) -> str:
    service, _, rest = code.partition(".")
    return rest if service in SERVICE_NAMES and rest else code


def status_for(code: str) -> int:
    rel = relative_code(code)
    if rel in STATUS_BY_CODE:
        return STATUS_BY_CODE[rel]
    for prefix, status in STATUS_BY_PREFIX:
        if rel.startswith(prefix):
            return status
    for suffix, status in STATUS_BY_SUFFIX:
        if rel.endswith(suffix):
            return status
    return DEFAULT_REFUSAL_STATUS


class ApiError(Exception):
    """Becomes an HTTP error response; the status comes from the table unless given."""

    def __init__(self, code: str, message: str, *, status: int | None = None,
                 headers: dict[str, str] | None = None, **details: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else status_for(code)
        self.headers = headers or {}
        self.details = details

    def body(self) -> bytes:
        return error_body(self.code, self.message, self.details)


def gateway_error(code: str, message: str, **kw: Any) -> ApiError:
    return ApiError(f"gateway.{code}", message, **kw)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> bytes:
    payload = {"error": {"code": code, "message": message, "details": details or {}}}
    return json.dumps(payload, default=str).encode()


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Stable code, e.g. identity.user.email_taken")
    message: str
    details: dict[str, Any]


class ErrorResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: ErrorBody


_DESCRIPTIONS = {
    400: "Refused: a field breaks a rule (the code names it)",
    401: "Not authenticated: missing, malformed, wrong or expired credentials",
    403: "Authenticated, but the role may not do this",
    404: "No such entity",
    409: "Conflicts with the current state (taken, in use, reused id)",
    422: "The request does not match the schema",
    429: "Rate limit of the keypair exceeded (rolling window)",
    502: "The service failed while handling the request",
    503: "No instance of the service answers",
    504: "The service did not answer in time",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text} for status, text in _DESCRIPTIONS.items()
}
