"""Read model of policies (with their reference counts) for the quota queries."""

from __future__ import annotations

from typing import Any

from contracts.quota import ListPolicies
from services.quota.domain.errors import refuse
from services.quota.domain.model import Policy, PolicyUsage
from services.runtime.store import ServiceApplication
from services.runtime.views import FollowingView


class PolicyView(FollowingView):
    def __init__(self, app: ServiceApplication) -> None:
        super().__init__(app)
        self.policies: dict[tuple[str, str], dict[str, Any]] = {}
        self.by_id: dict[str, tuple[str, str]] = {}
        self.usage: dict[tuple[str, str], int] = {}
        self.usage_ids: dict[str, tuple[str, str]] = {}

    def apply(self, e: Any) -> None:
        oid = str(e.originator_id)
        at = e.timestamp.isoformat()
        if isinstance(e, Policy.Created):
            key = (e.kind, e.name)
            self.by_id[oid] = key
            self.policies[key] = {"kind": e.kind, "name": e.name, "policy": dict(e.values),
                                  "created_at": at, "updated_at": at}
        elif isinstance(e, Policy.Updated | Policy.Recreated):
            row = self.policies[self.by_id[oid]]
            row.update(policy=dict(e.values), updated_at=at)
            if isinstance(e, Policy.Recreated):
                row["created_at"] = at
        elif isinstance(e, Policy.Deleted):
            self.policies.pop(self.by_id[oid], None)
        elif isinstance(e, PolicyUsage.Started):
            self.usage_ids[oid] = (e.kind, e.name)
            self.usage[(e.kind, e.name)] = 0
        elif isinstance(e, PolicyUsage.Referenced | PolicyUsage.Released):
            key = self.usage_ids[oid]
            self.usage[key] += 1 if isinstance(e, PolicyUsage.Referenced) else -1

    def get(self, kind: str, name: str) -> dict[str, Any]:
        with self.lock:
            row = self.policies.get((kind, name))
            if row is None:
                raise refuse("policy.not_found", f"no {kind} resource policy named '{name}'",
                             field="name")
            return {**row, "references": self.usage.get((kind, name), 0)}

    def list(self, kind: str, q: ListPolicies) -> dict[str, Any]:
        with self.lock:
            rows = [{**row, "references": self.usage.get(key, 0)}
                    for key, row in self.policies.items()
                    if key[0] == kind and q.name_contains.lower() in row["name"].lower()]
        rows.sort(key=lambda r: (r[q.sort], r["name"]), reverse=q.order == "desc")
        return {"total": len(rows), "offset": q.offset, "limit": q.limit,
                "items": rows[q.offset:q.offset + q.limit]}
