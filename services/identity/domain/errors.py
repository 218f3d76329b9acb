"""Identity refusals with stable codes."""

from __future__ import annotations

from typing import Any

from services.runtime.errors import CodedError


class IdentityError(CodedError):
    code = "identity.error"


def refuse(code: str, message: str, **details: Any) -> IdentityError:
    """Build a refusal; `code` is relative to the service, e.g. 'user.email_taken'."""
    return IdentityError(message, code=f"identity.{code}", **details)
