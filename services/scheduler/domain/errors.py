"""Scheduler refusals with stable codes."""

from __future__ import annotations

from typing import Any

from services.runtime.errors import CodedError


class SchedulerError(CodedError):
    code = "scheduler.error"


def refuse(code: str, message: str, **details: Any) -> SchedulerError:
    return SchedulerError(message, code=f"scheduler.{code}", **details)
