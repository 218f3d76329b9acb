"""Storage contracts: storage hosts, user and group (project) folders, invitations, per-user
permissions, the trash, file access grants; events and subjects.

Folders are named by `folder`: the folder's id, or its name among the folders the caller can
see (names are unique there, reference rule 9).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts import specs, subjects
from contracts.permissions import Needs, Target, scoped, system_only
from contracts.rbac import EntityType as E
from contracts.rbac import Operation as O
from contracts.rbac import ScopeType as Sc
from contracts.replies import storage as r

# The wire enums of folders live in contracts/storage_values.py (the reply models use them
# too); they are re-exported here, so `contracts.storage` stays the one name to import.
from contracts.storage_values import DELETABLE as DELETABLE
from contracts.storage_values import PERMISSION_LABELS as PERMISSION_LABELS
from contracts.storage_values import READABLE as READABLE
from contracts.storage_values import WRITABLE as WRITABLE
from contracts.storage_values import FolderStatus as FolderStatus
from contracts.storage_values import InvitationState as InvitationState
from contracts.storage_values import Ownership as Ownership
from contracts.storage_values import Permission as Permission
from contracts.storage_values import UsageMode as UsageMode
from contracts.values import Limit, Offset

SERVICE = "storage"
FOLDER_NAME_MAX = 64
PATH_MAX = 4096

FolderRef = Annotated[str, StringConstraints(min_length=1, max_length=128)]
FolderName = Annotated[str, StringConstraints(max_length=256)]  # the rules: check_name
HostName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
EmailText = Annotated[str, StringConstraints(min_length=1, max_length=256)]
RelPath = Annotated[str, StringConstraints(max_length=PATH_MAX)]




class HostOperation(StrEnum):
    """What `allowed_vfolder_hosts` grants per host (reference `VFolderHostPermission`)."""

    CREATE = "create-vfolder"
    MODIFY = "modify-vfolder"
    DELETE = "delete-vfolder"
    MOUNT = "mount-in-session"
    UPLOAD = "upload-file"
    DOWNLOAD = "download-file"
    INVITE = "invite-others"
    SET_USER_PERMISSION = "set-user-specific-permission"


class FileOperation(StrEnum):
    LIST = "list"
    DOWNLOAD = "download"
    UPLOAD = "upload"
    MKDIR = "mkdir"
    RENAME = "rename"
    DELETE = "delete"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- commands -------------------------------------------------------------------------------


class CreateFolder(_Payload):
    name: FolderName
    host: HostName | None = None  # the default host when absent
    type: Ownership = Ownership.USER
    project: Annotated[str, StringConstraints(max_length=128)] | None = None  # id or name
    permission: Permission | None = None  # group folders; a user folder's owner has `wd`
    usage_mode: UsageMode = UsageMode.GENERAL


class FolderTarget(_Payload):
    folder: FolderRef


class RenameFolder(_Payload):
    folder: FolderRef
    new_name: FolderName


class UpdateFolderPermission(_Payload):
    folder: FolderRef
    permission: Permission


class ShareFolder(_Payload):
    """A per-user permission on a group folder (an override) or a user folder (a grant)."""

    folder: FolderRef
    email: EmailText
    permission: Permission


class UnshareFolder(_Payload):
    folder: FolderRef
    email: EmailText


class SendInvitations(_Payload):
    folder: FolderRef
    emails: list[EmailText] = Field(min_length=1, max_length=64)
    permission: Permission = Permission.READ_WRITE


class InvitationRef(_Payload):
    invitation_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


# ---- queries --------------------------------------------------------------------------------


class ListFolders(_Payload):
    status: FolderStatus | None = None  # default: ready ones; `delete-pending` lists the trash
    offset: Offset = 0
    limit: Limit = 100


class ListInvitations(_Payload):
    direction: Annotated[str, StringConstraints(pattern=r"^(received|sent)$")] = "received"


class ListHosts(_Payload):
    pass


class AuthorizeFiles(_Payload):
    """May the caller do `operation` on `path` in the folder? Answers the real paths, so
    the gateway streams the bytes itself (file bodies never cross NATS)."""

    folder: FolderRef
    operation: FileOperation
    path: RelPath = ""
    target: RelPath | None = None  # rename / move: where to


class AdmitMounts(_Payload):
    """The scheduler, when a session is requested (before any placement): may the owner of
    `access_key` mount each of these folders, and how? Holds nothing (see `MountFolder`)."""

    access_key: Annotated[str, StringConstraints(pattern=r"^AKIA[A-Z2-7]{16}$")]
    folders: list[FolderRef] = Field(min_length=1, max_length=16)


class AdmittedMount(_Payload):
    folder: str  # as the request named it
    folder_id: str
    name: str
    path: str  # the folder's directory on the storage host (the same on every node)
    permission: Permission
    read_only: bool


class MountsAdmitted(_Payload):
    mounts: list[AdmittedMount]  # in the order asked


class MountFolder(_Payload):
    """The scheduler, when a session starts: may its owner (by access key) mount the folder,
    and how? Accepted, the folder is held by the session (no trash, no purge) until the
    scheduler's stream says the session ended."""

    folder: FolderRef
    access_key: Annotated[str, StringConstraints(pattern=r"^AKIA[A-Z2-7]{16}$")]
    session_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


