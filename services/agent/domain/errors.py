"""Agent refusals with stable codes."""

from __future__ import annotations

from typing import Any

from services.runtime.errors import CodedError


class AgentError(CodedError):
    code = "agent.error"


def refuse(code: str, message: str, **details: Any) -> AgentError:
    """Build a refusal; `code` is relative to the service, e.g. 'slots.insufficient'."""
    return AgentError(message, code=f"agent.{code}", **details)
