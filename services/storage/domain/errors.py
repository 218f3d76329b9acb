"""Storage refusals with stable codes."""

from __future__ import annotations

from typing import Any

from services.runtime.errors import CodedError


class StorageError(CodedError):
    code = "storage.error"


def refuse(code: str, message: str, **details: Any) -> StorageError:
    """Build a refusal; `code` is relative to the service, e.g. 'folder.name_taken'."""
    return StorageError(message, code=f"storage.{code}", **details)