# ---- events ---------------------------------------------------------------------------------


class FolderCreated(_Payload):
    folder_id: str
    name: str
    host: str
    ownership: Ownership
    owner_id: str
    domain: str
    creator: str
    permission: Permission
    usage_mode: UsageMode


class FolderRenamed(_Payload):
    folder_id: str
    name: str
    previous: str


class FolderPermissionChanged(_Payload):
    """The folder's own permission (`user_id` None), or one user's own permission on it (a
    group folder's override, a user folder's grant; `permission` None: removed)."""

    folder_id: str
    email: str | None = None
    user_id: str | None = None
    permission: Permission | None


class InvitationSent(_Payload):
    invitation_id: str
    folder_id: str
    inviter: str
    invitee: str
    permission: Permission


class InvitationDecided(_Payload):
    invitation_id: str
    folder_id: str
    invitee: str
    state: InvitationState


class FolderLifecycle(_Payload):
    folder_id: str
    name: str
    status: FolderStatus


EVENT_TYPES: dict[str, tuple[str, str, type[_Payload]]] = {
    "FolderCreated": ("folder", "created", FolderCreated),
    "FolderRenamed": ("folder", "renamed", FolderRenamed),
    "FolderPermissionChanged": ("folder", "permission-changed", FolderPermissionChanged),
    "InvitationSent": ("invitation", "sent", InvitationSent),
    "InvitationAccepted": ("invitation", "accepted", InvitationDecided),
    "InvitationRejected": ("invitation", "rejected", InvitationDecided),
    "InvitationCanceled": ("invitation", "canceled", InvitationDecided),
    "FolderTrashed": ("folder", "trashed", FolderLifecycle),
    "FolderRestored": ("folder", "restored", FolderLifecycle),
    "FolderPurged": ("folder", "purged", FolderLifecycle),
}


def event_subject(type_name: str) -> str:
    aggregate, name, _ = EVENT_TYPES[type_name]
    return subjects.event(SERVICE, aggregate, name)


class Subjects:
    FOLDER_CREATE = subjects.command(SERVICE, "folder", "create")
    FOLDER_RENAME = subjects.command(SERVICE, "folder", "rename")
    FOLDER_UPDATE_PERMISSION = subjects.command(SERVICE, "folder", "update-permission")
    FOLDER_SHARE = subjects.command(SERVICE, "folder", "share")
    FOLDER_UNSHARE = subjects.command(SERVICE, "folder", "unshare")
    FOLDER_TRASH = subjects.command(SERVICE, "folder", "trash")
    FOLDER_RESTORE = subjects.command(SERVICE, "folder", "restore")
    FOLDER_PURGE = subjects.command(SERVICE, "folder", "purge")
    INVITATION_SEND = subjects.command(SERVICE, "invitation", "send")
    INVITATION_ACCEPT = subjects.command(SERVICE, "invitation", "accept")
    INVITATION_REJECT = subjects.command(SERVICE, "invitation", "reject")
    INVITATION_CANCEL = subjects.command(SERVICE, "invitation", "cancel")
    FOLDER_MOUNT = subjects.command(SERVICE, "folder", "mount")

    FOLDER_LIST = subjects.query(SERVICE, "folders", "list")
    FOLDER_GET = subjects.query(SERVICE, "folders", "get")
    INVITATION_LIST = subjects.query(SERVICE, "invitations", "list")
    HOST_LIST = subjects.query(SERVICE, "hosts", "list")
    FILES_AUTHORIZE = subjects.query(SERVICE, "files", "authorize")
    FOLDER_USAGE = subjects.query(SERVICE, "folders", "usage")
    FOLDER_ADMIT_MOUNTS = subjects.query(SERVICE, "folders", "admit-mounts")  # scheduler only


