"""Stored storage events → published contract events (folders and invitations only)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contracts import storage as c
from contracts.envelope import Event
from services.runtime.relay import contract_event
from services.runtime.store import ServiceApplication
from services.storage.domain.model import Folder

LIFECYCLE = {Folder.Trashed: ("FolderTrashed", c.FolderStatus.TRASHED),
             Folder.Restored: ("FolderRestored", c.FolderStatus.READY),
             Folder.Purged: ("FolderPurged", c.FolderStatus.PURGED)}
DECIDED = {"accepted": "InvitationAccepted", "rejected": "InvitationRejected",
           "canceled": "InvitationCanceled"}


class StorageTranslator:
    def __init__(self, app: ServiceApplication) -> None:
        self.app = app

    def folder(self, aggregate_id: str, version: int) -> Folder:
        return self.app.repository.get(UUID(aggregate_id), version=version)

    def __call__(self, e: Any) -> tuple[str, Event] | None:
        oid = str(e.originator_id)
        if isinstance(e, Folder.Created):
            type_name, data = "FolderCreated", {
                "folder_id": oid, "name": e.name, "host": e.host, "ownership": e.ownership,
                "owner_id": e.owner_id, "domain": e.domain, "creator": e.creator,
                "permission": e.permission, "usage_mode": e.usage_mode}
        elif isinstance(e, Folder.Renamed):
            type_name, data = "FolderRenamed", {"folder_id": oid, "name": e.name,
                                                "previous": e.previous}
        elif isinstance(e, Folder.PermissionChanged):
            type_name, data = "FolderPermissionChanged", {"folder_id": oid,
                                                          "permission": e.permission}
        elif isinstance(e, Folder.Shared | Folder.Unshared):
            email = e.email if isinstance(e, Folder.Shared) else None
            type_name, data = "FolderPermissionChanged", {
                "folder_id": oid, "user_id": e.user_id, "email": email,
                "permission": e.permission if isinstance(e, Folder.Shared) else None}
        elif isinstance(e, Folder.Invited):
            type_name, data = "InvitationSent", {
                "invitation_id": e.invitation_id, "folder_id": oid, "inviter": e.inviter_id,
                "invitee": e.invitee, "permission": e.permission}
        elif isinstance(e, Folder.InvitationDecided):
            folder = self.folder(oid, e.originator_version)
            invitee = folder.invitations[e.invitation_id]["invitee"]
            type_name, data = DECIDED[e.state], {
                "invitation_id": e.invitation_id, "folder_id": oid, "invitee": invitee,
                "state": e.state}
        elif type(e) in LIFECYCLE:
            type_name, status = LIFECYCLE[type(e)]
            folder = self.folder(oid, e.originator_version)
            data = {"folder_id": oid, "name": folder.name, "status": status.value}
        else:
            return None
        return contract_event(c, e, type_name, data)
