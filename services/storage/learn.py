"""What storage learns from identity's and quota's events: users and their projects, projects,
keypairs' policies, and the folder fields of every policy. Each event's effects and the
consumer position commit in one transaction (`save_tracked`), so nothing applies twice."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking

from contracts import identity, quota
from services.storage.domain.known import (
    KnownKeypair,
    KnownPolicy,
    KnownProject,
    KnownUser,
    folder_limits,
    known_keypair_id,
    known_policy_id,
    known_project_id,
    known_user_id,
)


def learn_identity_events(app: Any, events: list[identity.IdentityEvent],
                          tracking: Tracking) -> None:
    """One envelope's typed events (reactions.py parses it; a retired UserUpdated comes as
    the specific events it stood for)."""
    touched: dict[Any, Any] = {}

    def find(aggregate_id: Any) -> Any:
        return touched.get(aggregate_id) or app.find(aggregate_id)

    for e in events:
        found = _learn(find, e)
        if found is not None:
            touched[found.id] = found
    app.save_tracked(tracking, *(a for a in touched.values() if a.pending_events))


def learn_policy_event(app: Any, e: quota.PolicyEvent | None, tracking: Tracking) -> None:
    """quota's typed event (reactions.py parses it): the folder fields of every policy."""
    found = None if e is None else app.find(known_policy_id(e.kind, e.name))
    touched: list[Any] = []
    if isinstance(e, quota.PolicyCreated | quota.PolicyUpdated):
        limits = folder_limits(e.policy)
        if found is None:
            touched.append(KnownPolicy(kind=e.kind, name=e.name, limits=limits))
        else:
            found.change(limits)
            touched.append(found)
    elif isinstance(e, quota.PolicyDeleted) and found is not None:
        found.forget()
        touched.append(found)
    app.save_tracked(tracking, *touched)


def _learn(find: Any, e: identity.IdentityEvent) -> Any:
    """The known user, project or keypair one identity event changes (None: nothing)."""
    if isinstance(e, identity.UserCreated):
        if find(known_user_id(e.user_id)) is None:
            return KnownUser(user_id=e.user_id, email=e.email, domain=e.domain,
                             role=str(e.role), policy=e.resource_policy,
                             projects=list(e.projects))
    elif isinstance(e, identity.UserRoleChanged | identity.UserPolicyAssigned):
        user = find(known_user_id(e.user_id))
        if user is not None:
            role = str(e.role) if isinstance(e, identity.UserRoleChanged) else user.role
            policy = e.resource_policy if isinstance(e, identity.UserPolicyAssigned) \
                else user.policy
            user.change(role, user.domain, policy)
            return user
    elif isinstance(e, identity.MemberAdded | identity.MemberRemoved):
        user = find(known_user_id(e.user_id))
        if user is not None:
            (user.join if isinstance(e, identity.MemberAdded) else user.leave)(e.project_id)
            return user
    elif isinstance(e, identity.ProjectCreated):
        if find(known_project_id(e.project_id)) is None:
            return KnownProject(project_id=e.project_id, name=e.name, domain=e.domain,
                                policy=e.resource_policy)
    elif isinstance(e, identity.KeypairIssued):
        if find(known_keypair_id(e.access_key)) is None:
            return KnownKeypair(access_key=e.access_key, user_id=e.user_id,
                                policy=e.resource_policy)
    elif isinstance(e, identity.KeypairPolicyAssigned):
        keypair = find(known_keypair_id(e.access_key))
        if keypair is not None:
            keypair.assign(e.resource_policy)
            return keypair
    return None
