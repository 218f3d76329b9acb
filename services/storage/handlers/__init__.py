"""Storage's bus handlers, one top-level function per message, by aggregate (folders,
invitations, files); `HANDLERS` is the table `services.runtime.serve` subscribes from
`contracts.storage.SPECS`."""

from __future__ import annotations

from services.runtime.serve import SpecHandler, table
from services.storage.handlers import files, folders, invitations
from services.storage.handlers.deps import StorageDeps

HANDLERS: dict[str, SpecHandler[StorageDeps]] = table(
    folders.HANDLERS, invitations.HANDLERS, files.HANDLERS)

__all__ = ["HANDLERS", "StorageDeps"]
