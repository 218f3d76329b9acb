"""StorageApplication: folder and invitation commands (load → decide → save), the disk side
of creation and purge, and what storage learns from identity and quota (`learn.py`)."""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from contracts import storage as c
from contracts.envelope import Actor, Event
from services.runtime.actors import ActorDirectory
from services.runtime.errors import CodedError
from services.runtime.permissions import PermissionGuard
from services.runtime.store import Decision, ServiceApplication
from services.storage.domain import access
from services.storage.domain.access import Viewer
from services.storage.domain.errors import refuse
from services.storage.domain.known import count_limit
from services.storage.domain.model import Folder, Shelf, check_name, folder_id, is_dot, shelf_id
from services.storage.domain.model import summary as folder_summary
from services.storage.hosts import Hosts
from services.storage.roles import GroupFolderGrants

log = logging.getLogger(__name__)
H = c.HostOperation
SESSION_ENDED = frozenset({"SessionTerminated", "SessionCancelled", "SessionErrored"})


@dataclass
class Cluster:
    """Cluster-wide storage settings."""

    hosts: Hosts
    ownership_types: frozenset[str] = frozenset({"user", "group"})
    # What every domain allows on each host (identity keeps no `allowed_vfolder_hosts` for
    # domains and projects yet): the first map of the union of reference rule 7.
    domain_hosts: dict[str, list[str]] = field(default_factory=dict)


