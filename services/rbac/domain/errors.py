"""RBAC refusals with stable codes."""

from __future__ import annotations

from typing import Any

from services.runtime.errors import CodedError


class RbacError(CodedError):
    code = "rbac.error"


def refuse(code: str, message: str, **details: Any) -> RbacError:
    """Build a refusal; `code` is relative to the service, e.g. 'role.not_purgeable'."""
    return RbacError(message, code=f"rbac.{code}", **details)
