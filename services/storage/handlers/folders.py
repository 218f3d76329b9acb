"""Handlers of the folder messages: create, rename, permissions and shares, the trash, mount,
list, get, usage."""

from __future__ import annotations

from typing import Any

from contracts import storage as c
from services.runtime.context import MessageContext
from services.runtime.serve import SpecHandler
from services.storage.admission import admit_mounts
from services.storage.handlers.deps import StorageDeps

S = c.Subjects


def create_folder(deps: StorageDeps, ctx: MessageContext, p: c.CreateFolder
                  ) -> dict[str, Any]:
    return deps.app.create_folder(ctx.message_id, ctx.actor, p)


def rename_folder(deps: StorageDeps, ctx: MessageContext, p: c.RenameFolder
                  ) -> dict[str, Any]:
    return deps.app.rename_folder(ctx.message_id, ctx.actor, p)


def update_permission(deps: StorageDeps, ctx: MessageContext, p: c.UpdateFolderPermission
                      ) -> dict[str, Any]:
    return deps.app.update_permission(ctx.message_id, ctx.actor, p)


def share_folder(deps: StorageDeps, ctx: MessageContext, p: c.ShareFolder) -> dict[str, Any]:
    return deps.app.share_folder(ctx.message_id, ctx.actor, p)


def unshare_folder(deps: StorageDeps, ctx: MessageContext, p: c.UnshareFolder
                   ) -> dict[str, Any]:
    return deps.app.unshare_folder(ctx.message_id, ctx.actor, p)


def trash_folder(deps: StorageDeps, ctx: MessageContext, p: c.FolderTarget) -> dict[str, Any]:
    return deps.app.trash_folder(ctx.message_id, ctx.actor, p.folder)


def restore_folder(deps: StorageDeps, ctx: MessageContext, p: c.FolderTarget
                   ) -> dict[str, Any]:
    return deps.app.restore_folder(ctx.message_id, ctx.actor, p.folder)


def purge_folder(deps: StorageDeps, ctx: MessageContext, p: c.FolderTarget) -> dict[str, Any]:
    return deps.app.purge_folder(ctx.message_id, ctx.actor, p.folder)


def mount_folder(deps: StorageDeps, ctx: MessageContext, p: c.MountFolder) -> dict[str, Any]:
    # The scheduler only (system-only need); the folder's owner is `p.access_key`'s user.
    return deps.app.mount_folder(ctx.message_id, ctx.actor, p)


def list_folders(deps: StorageDeps, ctx: MessageContext, q: c.ListFolders) -> dict[str, Any]:
    return deps.queries.list_folders(ctx.actor, q)


def get_folder(deps: StorageDeps, ctx: MessageContext, q: c.FolderTarget) -> dict[str, Any]:
    return deps.queries.get_folder(ctx.actor, q.folder)


def folder_usage(deps: StorageDeps, ctx: MessageContext, q: c.FolderTarget) -> dict[str, Any]:
    return deps.queries.usage(ctx.actor, q.folder)


def admit_session_mounts(deps: StorageDeps, ctx: MessageContext, q: c.AdmitMounts
                         ) -> dict[str, Any]:
    # The scheduler only (its system proof, and NATS lets no one else publish the subject).
    return admit_mounts(deps.app, q)


HANDLERS: dict[str, SpecHandler[StorageDeps]] = {
    S.FOLDER_CREATE: create_folder,
    S.FOLDER_RENAME: rename_folder,
    S.FOLDER_UPDATE_PERMISSION: update_permission,
    S.FOLDER_SHARE: share_folder,
    S.FOLDER_UNSHARE: unshare_folder,
    S.FOLDER_TRASH: trash_folder,
    S.FOLDER_RESTORE: restore_folder,
    S.FOLDER_PURGE: purge_folder,
    S.FOLDER_MOUNT: mount_folder,
    S.FOLDER_LIST: list_folders,
    S.FOLDER_GET: get_folder,
    S.FOLDER_USAGE: folder_usage,
    S.FOLDER_ADMIT_MOUNTS: admit_session_mounts,
}
