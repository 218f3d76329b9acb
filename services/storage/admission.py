"""A session's mounts, decided when the session is requested: may its owner mount each folder,
and read-only or not? Asked by the scheduler before any placement; holds nothing (the session
holds its folders with `folder.mount` when it starts)."""

from __future__ import annotations

from typing import Any

from contracts import storage as c
from contracts.envelope import Actor
from services.storage.app import StorageApplication


def admit_mounts(app: StorageApplication, q: c.AdmitMounts) -> dict[str, Any]:
    """Each folder as its owner sees it now (visibility, `mount-in-session` on its host);
    the first one refused refuses them all, with its code and the folder named."""
    owner = Actor(access_key=q.access_key)
    viewer = app.viewer(owner)
    admitted = []
    for ref in q.folders:
        row, permission = app.visible(viewer, ref, live_only=True)
        app.require_host(owner, row, c.HostOperation.MOUNT)
        path = app.cluster.hosts.directory(row["host"], row["directory"]).resolve()
        admitted.append(c.AdmittedMount(
            folder=ref, folder_id=row["folder_id"], name=row["name"], path=str(path),
            permission=c.Permission(permission), read_only=permission not in c.WRITABLE))
    return c.MountsAdmitted(mounts=admitted).model_dump(mode="json")
