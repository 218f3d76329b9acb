"""Storage's queries: folders as each caller sees them, invitations, hosts, and the grants for
file access (the gateway streams file bodies itself) and for mounting into sessions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contracts import storage as c
from contracts.envelope import Actor
from services.storage.app import StorageApplication
from services.storage.domain import access
from services.storage.domain.access import Viewer
from services.storage.domain.errors import refuse
from services.storage.domain.known import byte_limit
from services.storage.paths import resolve_inside

H = c.HostOperation
FILE_NEEDS: dict[c.FileOperation, tuple[frozenset[str], H]] = {
    c.FileOperation.LIST: (c.READABLE, H.DOWNLOAD),
    c.FileOperation.DOWNLOAD: (c.READABLE, H.DOWNLOAD),
    c.FileOperation.UPLOAD: (c.WRITABLE, H.UPLOAD),
    c.FileOperation.MKDIR: (c.WRITABLE, H.UPLOAD),
    c.FileOperation.RENAME: (c.WRITABLE, H.UPLOAD),
    c.FileOperation.DELETE: (c.WRITABLE, H.UPLOAD),
}


class StorageQueries:
    def __init__(self, app: StorageApplication) -> None:
        self.app = app

    def row(self, folder: dict[str, Any], viewer: Viewer, permission: str) -> dict[str, Any]:
        shares = [{"email": s["email"], "permission": s["permission"]}
                  for s in folder["shares"].values()] if access.is_owner(folder, viewer) else []
        return {k: folder[k] for k in ("folder_id", "name", "host", "ownership", "owner_id",
                                       "domain", "creator", "usage_mode", "status",
                                       "created_at")} | {
            "folder_permission": folder["permission"], "permission": permission,
            "permission_label": c.PERMISSION_LABELS[permission],
            "is_owner": access.is_owner(folder, viewer), "shares": shares}

    def list_folders(self, actor: Actor, q: c.ListFolders) -> dict[str, Any]:
        viewer = self.app.viewer(actor)
        status = (q.status or c.FolderStatus.READY).value
        rows = []
        for folder in self.app.view.all_folders():
            permission = access.permission_for(folder, viewer)
            if folder["status"] == status and permission is not None:
                rows.append(self.row(folder, viewer, permission))
        rows.sort(key=lambda r: (r["name"], r["folder_id"]))
        return {"total": len(rows), "offset": q.offset, "limit": q.limit,
                "items": rows[q.offset:q.offset + q.limit]}

    def get_folder(self, actor: Actor, ref: str) -> dict[str, Any]:
        viewer = self.app.viewer(actor)
        folder, permission = self.app.visible(viewer, ref)
        return self.row(folder, viewer, permission)

    def list_invitations(self, actor: Actor, q: c.ListInvitations) -> dict[str, Any]:
        viewer = self.app.viewer(actor)
        items = []
        for inv in self.app.view.invitations_of(viewer.user_id, sent=q.direction == "sent"):
            folder = self.app.view.folder(inv["folder_id"]) or {}
            inviter = self.app.view.user(inv["inviter_id"]) or {}
            items.append({k: inv[k] for k in ("invitation_id", "folder_id", "invitee",
                                              "permission", "state", "created_at")} | {
                "folder_name": folder.get("name", ""), "inviter": inviter.get("email", "")})
        items.sort(key=lambda i: i["created_at"])
        return {"total": len(items), "items": items}

    def list_hosts(self, actor: Actor) -> dict[str, Any]:
        self.app.viewer(actor)
        maps = self.app.host_maps(actor, None)
        hosts = [{"name": name, "is_default": name == self.app.cluster.hosts.default,
                  "allowed": sorted(access.allowed_host_operations(name, maps))}
                 for name in sorted(self.app.cluster.hosts.roots)]
        return {"default": self.app.cluster.hosts.default, "hosts": hosts,
                "ownership_types": sorted(self.app.cluster.ownership_types)}

    def authorize_files(self, actor: Actor, q: c.AuthorizeFiles) -> dict[str, Any]:
        viewer = self.app.viewer(actor)
        folder, permission = self.app.visible(viewer, q.folder, live_only=True)
        needed, host_op = FILE_NEEDS[q.operation]
        access.require(permission, needed, f"'{q.operation}'")
        self.app.require_host(actor, folder, host_op)
        root = self.app.cluster.hosts.directory(folder["host"], folder["directory"])
        path = resolve_inside(root, q.path)
        if q.operation in (c.FileOperation.RENAME, c.FileOperation.DELETE) and path == \
                Path(root).resolve():
            raise refuse("path.root", "the folder itself cannot be renamed or deleted here",
                         field="path")
        target = resolve_inside(root, q.target) if q.target is not None else None
        room = None
        if q.operation == c.FileOperation.UPLOAD:
            room = self.room(actor, folder)
            if room is not None and path.is_file():
                room += path.stat().st_size  # the upload replaces it
        return {"folder_id": folder["folder_id"], "permission": permission,
                "root": str(Path(root).resolve()), "path": str(path),
                "target": str(target) if target else None, "max_bytes": room}

    def room(self, actor: Actor, folder: dict[str, Any]) -> int | None:
        """Bytes an upload may still add: under the folder's limit (`max_vfolder_size` of the
        uploader's keypair policy) and the owner's scope (`max_quota_scope_size` of the user's
        or project's policy, over all its folders, the trash included); None: no limit."""
        view, hosts = self.app.view, self.app.cluster.hosts
        keypair = view.policy("keypair", view.keypair_policy(actor.access_key or ""))
        rooms = []
        folder_limit = byte_limit(keypair.get("max_vfolder_size"))
        if folder_limit is not None:
            rooms.append(folder_limit - hosts.usage(folder["host"], folder["directory"])[0])
        if folder["ownership"] == c.Ownership.GROUP:
            project = view.project(folder["owner_id"], None) or {}
            scope = view.policy("project", project.get("policy"))
        else:
            scope = view.policy("user", (view.user(folder["owner_id"]) or {}).get("policy"))
        scope_limit = byte_limit(scope.get("max_quota_scope_size"))
        if scope_limit is not None:
            used = sum(hosts.usage(f["host"], f["directory"])[0] for f in view.all_folders()
                       if f["owner_id"] == folder["owner_id"]
                       and f["status"] in (c.FolderStatus.READY, c.FolderStatus.TRASHED))
            rooms.append(scope_limit - used)
        return max(0, min(rooms)) if rooms else None

    def usage(self, actor: Actor, ref: str) -> dict[str, Any]:
        viewer = self.app.viewer(actor)
        folder, _ = self.app.visible(viewer, ref)
        size, files = self.app.cluster.hosts.usage(folder["host"], folder["directory"])
        return {"folder_id": folder["folder_id"], "name": folder["name"], "bytes": size,
                "files": files}
