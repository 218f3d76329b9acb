"""Handlers of the host and file reads: the hosts, and file access grants for the gateway."""

from __future__ import annotations

from typing import Any

from contracts import storage as c
from services.runtime.context import MessageContext
from services.runtime.serve import SpecHandler
from services.storage.handlers.deps import StorageDeps

S = c.Subjects


def list_hosts(deps: StorageDeps, ctx: MessageContext, q: c.ListHosts) -> dict[str, Any]:
    return deps.queries.list_hosts(ctx.actor)


def authorize_files(deps: StorageDeps, ctx: MessageContext, q: c.AuthorizeFiles
                    ) -> dict[str, Any]:
    # Answers the real paths: the gateway streams the bytes itself (never over NATS).
    return deps.queries.authorize_files(ctx.actor, q)


HANDLERS: dict[str, SpecHandler[StorageDeps]] = {
    S.HOST_LIST: list_hosts,
    S.FILES_AUTHORIZE: authorize_files,
}
