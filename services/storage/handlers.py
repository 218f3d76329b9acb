"""Bus handlers for bai.cmd.storage.* and bai.qry.storage.*: parse, authorize, call, reply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts import storage as c
from services.runtime.dispatch import Dispatcher
from services.storage.admission import admit_mounts
from services.storage.app import StorageApplication
from services.storage.queries import StorageQueries

S = c.Subjects
INVITATION_STATES = {S.INVITATION_ACCEPT: c.InvitationState.ACCEPTED,
                     S.INVITATION_REJECT: c.InvitationState.REJECTED,
                     S.INVITATION_CANCEL: c.InvitationState.CANCELED}


def register(dispatcher: Dispatcher, app: StorageApplication, queries: StorageQueries) -> None:
    commands: dict[str, Callable[[Any, Any], dict[str, Any]]] = {
        S.FOLDER_CREATE: lambda e, p: app.create_folder(e.id, e.actor, p),
        S.FOLDER_RENAME: lambda e, p: app.rename_folder(e.id, e.actor, p),
        S.FOLDER_UPDATE_PERMISSION: lambda e, p: app.update_permission(e.id, e.actor, p),
        S.FOLDER_SHARE: lambda e, p: app.share_folder(e.id, e.actor, p),
        S.FOLDER_UNSHARE: lambda e, p: app.unshare_folder(e.id, e.actor, p),
        S.FOLDER_TRASH: lambda e, p: app.trash_folder(e.id, e.actor, p.folder),
        S.FOLDER_RESTORE: lambda e, p: app.restore_folder(e.id, e.actor, p.folder),
        S.FOLDER_PURGE: lambda e, p: app.purge_folder(e.id, e.actor, p.folder),
        S.INVITATION_SEND: lambda e, p: app.send_invitations(e.id, e.actor, p),
        S.FOLDER_MOUNT: lambda e, p: app.mount_folder(e.id, e.actor, p),
    }
    for subject, state in INVITATION_STATES.items():
        commands[subject] = _decide(app, state.value)
    for subject, handler in commands.items():
        dispatcher.command(subject, c.COMMAND_PAYLOADS[subject], handler,
                           c.COMMAND_NEEDS[subject])

    reads: dict[str, Callable[[Any, Any], dict[str, Any]]] = {
        S.FOLDER_LIST: lambda e, q: queries.list_folders(e.actor, q),
        S.FOLDER_GET: lambda e, q: queries.get_folder(e.actor, q.folder),
        S.INVITATION_LIST: lambda e, q: queries.list_invitations(e.actor, q),
        S.HOST_LIST: lambda e, q: queries.list_hosts(e.actor),
        S.FILES_AUTHORIZE: lambda e, q: queries.authorize_files(e.actor, q),
        S.FOLDER_USAGE: lambda e, q: queries.usage(e.actor, q.folder),
        S.FOLDER_ADMIT_MOUNTS: lambda e, q: admit_mounts(app, q),  # the scheduler only
    }
    for subject, handler in reads.items():
        dispatcher.query(subject, c.QUERY_PAYLOADS[subject], handler, c.QUERY_NEEDS[subject])


def _decide(app: StorageApplication, state: str) -> Callable[[Any, Any], dict[str, Any]]:
    def handler(envelope: Any, payload: c.InvitationRef) -> dict[str, Any]:
        return app.decide_invitation(envelope.id, envelope.actor, payload.invitation_id, state)

    return handler
