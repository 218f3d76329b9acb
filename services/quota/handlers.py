"""Bus handlers for bai.cmd.quota.* and bai.qry.quota.*."""

from __future__ import annotations

from typing import Any

from contracts import quota as c
from contracts.envelope import Command, Query
from services.quota.app import QuotaApplication
from services.quota.views import PolicyView
from services.runtime.dispatch import Dispatcher

S = c.Subjects
TIERS = {
    "keypair": (S.KEYPAIR_POLICY_CREATE, S.KEYPAIR_POLICY_UPDATE, S.KEYPAIR_POLICY_DELETE,
                S.KEYPAIR_POLICY_GET, S.KEYPAIR_POLICY_LIST),
    "user": (S.USER_POLICY_CREATE, S.USER_POLICY_UPDATE, S.USER_POLICY_DELETE,
             S.USER_POLICY_GET, S.USER_POLICY_LIST),
    "project": (S.PROJECT_POLICY_CREATE, S.PROJECT_POLICY_UPDATE, S.PROJECT_POLICY_DELETE,
                S.PROJECT_POLICY_GET, S.PROJECT_POLICY_LIST),
}


def register(dispatcher: Dispatcher, app: QuotaApplication, view: PolicyView) -> None:
    for kind, (create, update, delete, get, listing) in TIERS.items():
        _register_tier(dispatcher, app, view, kind, create, update, delete, get, listing)

    def effective(envelope: Query, payload: c.EffectiveLimits) -> dict[str, Any]:
        return app.effective_limits(payload.access_key)

    dispatcher.query(S.EFFECTIVE_LIMITS, c.EffectiveLimits, effective,
                     c.QUERY_NEEDS[S.EFFECTIVE_LIMITS])


def _register_tier(dispatcher: Dispatcher, app: QuotaApplication, view: PolicyView, kind: str,
                   *subjects: str) -> None:
    create, update, delete, get, listing = subjects

    def on_create(envelope: Command, payload: Any) -> dict[str, Any]:
        return app.create_policy(envelope.id, envelope.actor, kind,
                                 payload.model_dump(exclude_unset=True, mode="json"))

    def on_update(envelope: Command, payload: Any) -> dict[str, Any]:
        return app.update_policy(envelope.id, envelope.actor, kind,
                                 payload.model_dump(exclude_unset=True, mode="json"))

    def on_delete(envelope: Command, payload: c.PolicyRef) -> dict[str, Any]:
        return app.delete_policy(envelope.id, envelope.actor, kind, payload.name)

    def on_get(envelope: Query, payload: c.PolicyRef) -> dict[str, Any]:
        return view.get(kind, payload.name)

    def on_list(envelope: Query, payload: c.ListPolicies) -> dict[str, Any]:
        return view.list(kind, payload)

    for subject, handler in ((create, on_create), (update, on_update), (delete, on_delete)):
        dispatcher.command(subject, c.COMMAND_PAYLOADS[subject], handler,
                           c.COMMAND_NEEDS[subject])
    dispatcher.query(get, c.QUERY_PAYLOADS[get], on_get, c.QUERY_NEEDS[get])
    dispatcher.query(listing, c.QUERY_PAYLOADS[listing], on_list, c.QUERY_NEEDS[listing])
