"""What storage learns from identity's and quota's events: users and their projects, projects,
keypairs' policies, and the folder fields of every policy. Each event's effects and the
consumer position commit in one transaction (`save_tracked`), so nothing applies twice."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking

from contracts.envelope import Event
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


class Learner:
    def on_identity_event(self: Any, envelope: Event, tracking: Tracking) -> None:
        data, kind = envelope.data, envelope.type
        touched: list[Any] = []
        if kind == "UserCreated" and self.find(known_user_id(data["user_id"])) is None:
            touched.append(KnownUser(user_id=data["user_id"], email=data["email"],
                                     domain=data["domain"], role=data["role"],
                                     policy=data["resource_policy"],
                                     projects=list(data.get("projects", []))))
        elif kind == "UserUpdated":
            user = self.find(known_user_id(data["user_id"]))
            changes = data["changes"]
            if user is not None and {"role", "domain", "resource_policy"} & set(changes):
                user.change(str(changes.get("role", user.role)),
                            str(changes.get("domain", user.domain)),
                            str(changes.get("resource_policy", user.policy)))
                touched.append(user)
        elif kind in ("MemberAdded", "MemberRemoved"):
            user = self.find(known_user_id(data["user_id"]))
            if user is not None:
                (user.join if kind == "MemberAdded" else user.leave)(data["project_id"])
                touched.append(user)
        elif kind == "ProjectCreated" and self.find(known_project_id(data["project_id"])) is None:
            touched.append(KnownProject(project_id=data["project_id"], name=data["name"],
                                        domain=data["domain"], policy=data["resource_policy"]))
        elif kind == "KeypairIssued" and self.find(known_keypair_id(data["access_key"])) is None:
            touched.append(KnownKeypair(access_key=data["access_key"], user_id=data["user_id"],
                                        policy=data["resource_policy"]))
        elif kind == "KeypairPolicyAssigned":
            keypair = self.find(known_keypair_id(data["access_key"]))
            if keypair is not None:
                keypair.assign(data["resource_policy"])
                touched.append(keypair)
        self.save_tracked(tracking, *(a for a in touched if a.pending_events))

    def on_quota_event(self: Any, envelope: Event, tracking: Tracking) -> None:
        data = envelope.data
        found = self.find(known_policy_id(data["kind"], data["name"]))
        touched: list[Any] = []
        if envelope.type in ("PolicyCreated", "PolicyUpdated"):
            limits = folder_limits(data["policy"])
            if found is None:
                touched.append(KnownPolicy(kind=data["kind"], name=data["name"], limits=limits))
            else:
                found.change(limits)
                touched.append(found)
        elif envelope.type == "PolicyDeleted" and found is not None:
            found.forget()
            touched.append(found)
        self.save_tracked(tracking, *touched)
