"""Errors that carry a stable code and become `Error{code}` replies."""

from __future__ import annotations

from typing import Any


class CodedError(Exception):
    """Base for every refusal a caller may see; `code` never changes meaning."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class Forbidden(CodedError):
    code = "auth.forbidden"


class Unauthenticated(CodedError):
    code = "auth.unauthenticated"


class InvalidRequest(CodedError):
    code = "request.invalid"


class CommandIdReused(CodedError):
    code = "command.id_reused"


class ConcurrencyConflict(CodedError):
    code = "command.conflict"