def _own(operation: O) -> Needs:
    """Folder operations need `vfolder:<operation>` at the actor's own user scope (every
    user's system role grants it); which folder the actor may touch, and how, is the
    folder's rule, decided by storage (owner, project membership, role, shares)."""
    return scoped(E.VFOLDER, operation, Sc.USER, Target.ACTOR)


# ---- one declaration per message (contracts/specs.py); the tables below are views of it ------

S = Subjects
_FOLDER = ("auth.unauthenticated", "folder.not_found", "folder.ambiguous")
_OWNED = (*_FOLDER, "folder.forbidden", "host.not_allowed")  # an owner's act on a folder
_NAME = ("folder.name_invalid", "folder.name_reserved", "folder.name_taken", "folder.dot_group")
_DECIDE = ("auth.unauthenticated", "invitation.not_found", "invitation.not_pending",
           "invitation.not_yours")
_PATHS = ("path.invalid", "path.absolute", "path.escape", "path.too_long", "path.root")

SPECS: dict[str, specs.MessageSpec] = specs.index([
    specs.command(S.FOLDER_CREATE, CreateFolder, _own(O.CREATE),
                  "Create a user or group folder on a host.",
                  ("auth.unauthenticated", "host.not_configured", "host.not_found",
                   "host.not_allowed", *_NAME, "folder.type_not_allowed",
                   "folder.project_required", "project.not_found", "folder.group_forbidden",
                   "folder.count_exceeded"), reply=r.FolderState),
    specs.command(S.FOLDER_RENAME, RenameFolder, _own(O.UPDATE),
                  "Rename a folder (its directory stays).", (*_OWNED, "folder.not_ready", *_NAME),
                  reply=r.FolderState),
    specs.command(S.FOLDER_UPDATE_PERMISSION, UpdateFolderPermission, _own(O.UPDATE),
                  "Change a folder's own permission.",
                  (*_OWNED, "folder.not_ready", "folder.owner_permission"), reply=r.FolderState),
    specs.command(S.FOLDER_SHARE, ShareFolder, _own(O.UPDATE),
                  "Set one user's permission on a folder (group: an override; user: a grant).",
                  (*_OWNED, "folder.not_ready", "folder.not_directly_sharable",
                   "folder.self_share", "user.not_found"), reply=r.FolderState),
    specs.command(S.FOLDER_UNSHARE, UnshareFolder, _own(O.UPDATE),
                  "Remove one user's own permission on a folder.",
                  (*_OWNED, "folder.share_not_found", "user.not_found"), reply=r.FolderState),
    specs.command(S.FOLDER_TRASH, FolderTarget, _own(O.SOFT_DELETE),
                  "Move a folder to the trash (restorable, still counted).",
                  (*_OWNED, "folder.not_ready", "folder.mounted"), reply=r.FolderState),
    specs.command(S.FOLDER_RESTORE, FolderTarget, _own(O.SOFT_DELETE),
                  "Restore a folder from the trash.",
                  (*_OWNED, "folder.not_in_trash", "folder.name_taken"), reply=r.FolderState),
    specs.command(S.FOLDER_PURGE, FolderTarget, _own(O.HARD_DELETE),
                  "Delete a trashed folder forever (its directory is removed).",
                  (*_OWNED, "folder.not_in_trash", "folder.mounted"), reply=r.FolderState),
    specs.command(S.INVITATION_SEND, SendInvitations, _own(O.UPDATE),
                  "Invite users to a user folder with a permission.",
                  (*_OWNED, "folder.not_ready", "invitation.group_folder",
                   "invitation.dot_folder", "invitation.self", "invitation.pending",
                   "invitation.grant_exists", "user.not_found"), reply=r.InvitationsSent),
    specs.command(S.INVITATION_ACCEPT, InvitationRef, _own(O.READ),
                  "Accept an invitation (the invitee gains its permission).", _DECIDE,
                  reply=r.InvitationDecision),
    specs.command(S.INVITATION_REJECT, InvitationRef, _own(O.READ),
                  "Reject an invitation (the invitee).", _DECIDE, reply=r.InvitationDecision),
    specs.command(S.INVITATION_CANCEL, InvitationRef, _own(O.UPDATE),
                  "Cancel an invitation (the inviter or the folder's owner).", _DECIDE,
                  reply=r.InvitationDecision),
    specs.command(S.FOLDER_MOUNT, MountFolder, system_only(E.VFOLDER, O.READ),
                  "Mount a folder in a starting session (the scheduler, for the owner).",
                  (*_FOLDER, "folder.not_ready", "host.not_allowed"), reply=r.MountGrant),
    # Reads: vfolder:read at the actor's own scope; which folders a caller sees, and with
    # which permission, is storage's folder rule (owner, project membership, role, shares),
    # so lists are filtered by storage itself. `files.authorize` answers for the operation it
    # names, checked by the same rule (an upload needs a writable folder).
    specs.query(S.FOLDER_LIST, ListFolders, _own(O.READ),
                "The folders the caller can see (ready ones, or the trash), with its permission.",
                reply=r.FolderPage),
    specs.query(S.FOLDER_GET, FolderTarget, _own(O.READ), "One folder the caller can see.",
                _FOLDER, reply=r.FolderRow),
    specs.query(S.INVITATION_LIST, ListInvitations, _own(O.READ),
                "The caller's received or sent invitations.", ("auth.unauthenticated",),
                reply=r.InvitationList),
    specs.query(S.HOST_LIST, ListHosts, _own(O.READ),
                "The hosts, the default one and what the caller's policies allow on each.",
                ("auth.unauthenticated",), reply=r.HostList),
    specs.query(S.FILES_AUTHORIZE, AuthorizeFiles, _own(O.READ),
                "May the caller do a file operation on a path: the real paths and size room.",
                (*_OWNED, "folder.not_ready", *_PATHS), reply=r.FileGrant),
    specs.query(S.FOLDER_USAGE, FolderTarget, _own(O.READ),
                "A folder's bytes and files, walked now.", _FOLDER, reply=r.FolderUsage),
    # A session's mounts, decided at admission: only the scheduler may ask (its system proof;
    # its NATS user is the only one allowed to publish the subject, contracts/principals.py).
    # Refusals: the first folder refused, with its code.
    specs.query(S.FOLDER_ADMIT_MOUNTS, AdmitMounts, system_only(E.VFOLDER, O.READ, "scheduler"),
                "May a session's owner mount these folders, and read-only or not? (the "
                "scheduler, at admission)", _FOLDER + ("host.not_allowed",),
                reply=MountsAdmitted),
    *(specs.event(event_subject(name), name, EVENT_TYPES[name][2], summary)
      for name, summary in (
          ("FolderCreated", "A folder was created (its directory exists)."),
          ("FolderRenamed", "A folder was renamed."),
          ("FolderPermissionChanged",
           "A folder's own permission, or one user's on it, changed (null: removed)."),
          ("InvitationSent", "A user was invited to a folder."),
          ("InvitationAccepted", "An invitation was accepted."),
          ("InvitationRejected", "An invitation was rejected."),
          ("InvitationCanceled", "An invitation was canceled."),
          ("FolderTrashed", "A folder moved to the trash."),
          ("FolderRestored", "A folder came back from the trash."),
          ("FolderPurged", "A folder was deleted forever."),
      )),
])

COMMAND_PAYLOADS: dict[str, type[BaseModel]] = specs.payloads(SPECS, specs.COMMANDS)
QUERY_PAYLOADS: dict[str, type[BaseModel]] = specs.payloads(SPECS, specs.QUERIES)
COMMAND_NEEDS: dict[str, Needs] = specs.needs(SPECS, specs.COMMANDS)
QUERY_NEEDS: dict[str, Needs] = specs.needs(SPECS, specs.QUERIES)
