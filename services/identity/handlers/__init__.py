"""Identity's bus handlers, one top-level function per message, by aggregate; `HANDLERS` is
the table `services.runtime.serve` subscribes from `contracts.identity.SPECS`."""

from __future__ import annotations

from services.identity.handlers import auth, keypairs, projects, users
from services.identity.handlers.deps import IdentityDeps
from services.runtime.serve import SpecHandler, table

HANDLERS: dict[str, SpecHandler[IdentityDeps]] = table(
    users.HANDLERS, keypairs.HANDLERS, projects.HANDLERS, auth.HANDLERS)

__all__ = ["HANDLERS", "IdentityDeps"]
