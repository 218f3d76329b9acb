"""Quota refusals with stable codes."""

from __future__ import annotations

from typing import Any

from services.runtime.errors import CodedError


class QuotaError(CodedError):
    code = "quota.error"


def refuse(code: str, message: str, **details: Any) -> QuotaError:
    """Build a refusal; `code` is relative to the service, e.g. 'policy.in_use'."""
    return QuotaError(message, code=f"quota.{code}", **details)
