"""Read model of folders and invitations, and of what storage learnt from identity and quota
(users with their projects, projects, keypairs, policies), built from storage's own events."""

from __future__ import annotations

from typing import Any

from contracts import storage as c
from contracts.values import canonical_email
from services.runtime.views import FollowingView
from services.storage.domain.known import KnownKeypair, KnownPolicy, KnownProject, KnownUser
from services.storage.domain.model import Folder


class StorageView(FollowingView):
    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.folders: dict[str, dict[str, Any]] = {}
        self.invitations: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.emails: dict[str, str] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.keypairs: dict[str, dict[str, Any]] = {}
        self.policies: dict[tuple[str, str], dict[str, Any]] = {}
        self._known: dict[str, Any] = {}  # aggregate id -> the row it updates
        self.names: dict[str, set[str]] = {}  # folder name -> folder ids
        self.mounts: dict[str, set[str]] = {}  # session id -> folders it mounts

    def apply(self, e: Any) -> None:
        oid = str(e.originator_id)
        if isinstance(e, Folder.Created):
            self._folder_created(oid, e)
        elif isinstance(e, Folder.Event) and oid in self.folders:
            self._folder_changed(self.folders[oid], e)
        elif isinstance(e, KnownUser.Event | KnownProject.Event | KnownKeypair.Event
                        | KnownPolicy.Event):
            self._learnt(oid, e)

    def _folder_created(self, oid: str, e: Any) -> None:
        self.folders[oid] = {
            "folder_id": oid, "name": e.name, "host": e.host, "ownership": e.ownership,
            "owner_id": e.owner_id, "domain": e.domain, "creator": e.creator,
            "permission": e.permission, "usage_mode": e.usage_mode,
            "status": c.FolderStatus.READY.value, "shares": {},
            "created_at": e.timestamp.isoformat(), "directory": e.originator_id.hex}
        self.names.setdefault(e.name, set()).add(oid)

    def _folder_changed(self, row: dict[str, Any], e: Any) -> None:
        statuses = {Folder.Trashed: c.FolderStatus.TRASHED, Folder.Restored: c.FolderStatus.READY,
                    Folder.PurgeStarted: c.FolderStatus.PURGING,
                    Folder.Purged: c.FolderStatus.PURGED}
        if type(e) in statuses:
            row["status"] = statuses[type(e)].value
        elif isinstance(e, Folder.Renamed):
            self.names.get(row["name"], set()).discard(row["folder_id"])
            self.names.setdefault(e.name, set()).add(row["folder_id"])
            row["name"] = e.name
        elif isinstance(e, Folder.PermissionChanged):
            row["permission"] = e.permission
        elif isinstance(e, Folder.Shared):
            row["shares"][e.user_id] = {"email": e.email, "permission": e.permission}
        elif isinstance(e, Folder.Mounted):
            self.mounts.setdefault(e.session_id, set()).add(row["folder_id"])
        elif isinstance(e, Folder.Unmounted):
            self.mounts.get(e.session_id, set()).discard(row["folder_id"])
        elif isinstance(e, Folder.Unshared):
            row["shares"].pop(e.user_id, None)
        elif isinstance(e, Folder.Invited):
            self.invitations[e.invitation_id] = {
                "invitation_id": e.invitation_id, "folder_id": row["folder_id"],
                "inviter_id": e.inviter_id, "invitee_id": e.invitee_id, "invitee": e.invitee,
                "permission": e.permission, "state": c.InvitationState.PENDING.value,
                "created_at": e.timestamp.isoformat()}
        elif isinstance(e, Folder.InvitationDecided):
            found = self.invitations[e.invitation_id]
            found["state"] = e.state
            if e.state == c.InvitationState.ACCEPTED:
                row["shares"][found["invitee_id"]] = {"email": found["invitee"],
                                                      "permission": found["permission"]}

    def _learnt(self, oid: str, e: Any) -> None:
        if isinstance(e, KnownUser.Learnt):
            row = {"user_id": e.user_id, "email": e.email, "domain": e.domain, "role": e.role,
                   "policy": e.policy, "projects": set(e.projects)}
            self.users[e.user_id] = self._known[oid] = row
            self.emails[canonical_email(e.email)] = e.user_id
        elif isinstance(e, KnownUser.Changed):
            self._known[oid].update(role=e.role, domain=e.domain, policy=e.policy)
        elif isinstance(e, KnownUser.Joined):
            self._known[oid]["projects"].add(e.project_id)
        elif isinstance(e, KnownUser.Left):
            self._known[oid]["projects"].discard(e.project_id)
        elif isinstance(e, KnownProject.Learnt):
            self.projects[e.project_id] = self._known[oid] = {
                "project_id": e.project_id, "name": e.name, "domain": e.domain,
                "policy": e.policy}
        elif isinstance(e, KnownKeypair.Learnt):
            self.keypairs[e.access_key] = self._known[oid] = {"user_id": e.user_id,
                                                              "policy": e.policy}
        elif isinstance(e, KnownKeypair.PolicyAssigned):
            self._known[oid]["policy"] = e.policy
        elif isinstance(e, KnownPolicy.Learnt):
            self.policies[(e.kind, e.name)] = self._known[oid] = dict(e.limits)
        elif isinstance(e, KnownPolicy.Changed):
            row = self._known[oid]
            row.clear()
            row.update(e.limits)
        elif isinstance(e, KnownPolicy.Forgotten):
            self._known[oid].clear()

    # ---- lookups (callers hold no lock; each returns copies or immutable values) ---------

    def folder(self, folder_id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.folders.get(folder_id)
            return _copy(row) if row else None

    def all_folders(self) -> list[dict[str, Any]]:
        with self.lock:
            return [_copy(row) for row in self.folders.values()]

    def user(self, user_id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.users.get(user_id)
            return {**row, "projects": frozenset(row["projects"])} if row else None

    def user_by_email(self, email: str) -> str | None:
        with self.lock:
            return self.emails.get(canonical_email(email))

    def project(self, ref: str, domain: str | None) -> dict[str, Any] | None:
        """By id, or by name (within `domain` when given)."""
        with self.lock:
            if ref in self.projects:
                return dict(self.projects[ref])
            named = [p for p in self.projects.values()
                     if p["name"] == ref and (domain is None or p["domain"] == domain)]
            return dict(named[0]) if len(named) == 1 else None

    def keypair_policy(self, access_key: str) -> str | None:
        with self.lock:
            row = self.keypairs.get(access_key)
            return row["policy"] if row else None

    def policy(self, kind: str, name: str | None) -> dict[str, Any]:
        with self.lock:
            return dict(self.policies.get((kind, name or ""), {}))

    def invitation(self, iid: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.invitations.get(iid)
            return dict(row) if row else None

    def invitations_of(self, user_id: str, sent: bool) -> list[dict[str, Any]]:
        key = "inviter_id" if sent else "invitee_id"
        with self.lock:
            return [dict(i) for i in self.invitations.values() if i[key] == user_id]

    def named(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [_copy(self.folders[i]) for i in self.names.get(name, ())]

    def mounted_by(self, session_id: str) -> list[str]:
        with self.lock:
            return sorted(self.mounts.get(session_id, ()))

    def count(self, status: str, ownership: str) -> int:
        with self.lock:
            return sum(1 for r in self.folders.values()
                       if r["status"] == status and r["ownership"] == ownership)

    def pending_invitations(self) -> int:
        with self.lock:
            return sum(1 for i in self.invitations.values()
                       if i["state"] == c.InvitationState.PENDING)

    def with_status(self, status: str) -> list[dict[str, Any]]:
        with self.lock:
            return [_copy(r) for r in self.folders.values() if r["status"] == status]


def _copy(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "shares": {k: dict(v) for k, v in row["shares"].items()}}
