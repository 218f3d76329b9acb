"""Storage's replies: storage's SPECS (contracts/storage.py) name them as `reply=`; the
gateway's response models and the dispatcher's reply check (services/runtime/replies.py)
use them through the specs. The enums come from contracts/storage_values.py, so this module
does not import the message contracts that import it."""

from __future__ import annotations

from pydantic import Field

from contracts.replies import Page, ReplyModel
from contracts.storage_values import FolderStatus, InvitationState, Ownership, Permission, UsageMode


class FolderState(ReplyModel):
    """A folder as a command left it (create, rename, permission, share, trash, ...)."""

    folder_id: str
    name: str
    host: str
    ownership: Ownership
    owner_id: str
    domain: str
    creator: str
    permission: Permission
    usage_mode: UsageMode
    status: FolderStatus
    shared_with: str | None = Field(default=None, description="`share`: whose permission")
    shared_permission: Permission | None = Field(default=None,
                                                 description="`share`: the permission given")
    unshared: str | None = Field(default=None, description="`unshare`: whose permission")


class Share(ReplyModel):
    email: str
    permission: Permission


class FolderRow(ReplyModel):
    folder_id: str
    name: str
    host: str
    ownership: Ownership
    owner_id: str
    domain: str
    creator: str
    usage_mode: UsageMode
    status: FolderStatus
    created_at: str
    folder_permission: Permission
    permission: Permission = Field(description="the caller's permission")
    permission_label: str = Field(description="R, RW or RWD")
    is_owner: bool
    shares: list[Share] = Field(description="Per-user permissions (the owner sees them)")


class FolderPage(Page):
    items: list[FolderRow]


class HostRow(ReplyModel):
    name: str
    is_default: bool
    allowed: list[str] = Field(description="The host operations the caller's policies allow")


class HostList(ReplyModel):
    default: str | None
    hosts: list[HostRow]
    ownership_types: list[str]


class InvitationRow(ReplyModel):
    invitation_id: str
    folder_id: str
    folder_name: str
    inviter: str
    invitee: str
    permission: Permission
    state: InvitationState
    created_at: str


class InvitationList(ReplyModel):
    total: int
    items: list[InvitationRow]


class InvitationsSent(ReplyModel):
    folder_id: str
    invitations: dict[str, str] = Field(description="Invitee email → invitation id")


class InvitationDecision(ReplyModel):
    invitation_id: str
    folder_id: str
    state: InvitationState
    permission: Permission


class FolderUsage(ReplyModel):
    folder_id: str
    name: str
    bytes: int
    files: int


class FileGrant(ReplyModel):
    """`files.authorize`: the real paths the gateway may stream (never outside the folder)."""

    folder_id: str
    permission: Permission
    root: str
    path: str
    target: str | None
    max_bytes: int | None = Field(description="Bytes an upload may add (none: no limit)")


class MountGrant(ReplyModel):
    """`folder.mount` (the scheduler): where the folder is and whether it mounts read-only."""

    folder_id: str
    name: str
    permission: Permission
    read_only: bool
    path: str
