"""The wire values of storage folders: permissions, ownership, usage mode, status and
invitation states (re-exported by contracts/storage.py; the reply models in
contracts/replies/storage.py use them without importing the message contracts)."""

from __future__ import annotations

from enum import StrEnum


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
