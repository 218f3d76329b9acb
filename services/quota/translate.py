"""Stored quota events → published contract events (only policy events are published)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contracts import quota as c
from contracts.envelope import Event
from services.quota.domain.model import Policy
from services.runtime.relay import contract_event
from services.runtime.store import ServiceApplication


class QuotaTranslator:
    def __init__(self, app: ServiceApplication) -> None:
        self.app = app
        self._keys: dict[str, tuple[str, str]] = {}

    def key(self, aggregate_id: str) -> tuple[str, str]:
        if aggregate_id not in self._keys:
            policy = self.app.repository.get(UUID(aggregate_id))
            self._keys[aggregate_id] = (policy.kind, policy.name)
        return self._keys[aggregate_id]

    def __call__(self, e: Any) -> tuple[str, Event] | None:
        oid = str(e.originator_id)
        if isinstance(e, Policy.Created):
            self._keys[oid] = (e.kind, e.name)
            type_name, data = "PolicyCreated", {"kind": e.kind, "name": e.name,
                                                "policy": e.values}
        elif isinstance(e, Policy.Recreated):
            kind, name = self.key(oid)
            type_name, data = "PolicyCreated", {"kind": kind, "name": name, "policy": e.values}
        elif isinstance(e, Policy.Updated):
            kind, name = self.key(oid)
            type_name, data = "PolicyUpdated", {"kind": kind, "name": name,
                                                "policy": e.values, "changed": e.changed}
        elif isinstance(e, Policy.Deleted):
            kind, name = self.key(oid)
            type_name, data = "PolicyDeleted", {"kind": kind, "name": name}
        else:
            return None
        return contract_event(c, e, type_name, data)
