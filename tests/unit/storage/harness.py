"""StorageApplication with an in-memory store and real host directories under a temp dir:
commands called directly, identity's and quota's events fed to its learner with tracking
records. No bus, no mocks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import Tracking

from contracts import storage as c
from contracts.envelope import Actor, Event
from services.runtime.actors import ActorDirectory
from services.storage.app import Cluster, StorageApplication
from services.storage.domain.access import ALL_HOST_OPERATIONS
from services.storage.hosts import Hosts
from services.storage.queries import StorageQueries
from services.storage.reactions import subscriptions
from services.storage.views import StorageView
from tests.support.actors import teach_actor

ROOT, ADMIN, ALICE, BOB, EVE = (f"AKIA{n * 16}" for n in "RADBE")
PROJECT = "p-research"


def new_id() -> str:
    return str(uuid.uuid4())


class Harness:
    def __init__(self, root: Path, types: str = "user,group", hosts: str = "",
                 default: str | None = None, domain_hosts: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.root = root
        self.directory = ActorDirectory()
        self.hosts = Hosts.parse(hosts, root, default)
        allowed = domain_hosts if domain_hosts is not None else (
            [self.hosts.default] if self.hosts.default else [])
        self.cluster = Cluster(self.hosts, frozenset(types.split(",")),
                               {h: sorted(ALL_HOST_OPERATIONS) for h in allowed})
        self.env = env or {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        self.positions = {"identity": 0, "quota": 0}
        self.app = self.start()
        for key, name, role in ((ROOT, "root", "superadmin"), (ADMIN, "admin", "admin"),
                                (ALICE, "alice", "user"), (BOB, "bob", "user"),
                                (EVE, "eve", "user")):
            self.person(key, name, role)
        self.policy("keypair", "default", max_vfolder_count="unlimited")
        self.policy("user", "default", max_vfolder_count="unlimited")
        self.policy("project", "default", max_vfolder_count="unlimited")
        self.feed("identity", "ProjectCreated", {
            "project_id": PROJECT, "domain": "default", "name": "research",
            "description": "", "resource_policy": "default"})
        self.join("bob")

    def start(self) -> StorageApplication:
        app = StorageApplication(self.cluster, self.env, self.directory)
        app.view = StorageView(app)
        app.view.attach()
        self.queries = StorageQueries(app)
        return app

    # ---- actors and what storage learns -------------------------------------------------------

    def person(self, key: str, name: str, role: str, policy: str = "default") -> None:
        email = f"{name}@example.com"
        teach_actor(self.directory, name, role, key, email=email)
        self.feed("identity", "UserCreated", {
            "user_id": name, "email": email, "username": name, "full_name": "",
            "description": "", "role": role, "status": "active", "domain": "default",
            "projects": [], "resource_policy": policy, "need_password_change": False,
            "created_at": "2026-12-01T00:00:00+00:00"})
        self.feed("identity", "KeypairIssued", {
            "access_key": key, "user_id": name, "email": email, "is_active": True,
            "is_admin": role != "user", "is_default": True, "resource_policy": policy,
            "rate_limit": 1000})

    def join(self, user: str, project: str = PROJECT, joined: bool = True) -> None:
        self.feed("identity", "MemberAdded" if joined else "MemberRemoved",
                  {"project_id": project, "user_id": user})

    def policy(self, kind: str, name: str, event: str = "PolicyCreated",
               **values: Any) -> None:
        data: dict[str, Any] = {"kind": kind, "name": name, "policy": values}
        if event == "PolicyUpdated":
            data["changed"] = sorted(values)
        self.feed("quota", event, data)

    def feed(self, producer: str, type_name: str, data: dict[str, Any]) -> None:
        self.positions[producer] += 1
        envelope = Event(id=new_id(), type=type_name, source=producer, aggregate_id=new_id(),
                         sequence=1, occurred_at=datetime.now(UTC), data=data)
        tracking = Tracking(application_name=f"BAI_EVT_{producer.upper()}",
                            notification_id=self.positions[producer])
        # through the service's own reactions (typed there), as its consumers hand them over
        reaction = {s.producer: s.handle for s in subscriptions(self.app)}[producer]
        reaction(envelope, tracking)

    # ---- commands and queries -------------------------------------------------------------------

    def create(self, key: str, name: str, command_id: str | None = None,
               **fields: Any) -> dict[str, Any]:
        return self.app.create_folder(command_id or new_id(), Actor(access_key=key),
                                      c.CreateFolder(name=name, **fields))

    def group(self, name: str, permission: str = "ro", key: str = ADMIN,
              **fields: Any) -> dict[str, Any]:
        return self.create(key, name, type="group", project=PROJECT, permission=permission,
                           **fields)

    def listed(self, key: str, status: str | None = None) -> dict[str, dict[str, Any]]:
        page = self.queries.list_folders(Actor(access_key=key), c.ListFolders(status=status))
        return {row["name"]: row for row in page["items"]}

    def invite(self, key: str, folder: str, *emails: str, permission: str = "rw"
               ) -> dict[str, str]:
        reply = self.app.send_invitations(new_id(), Actor(access_key=key), c.SendInvitations(
            folder=folder, emails=list(emails), permission=permission))
        return dict(reply["invitations"])

    def answer(self, key: str, invitation: str, state: str) -> dict[str, Any]:
        return self.app.decide_invitation(new_id(), Actor(access_key=key), invitation, state)

    def directory_of(self, reply: dict[str, Any]) -> Path:
        return self.hosts.directory(reply["host"], uuid.UUID(reply["folder_id"]).hex)
