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
from contracts.values import Limit, Offset

SERVICE = "storage"
FOLDER_NAME_MAX = 64
PATH_MAX = 4096

FolderRef = Annotated[str, StringConstraints(min_length=1, max_length=128)]
FolderName = Annotated[str, StringConstraints(max_length=256)]  # the rules: check_name
HostName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
EmailText = Annotated[str, StringConstraints(min_length=1, max_length=256)]
RelPath = Annotated[str, StringConstraints(max_length=PATH_MAX)]


class Permission(StrEnum):
    """Mount permissions of the reference (`VFolderMountPermission`)."""

    READ_ONLY = "ro"
    READ_WRITE = "rw"
    RW_DELETE = "wd"


PERMISSION_LABELS = {"ro": "R", "rw": "RW", "wd": "RWD"}
READABLE = frozenset({"ro", "rw", "wd"})
WRITABLE = frozenset({"rw", "wd"})
DELETABLE = frozenset({"wd"})


class Ownership(StrEnum):
    USER = "user"
    GROUP = "group"


class UsageMode(StrEnum):
    GENERAL = "general"
    MODEL = "model"
    DATA = "data"


class FolderStatus(StrEnum):
    READY = "ready"
    TRASHED = "delete-pending"  # in the trash: restorable, still counts
    PURGING = "delete-ongoing"  # delete forever started: the directory is being removed
    PURGED = "delete-complete"


class InvitationState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELED = "canceled"


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


COMMAND_PAYLOADS: dict[str, type[_Payload]] = {
    Subjects.FOLDER_CREATE: CreateFolder,
    Subjects.FOLDER_RENAME: RenameFolder,
    Subjects.FOLDER_UPDATE_PERMISSION: UpdateFolderPermission,
    Subjects.FOLDER_SHARE: ShareFolder,
    Subjects.FOLDER_UNSHARE: UnshareFolder,
    Subjects.FOLDER_TRASH: FolderTarget,
    Subjects.FOLDER_RESTORE: FolderTarget,
    Subjects.FOLDER_PURGE: FolderTarget,
    Subjects.INVITATION_SEND: SendInvitations,
    Subjects.INVITATION_ACCEPT: InvitationRef,
    Subjects.INVITATION_REJECT: InvitationRef,
    Subjects.INVITATION_CANCEL: InvitationRef,
    Subjects.FOLDER_MOUNT: MountFolder,
}


def _own(operation: O) -> Needs:
    """Folder operations need `vfolder:<operation>` at the actor's own user scope (every
    user's system role grants it); which folder the actor may touch, and how, is the
    folder's rule, decided by storage (owner, project membership, role, shares)."""
    return scoped(E.VFOLDER, operation, Sc.USER, Target.ACTOR)


COMMAND_NEEDS: dict[str, Needs] = {
    Subjects.FOLDER_CREATE: _own(O.CREATE),
    Subjects.FOLDER_RENAME: _own(O.UPDATE),
    Subjects.FOLDER_UPDATE_PERMISSION: _own(O.UPDATE),
    Subjects.FOLDER_SHARE: _own(O.UPDATE),
    Subjects.FOLDER_UNSHARE: _own(O.UPDATE),
    Subjects.FOLDER_TRASH: _own(O.SOFT_DELETE),
    Subjects.FOLDER_RESTORE: _own(O.SOFT_DELETE),
    Subjects.FOLDER_PURGE: _own(O.HARD_DELETE),
    Subjects.INVITATION_SEND: _own(O.UPDATE),
    Subjects.INVITATION_ACCEPT: _own(O.READ),
    Subjects.INVITATION_REJECT: _own(O.READ),
    Subjects.INVITATION_CANCEL: _own(O.UPDATE),
    Subjects.FOLDER_MOUNT: system_only(E.VFOLDER, O.READ),  # the scheduler, for its session
}

QUERY_PAYLOADS: dict[str, type[_Payload]] = {
    Subjects.FOLDER_LIST: ListFolders,
    Subjects.FOLDER_GET: FolderTarget,
    Subjects.INVITATION_LIST: ListInvitations,
    Subjects.HOST_LIST: ListHosts,
    Subjects.FILES_AUTHORIZE: AuthorizeFiles,
    Subjects.FOLDER_USAGE: FolderTarget,
    Subjects.FOLDER_ADMIT_MOUNTS: AdmitMounts,
}

# Reads: vfolder:read at the actor's own scope; which folders a caller sees, and with which
# permission, is storage's folder rule (owner, project membership, role, shares), so lists are
# filtered by storage itself. `files.authorize` answers for the operation it names, checked by
# the same rule (an upload needs a writable folder).
QUERY_NEEDS: dict[str, Needs] = {subject: _own(O.READ) for subject in QUERY_PAYLOADS}


# ---- a session's mounts, decided at admission (one spec, a local block) -------------------------
# Only the scheduler may ask (its system proof; its NATS user is the only one allowed to publish
# the subject, contracts/principals.py). Refusals: the first folder refused, with its code.
_ADMIT_NEEDS = system_only(E.VFOLDER, O.READ, "scheduler")
ADMIT_MOUNTS_SPEC = specs.query(
    Subjects.FOLDER_ADMIT_MOUNTS, AdmitMounts, _ADMIT_NEEDS,
    "May a session's owner mount these folders, and read-only or not? (the scheduler, at "
    "admission)", errors=("auth.unauthenticated", "folder.not_found", "folder.ambiguous",
                          "host.not_allowed"), reply=MountsAdmitted)
QUERY_NEEDS[Subjects.FOLDER_ADMIT_MOUNTS] = _ADMIT_NEEDS