class StorageApplication(ServiceApplication):
    name = "storage"

    def __init__(self, cluster: Cluster, env: dict[str, str] | None = None,
                 directory: ActorDirectory | None = None) -> None:
        super().__init__(env)
        self.cluster = cluster
        self.directory = directory or ActorDirectory()
        self.view: Any = None  # StorageView, attached by main
        self.group_grants = GroupFolderGrants()  # started by the host (a component)
        # Memberships and the project → domain map as the permission guard learnt them from
        # the actor directory, which requests naming identity positions wait for (causal);
        # set by main. Without one: what storage's own consumer learnt (eventual).
        self.guard: PermissionGuard | None = None
        self._locks = [threading.Lock() for _ in range(64)]

    # ---- who asks, and what they see ---------------------------------------------------------

    def viewer(self, actor: Actor) -> Viewer:
        principal = self.directory.resolve(actor)
        if self.guard is not None:
            projects = self.guard.projects_of(principal.user_id)
        else:
            known = self.view.user(principal.user_id)
            projects = known["projects"] if known else frozenset()
        return Viewer(principal.user_id, principal.email, principal.role, principal.domain,
                      projects)

    def visible(self, viewer: Viewer, ref: str, live_only: bool = False
                ) -> tuple[dict[str, Any], str]:
        """The folder named by id or by name among those the viewer sees, and the viewer's
        permission on it; not-visible and absent read alike (`folder.not_found`)."""
        by_id = self.view.folder(ref)
        candidates = [by_id] if by_id else self.view.named(ref)
        found = [(f, p) for f in candidates if f is not None
                 and f["status"] != c.FolderStatus.PURGED
                 and (p := access.permission_for(f, viewer)) is not None]
        if live_only:
            found = [(f, p) for f, p in found if f["status"] == c.FolderStatus.READY]
        if not found:
            raise refuse("folder.not_found", f"no folder '{ref}' that you can see",
                         field="folder")
        if len(found) > 1:
            raise refuse("folder.ambiguous", f"several folders named '{ref}' are visible to "
                         "you; name it by id", field="folder",
                         folder_ids=[f["folder_id"] for f, _ in found])
        return found[0]

    def host_maps(self, actor: Actor, project_id: str | None) -> list[Mapping[str, Any]]:
        keypair = self.view.keypair_policy(actor.access_key or "")
        maps: list[Mapping[str, Any]] = [self.cluster.domain_hosts]
        if project_id:
            project = self.view.project(project_id, None) or {}
            maps.append(self.view.policy("project", project.get("policy")).get(
                "allowed_vfolder_hosts", {}))
        maps.append(self.view.policy("keypair", keypair).get("allowed_vfolder_hosts", {}))
        return maps

    def require_host(self, actor: Actor, folder: Mapping[str, Any], op: H) -> None:
        project = folder["owner_id"] if folder["ownership"] == c.Ownership.GROUP else None
        access.require_host(folder["host"], op, self.host_maps(actor, project))

    def owned(self, actor: Actor, ref: str, op: H, live_only: bool = True
              ) -> tuple[Folder, Viewer]:
        viewer = self.viewer(actor)
        row, _ = self.visible(viewer, ref, live_only=live_only)
        if not access.is_owner(row, viewer):
            raise refuse("folder.forbidden", "only the folder's owner (for a group folder: an "
                         "admin of its domain) may do this", field="folder")
        self.require_host(actor, row, op)
        return self.folder(row["folder_id"]), viewer

    def folder(self, fid: str) -> Folder:
        found = self.find(UUID(str(fid)))
        if not isinstance(found, Folder):
            raise refuse("folder.not_found", "no such folder", field="folder")
        return found

    def shelf(self, ownership: str, owner_id: str) -> Shelf:
        found = self.find(shelf_id(ownership, owner_id))
        return found if isinstance(found, Shelf) else Shelf(ownership, owner_id)

    def _run(self, command_id: str, actor: Actor, data: dict[str, Any], decide: Any
             ) -> dict[str, Any]:
        return self.execute(command_id, data, decide)

    # ---- create ------------------------------------------------------------------------------

    def create_folder(self, command_id: str, actor: Actor, p: c.CreateFolder) -> dict[str, Any]:
        made: list[tuple[str, str]] = []

        def decide() -> Decision:
            viewer = self.viewer(actor)
            host = self.cluster.hosts.pick(p.host)
            name = check_name(p.name)
            if str(p.type) not in self.cluster.ownership_types:
                raise refuse("folder.type_not_allowed",
                             f"{p.type}-owned vfolder is not allowed in this cluster",
                             field="type")
            owner, domain, permission, limit = self._owner(viewer, p, name, actor)
            project = owner if p.type == c.Ownership.GROUP else None
            access.require_host(host, H.CREATE, self.host_maps(actor, project))
            if any(f["status"] != c.FolderStatus.PURGED
                   and access.permission_for(f, viewer) is not None
                   for f in self.view.named(name)):
                raise refuse("folder.name_taken", f"a folder named '{name}' is already "
                             "accessible to you", field="name")
            shelf = self.shelf(str(p.type), owner)
            shelf.check_room(name, limit)
            folder = Folder(key=command_id, name=name, host=host, ownership=str(p.type),
                            owner_id=owner, domain=domain, creator=viewer.email,
                            creator_id=viewer.user_id, permission=permission,
                            usage_mode=str(p.usage_mode))
            shelf.claim(name, str(folder.id))
            # The directory exists before the folder is saved: an accepted folder always
            # has one. A crash in between leaves an empty orphan, removed at start.
            self.cluster.hosts.make(host, folder.directory)
            made.append((host, folder.directory))
            return Decision([folder, shelf], folder_summary(folder))

        try:
            with self._owner_lock(actor, p):
                return self._run(command_id, actor, p.model_dump(mode="json"), decide)
        except CodedError:
            if made and self.find(folder_id(command_id)) is None:
                self.cluster.hosts.discard_if_empty(*made[-1])
            raise

    def _owner_lock(self, actor: Actor, p: c.CreateFolder) -> threading.Lock:
        """Creations for one owner run one at a time in this process: concurrent ones would
        only conflict on the owner's shelf at commit and decide again (or give up)."""
        key = f"{p.type}:{p.project or actor.access_key}"
        return self._locks[zlib.crc32(key.encode()) % len(self._locks)]

    def _owner(self, viewer: Viewer, p: c.CreateFolder, name: str, actor: Actor
               ) -> tuple[str, str, str, int | None]:
        """(owner id, domain, permission, count limit) by reference rules 3-5 and 8."""
        if p.type == c.Ownership.USER:
            user = self.view.user(viewer.user_id) or {}
            keypair = self.view.policy("keypair", self.view.keypair_policy(
                actor.access_key or ""))  # its max_vfolder_count is the deprecated one
            limit = count_limit(self.view.policy("user", user.get("policy")).get(
                "max_vfolder_count"), keypair.get("max_vfolder_count"))
            return viewer.user_id, viewer.domain, c.Permission.RW_DELETE.value, limit
        if is_dot(name):
            raise refuse("folder.dot_group", "a group folder's name cannot start with '.'",
                         field="name")
        if not p.project:
            raise refuse("folder.project_required", "a group folder names its project",
                         field="project")
        scope = None if viewer.role == access.SUPERADMIN else viewer.domain
        project = self.view.project(p.project, scope)
        if project is None:
            raise refuse("project.not_found", f"no project '{p.project}'", field="project")
        admin = viewer.role == access.SUPERADMIN or (
            viewer.role == access.ADMIN and project["domain"] == viewer.domain)
        domain_id = self.guard.domain_of_project(project["project_id"]) if self.guard else None
        if not admin and not self.group_grants.may_create(viewer.user_id,
                                                          project["project_id"], domain_id):
            raise refuse("folder.group_forbidden", "no permission: only admins of the "
                         "project's domain, superadmins and holders of a custom role "
                         "granting vfolder:create at the project or its domain create "
                         "group folders",
                         field="type")
        limit = count_limit(self.view.policy("project", project["policy"]).get(
            "max_vfolder_count"))
        permission = (p.permission or c.Permission.READ_WRITE).value
        return project["project_id"], project["domain"], permission, limit

    # ---- change ------------------------------------------------------------------------------

    def rename_folder(self, command_id: str, actor: Actor, p: c.RenameFolder
                      ) -> dict[str, Any]:
        def decide() -> Decision:
            folder, _ = self.owned(actor, p.folder, H.MODIFY)
            old = folder.name
            if not folder.rename(p.new_name):
                return Decision([folder], folder_summary(folder))
            shelf = self.shelf(folder.ownership, folder.owner_id)
            shelf.move(old, folder.name, str(folder.id))
            return Decision([folder, shelf], folder_summary(folder))

        return self._run(command_id, actor, p.model_dump(mode="json"), decide)

    def update_permission(self, command_id: str, actor: Actor, p: c.UpdateFolderPermission
                          ) -> dict[str, Any]:
        def decide() -> Decision:
            folder, _ = self.owned(actor, p.folder, H.MODIFY)
            folder.set_permission(p.permission.value)
            return Decision([folder], folder_summary(folder))

        return self._run(command_id, actor, p.model_dump(mode="json"), decide)

    def share_folder(self, command_id: str, actor: Actor, p: c.ShareFolder) -> dict[str, Any]:
        def decide() -> Decision:
            folder, _ = self.owned(actor, p.folder, H.SET_USER_PERMISSION)
            user_id = self._user(p.email, "email")
            if folder.ownership != c.Ownership.GROUP and user_id not in folder.shares:
                raise refuse("folder.not_directly_sharable", "Only project folders are "
                             "directly sharable; invite users to a user folder (its owner "
                             "may then change their permission)", field="folder")
            folder.share(user_id, p.email, p.permission.value)
            return Decision([folder], folder_summary(folder) | {
                "shared_with": p.email, "shared_permission": p.permission.value})

        return self._run(command_id, actor, p.model_dump(mode="json"), decide)

    def unshare_folder(self, command_id: str, actor: Actor, p: c.UnshareFolder
                       ) -> dict[str, Any]:
        """Drops a group folder's per-user override, or revokes a user folder's grant."""
        def decide() -> Decision:
            folder, _ = self.owned(actor, p.folder, H.SET_USER_PERMISSION
                                   if self._is_group(p.folder, actor) else H.INVITE)
            folder.unshare(self._user(p.email, "email"))
            return Decision([folder], folder_summary(folder) | {"unshared": p.email})

        return self._run(command_id, actor, p.model_dump(mode="json"), decide)

    def _is_group(self, ref: str, actor: Actor) -> bool:
        row, _ = self.visible(self.viewer(actor), ref)
        return bool(row["ownership"] == c.Ownership.GROUP)

    def _user(self, email: str, field_name: str) -> str:
        user_id = self.view.user_by_email(email)
        if user_id is None:
            raise refuse("user.not_found", f"no user '{email}'", field=field_name)
        return str(user_id)

    # ---- invitations -------------------------------------------------------------------------

    def send_invitations(self, command_id: str, actor: Actor, p: c.SendInvitations
                         ) -> dict[str, Any]:
        def decide() -> Decision:
            folder, viewer = self.owned(actor, p.folder, H.INVITE)
            sent = {email: folder.invite(viewer.user_id, self._user(email, "emails"), email,
                                         p.permission.value)
                    for email in dict.fromkeys(p.emails)}
            return Decision([folder], {"folder_id": str(folder.id), "invitations": sent})

        return self._run(command_id, actor, p.model_dump(mode="json"), decide)

    def decide_invitation(self, command_id: str, actor: Actor, iid: str, state: str
                          ) -> dict[str, Any]:
        def decide() -> Decision:
            viewer = self.viewer(actor)
            row = self.view.invitation(iid)
            if row is None:
                raise refuse("invitation.not_found", "no such invitation",
                             field="invitation_id")
            folder = self.folder(row["folder_id"])
            decided = folder.decide(iid, viewer.user_id, state)
            return Decision([folder], {"invitation_id": iid, "folder_id": str(folder.id),
                                       "state": decided["state"],
                                       "permission": decided["permission"]})

        return self._run(command_id, actor, {"invitation_id": iid, "state": state}, decide)

    # ---- sessions ----------------------------------------------------------------------------

    def mount_folder(self, command_id: str, actor: Actor, p: c.MountFolder) -> dict[str, Any]:
        """For the scheduler (checked `system_only` by the guard): the session owner's
        permission and the folder's real path; the folder is then held by the session."""
        def decide() -> Decision:
            owner = Actor(access_key=p.access_key)
            viewer = self.viewer(owner)
            row, permission = self.visible(viewer, p.folder, live_only=True)
            self.require_host(owner, row, H.MOUNT)
            folder = self.folder(row["folder_id"])
            folder.mount(p.session_id, p.access_key)
            path = self.cluster.hosts.directory(folder.host, folder.directory).resolve()
            return Decision([folder], {
                "folder_id": str(folder.id), "name": folder.name, "permission": permission,
                "read_only": permission not in c.WRITABLE, "path": str(path)})

        return self._run(command_id, actor, p.model_dump(mode="json"), decide)

    def on_scheduler_event(self, envelope: Event, tracking: Tracking) -> None:
        """A session that ended releases the folders it mounted."""
        touched = []
        if envelope.type in SESSION_ENDED:
            session_id = str(envelope.data.get("session_id", ""))
            for fid in self.view.mounted_by(session_id):
                folder = self.folder(fid)
                if session_id in folder.sessions:
                    folder.unmounted(session_id)
                    touched.append(folder)
        self.save_tracked(tracking, *touched)

    # ---- lifecycle ---------------------------------------------------------------------------

    def trash_folder(self, command_id: str, actor: Actor, ref: str) -> dict[str, Any]:
        def decide() -> Decision:
            folder, _ = self.owned(actor, ref, H.DELETE)
            folder.trash()
            return Decision([folder], folder_summary(folder))

        return self._run(command_id, actor, {"folder": ref, "op": "trash"}, decide)

    def restore_folder(self, command_id: str, actor: Actor, ref: str) -> dict[str, Any]:
        def decide() -> Decision:
            folder, _ = self.owned(actor, ref, H.DELETE, live_only=False)
            folder.restore()
            return Decision([folder], folder_summary(folder))

        return self._run(command_id, actor, {"folder": ref, "op": "restore"}, decide)

    def purge_folder(self, command_id: str, actor: Actor, ref: str) -> dict[str, Any]:
        """Delete forever: PurgeStarted is saved first, then the directory goes, then Purged
        (and the name and count are released). A crash in between leaves `delete-ongoing`,
        which `finish_purges` completes at the next start."""
        def decide() -> Decision:
            folder, _ = self.owned(actor, ref, H.DELETE, live_only=False)
            folder.require_unmounted()
            folder.begin_purge()
            return Decision([folder], folder_summary(folder))

        reply = self._run(command_id, actor, {"folder": ref, "op": "purge"}, decide)
        self.finish_purge(reply["folder_id"])
        return reply | {"status": c.FolderStatus.PURGED.value}

    def finish_purge(self, fid: str) -> None:
        folder = self.folder(fid)
        if folder.status != c.FolderStatus.PURGING:
            return
        self.cluster.hosts.remove(folder.host, folder.directory)
        folder.purged()
        shelf = self.shelf(folder.ownership, folder.owner_id)
        held = shelf.names.get(folder.name) == str(folder.id)
        if held:
            shelf.release(folder.name)
        self.save(folder, *([shelf] if held else []))

    def recover(self, sweep_orphans: bool = True) -> dict[str, int]:
        """At start: finish interrupted purges, remove empty directories no folder owns
        (a creation that crashed between mkdir and commit). With several instances on one
        store, another may be between its mkdir and its commit: no sweep then."""
        purging = self.view.with_status(c.FolderStatus.PURGING.value)
        for row in purging:
            self.finish_purge(row["folder_id"])
        known = {(f["host"], f["directory"]) for f in self.view.all_folders()}
        orphans = 0
        for host, root in self.cluster.hosts.roots.items() if sweep_orphans else ():
            for entry in root.iterdir():
                if entry.is_dir() and (host, entry.name) not in known and len(entry.name) == 32:
                    self.cluster.hosts.discard_if_empty(host, entry.name)
                    orphans += 1
        if purging or orphans:
            log.info("storage recovered: %d purge(s) finished, %d orphan(s) checked",
                     len(purging), orphans)
        return {"purges": len(purging), "orphans": orphans}

