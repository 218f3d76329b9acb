"""Storage aggregates: Folder (its permission, per-user permissions, invitations and lifecycle)
and Shelf, the index of one owner's folder names (uniqueness and the count limit)."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from contracts import storage as c
from services.runtime.ids import stable_id
from services.runtime.traced import Aggregate
from services.storage.domain.errors import refuse

_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
# Names a session's home directory already uses (reference `RESERVED_VFOLDERS`, patterns).
RESERVED = frozenset({".terminfo", ".jupyter", ".tmux.conf", ".ssh", ".linuxbrew", ".config",
                      ".local-bin"})
RESERVED_PATTERNS = (re.compile(r"^\.[a-z0-9]+rc$"), re.compile(r"^\.[a-z0-9]+_profile$"))
LIVE = frozenset({c.FolderStatus.READY, c.FolderStatus.TRASHED})


def folder_id(key: str) -> UUID:
    return stable_id("folder", key)


def shelf_id(ownership: str, owner_id: str) -> UUID:
    return stable_id("folder-shelf", ownership, owner_id)


def invitation_id(folder: str, invitee: str, n: int) -> str:
    return str(stable_id("invitation", folder, invitee, str(n)))


def check_name(name: str) -> str:
    if (not 1 <= len(name) <= c.FOLDER_NAME_MAX or not _NAME.match(name)
            or name in (".", "..")):
        raise refuse("folder.name_invalid", f"a folder name is 1-{c.FOLDER_NAME_MAX} letters, "
                     "digits, '.', '_' or '-', and not '.' or '..'", field="name",
                     max=c.FOLDER_NAME_MAX)
    if name in RESERVED or any(p.match(name) for p in RESERVED_PATTERNS):
        raise refuse("folder.name_reserved", f"'{name}' is reserved (a session's home uses it)",
                     field="name")
    return name


def is_dot(name: str) -> bool:
    return name.startswith(".") and name != ".local"


class Folder(Aggregate):
    """A user or group folder. Its directory is `<host root>/<id hex>`, so a rename never
    touches the disk. A purged folder stays as a tombstone."""

    @event("Created")
    def __init__(self, key: str, name: str, host: str, ownership: str, owner_id: str,
                 domain: str, creator: str, creator_id: str, permission: str,
                 usage_mode: str) -> None:
        self.key = key
        self.name = name
        self.host = host
        self.ownership = ownership
        self.owner_id = owner_id
        self.domain = domain
        self.creator = creator
        self.creator_id = creator_id
        self.permission = permission
        self.usage_mode = usage_mode
        self.status = c.FolderStatus.READY.value
        self.shares: dict[str, dict[str, str]] = {}  # user id -> {email, permission}
        self.invitations: dict[str, dict[str, str]] = {}  # id -> inviter, invitee, ...
        self.sessions: dict[str, str] = {}  # live sessions mounting it -> their access key

    @staticmethod
    def create_id(key: str, name: str, host: str, ownership: str, owner_id: str, domain: str,
                  creator: str, creator_id: str, permission: str, usage_mode: str) -> UUID:
        return folder_id(key)

    @property
    def directory(self) -> str:
        return self.id.hex

    # ---- decisions -------------------------------------------------------------------------

    def require_live(self) -> None:
        if self.status != c.FolderStatus.READY:
            raise refuse("folder.not_ready", f"the folder is {self.status}",
                         status=self.status)

    def rename(self, new_name: str) -> bool:
        self.require_live()
        check_name(new_name)
        if new_name == self.name:
            return False
        if self.ownership == c.Ownership.GROUP and is_dot(new_name):
            raise refuse("folder.dot_group", "a group folder's name cannot start with '.'",
                         field="new_name")
        self.renamed(new_name, self.name)
        return True

    def set_permission(self, permission: str) -> bool:
        self.require_live()
        if self.ownership != c.Ownership.GROUP:
            raise refuse("folder.owner_permission", "a user folder's owner always has 'wd'; "
                         "share it to give others a permission", field="permission")
        if permission == self.permission:
            return False
        self.permission_changed(permission)
        return True

    def share(self, user_id: str, email: str, permission: str) -> bool:
        self.require_live()
        if self.ownership == c.Ownership.USER and user_id == self.owner_id:
            raise refuse("folder.self_share", "the owner already holds 'wd'", field="email")
        held = self.shares.get(user_id)
        if held is not None and held["permission"] == permission:
            return False
        self.shared(user_id, email, permission)
        return True

    def unshare(self, user_id: str) -> None:
        if user_id not in self.shares:
            raise refuse("folder.share_not_found", "the user holds no permission of its own "
                         "on this folder", field="email")
        self.unshared(user_id)

    def invite(self, inviter: str, invitee_id: str, invitee: str, permission: str) -> str:
        self.require_live()
        if self.ownership != c.Ownership.USER:
            raise refuse("invitation.group_folder", "group folders are shared with the project "
                         "without invitations", field="folder")
        if is_dot(self.name):
            raise refuse("invitation.dot_folder", "a folder whose name starts with '.' cannot "
                         "be shared", field="folder")
        if invitee_id == self.owner_id:
            raise refuse("invitation.self", "you own this folder", field="emails")
        if invitee_id in self.shares:
            raise refuse("invitation.grant_exists", f"{invitee} already has access",
                         field="emails", email=invitee)
        if any(i["invitee_id"] == invitee_id and i["state"] == c.InvitationState.PENDING
               for i in self.invitations.values()):
            raise refuse("invitation.pending", f"{invitee} has a pending invitation",
                         field="emails", email=invitee)
        iid = invitation_id(str(self.id), invitee_id, len(self.invitations))
        self.invited(iid, inviter, invitee_id, invitee, permission)
        return iid

    def invitation(self, iid: str) -> dict[str, str]:
        found = self.invitations.get(iid)
        if found is None:
            raise refuse("invitation.not_found", "no such invitation", field="invitation_id")
        return found

    def decide(self, iid: str, user_id: str, state: str) -> dict[str, str]:
        """The invitee accepts or rejects; the inviter (or the owner) cancels."""
        found = self.invitation(iid)
        if found["state"] != c.InvitationState.PENDING:
            raise refuse("invitation.not_pending", f"the invitation is {found['state']}",
                         state=found["state"])
        may = (found["inviter_id"], self.owner_id) if state == c.InvitationState.CANCELED \
            else (found["invitee_id"],)
        if user_id not in may:
            raise refuse("invitation.not_yours", "only the invitee may answer, and only the "
                         "inviter cancel", field="invitation_id")
        if state == c.InvitationState.ACCEPTED:
            self.require_live()
        self.invitation_decided(iid, state)
        return self.invitations[iid]

    def require_unmounted(self) -> None:
        if self.sessions:
            raise refuse("folder.mounted", f"{len(self.sessions)} live session(s) mount this "
                         "folder; terminate them first", sessions=sorted(self.sessions)[:5])

    def mount(self, session_id: str, access_key: str) -> bool:
        self.require_live()
        if session_id in self.sessions:
            return False
        self.mounted(session_id, access_key)
        return True

    def trash(self) -> None:
        self.require_live()
        self.require_unmounted()
        self.trashed()

    def restore(self) -> None:
        if self.status != c.FolderStatus.TRASHED:
            raise refuse("folder.not_in_trash", "only a folder in the trash can be restored",
                         status=self.status)
        self.restored()

    def begin_purge(self) -> None:
        if self.status != c.FolderStatus.TRASHED:
            raise refuse("folder.not_in_trash", "move the folder to the trash before deleting "
                         "it forever", status=self.status)
        self.purge_started()

    # ---- events ----------------------------------------------------------------------------

    @event("Renamed")
    def renamed(self, name: str, previous: str) -> None:
        self.name = name

    @event("PermissionChanged")
    def permission_changed(self, permission: str) -> None:
        self.permission = permission

    @event("Shared")
    def shared(self, user_id: str, email: str, permission: str) -> None:
        self.shares[user_id] = {"email": email, "permission": permission}

    @event("Unshared")
    def unshared(self, user_id: str) -> None:
        self.shares.pop(user_id, None)

    @event("Invited")
    def invited(self, invitation_id: str, inviter_id: str, invitee_id: str, invitee: str,
                permission: str) -> None:
        self.invitations[invitation_id] = {
            "inviter_id": inviter_id, "invitee_id": invitee_id, "invitee": invitee,
            "permission": permission, "state": c.InvitationState.PENDING.value}

    @event("InvitationDecided")
    def invitation_decided(self, invitation_id: str, state: str) -> None:
        found = self.invitations[invitation_id]
        found["state"] = state
        if state == c.InvitationState.ACCEPTED:
            self.shares[found["invitee_id"]] = {"email": found["invitee"],
                                                "permission": found["permission"]}

    @event("Mounted")
    def mounted(self, session_id: str, access_key: str) -> None:
        self.sessions[session_id] = access_key

    @event("Unmounted")
    def unmounted(self, session_id: str) -> None:
        self.sessions.pop(session_id, None)

    @event("Trashed")
    def trashed(self) -> None:
        self.status = c.FolderStatus.TRASHED.value

    @event("Restored")
    def restored(self) -> None:
        self.status = c.FolderStatus.READY.value

    @event("PurgeStarted")
    def purge_started(self) -> None:
        self.status = c.FolderStatus.PURGING.value

    @event("Purged")
    def purged(self) -> None:
        self.status = c.FolderStatus.PURGED.value


class Shelf(Aggregate):
    """One owner's folder names (a user's, or a project's): a name is claimed at most once,
    and the folders not yet purged (the trash included) count against the owner's limit.
    Two concurrent claims conflict at commit, so neither rule can be raced past."""

    @event("Started")
    def __init__(self, ownership: str, owner_id: str) -> None:
        self.ownership = ownership
        self.owner_id = owner_id
        self.names: dict[str, str] = {}  # name -> folder id

    @staticmethod
    def create_id(ownership: str, owner_id: str) -> UUID:
        return shelf_id(ownership, owner_id)

    def check_room(self, name: str, limit: int | None) -> None:
        if name in self.names:
            raise refuse("folder.name_taken", f"a folder named '{name}' exists",
                         field="name")
        if limit is not None and len(self.names) >= limit:
            raise refuse("folder.count_exceeded", "You cannot create more vfolders.",
                         limit=limit, count=len(self.names))

    @event("Claimed")
    def claim(self, name: str, folder_id: str) -> None:
        self.names[name] = folder_id

    @event("Released")
    def release(self, name: str) -> None:
        self.names.pop(name, None)

    def move(self, old: str, new: str, fid: str) -> None:
        if new in self.names:
            raise refuse("folder.name_taken", f"a folder named '{new}' exists",
                         field="new_name")
        self.release(old)
        self.claim(new, fid)


def summary(folder: Folder) -> dict[str, Any]:
    return {"folder_id": str(folder.id), "name": folder.name, "host": folder.host,
            "ownership": folder.ownership, "owner_id": folder.owner_id,
            "domain": folder.domain, "creator": folder.creator,
            "permission": folder.permission, "usage_mode": folder.usage_mode,
            "status": folder.status}
