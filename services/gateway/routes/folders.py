"""Storage folders (storage service): create, list, show, rename, permission, share, invite,
trash, restore, delete forever; invitations; storage hosts. Backend.AI's paths where it has
them (`/folders`, `/folders/{name}/invite`, `/folders/invitations/...`, `/folders/_/hosts`).

No `from __future__ import annotations`: FastAPI reads the annotations as objects.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from contracts import storage as sc
from contracts.replies import storage as sr
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.routes.calls import Reader, Writer, body_data, json_response

S = sc.Subjects
router = APIRouter(prefix="/folders", tags=["storage folders"], responses=ERROR_RESPONSES)
FolderPath = Annotated[str, Path(min_length=1, max_length=128)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewName(_Body):
    new_name: sc.FolderName


class PermissionChange(_Body):
    permission: sc.Permission


class InviteBody(_Body):
    emails: list[sc.EmailText] = Field(min_length=1, max_length=64)
    permission: sc.Permission = sc.Permission.READ_WRITE


class ShareBody(_Body):
    email: sc.EmailText
    permission: sc.Permission


class UnshareBody(_Body):
    email: sc.EmailText


class InvitationBody(_Body):
    inv_id: Annotated[str, Field(min_length=1, max_length=64)]


# ---- static paths first: they would otherwise read as a folder's name ---------------------


@router.get("/_/hosts", response_model=sr.HostList,
            summary="Storage hosts, the default one, and what your policies allow on each")
async def list_hosts(call: Reader) -> Response:
    return json_response(await call.query(S.HOST_LIST, {}))


@router.get("/invitations/list", response_model=sr.InvitationList,
            summary="Invitations you received (or sent)")
async def list_invitations(
        call: Reader, direction: Annotated[str, Query(pattern="^(received|sent)$")] = "received"
) -> Response:
    return json_response(await call.query(S.INVITATION_LIST, {"direction": direction}))


def _decision(subject: str, verb: str) -> Any:
    async def decide(body: InvitationBody, call: Writer) -> Response:
        return json_response(await call.command(subject, {"invitation_id": body.inv_id}))

    decide.__name__ = f"{verb}_invitation"
    return decide


for _verb, _subject, _who in (("accept", S.INVITATION_ACCEPT, "the invitee"),
                              ("reject", S.INVITATION_REJECT, "the invitee"),
                              ("cancel", S.INVITATION_CANCEL, "the inviter")):
    router.post(f"/invitations/{_verb}", response_model=sr.InvitationDecision,
                name=f"{_verb}_invitation",
                summary=f"{_verb.capitalize()} an invitation ({_who})")(
        _decision(_subject, _verb))


# ---- folders ---------------------------------------------------------------------------------


@router.post("", status_code=201, response_model=sr.FolderState,
             summary="Create a user folder, or a group folder of a project (admins)")
async def create_folder(body: sc.CreateFolder, call: Writer) -> Response:
    return json_response(await call.command(S.FOLDER_CREATE, body_data(body)), 201)


@router.get("", response_model=sr.FolderPage,
            summary="Folders you can see, with your permission (R / RW / RWD)")
async def list_folders(
    call: Reader,
    status: sc.FolderStatus | None = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    data = {"status": status.value if status else None, "offset": offset, "limit": limit}
    return json_response(await call.query(S.FOLDER_LIST, data))


@router.get("/{name}", response_model=sr.FolderRow, summary="One folder, by name or id")
async def get_folder(name: FolderPath, call: Reader) -> Response:
    return json_response(await call.query(S.FOLDER_GET, {"folder": name}))


@router.get("/{name}/usage", response_model=sr.FolderUsage,
            summary="Bytes and files in a folder (walked now)")
async def folder_usage(name: FolderPath, call: Reader) -> Response:
    return json_response(await call.query(S.FOLDER_USAGE, {"folder": name}))


@router.post("/{name}/rename", response_model=sr.FolderState)
async def rename_folder(name: FolderPath, body: NewName, call: Writer) -> Response:
    return json_response(await call.command(S.FOLDER_RENAME, body_data(body, folder=name)))


@router.post("/{name}/permission", response_model=sr.FolderState,
             summary="A group folder's permission for its project's members")
async def update_permission(name: FolderPath, body: PermissionChange, call: Writer
                            ) -> Response:
    return json_response(await call.command(S.FOLDER_UPDATE_PERMISSION,
                                            body_data(body, folder=name)))


@router.post("/{name}/share", response_model=sr.FolderState,
             summary="One user's own permission (a group folder's override, or a change to "
                     "a user folder's grant)")
async def share_folder(name: FolderPath, body: ShareBody, call: Writer) -> Response:
    return json_response(await call.command(S.FOLDER_SHARE, body_data(body, folder=name)))


@router.post("/{name}/unshare", response_model=sr.FolderState,
             summary="Drop one user's own permission (revokes a user folder's grant)")
async def unshare_folder(name: FolderPath, body: UnshareBody, call: Writer) -> Response:
    return json_response(await call.command(S.FOLDER_UNSHARE, body_data(body, folder=name)))


@router.post("/{name}/invite", response_model=sr.InvitationsSent,
             summary="Invite users (by email) to a user folder with a permission")
async def invite(name: FolderPath, body: InviteBody, call: Writer) -> Response:
    return json_response(await call.command(S.INVITATION_SEND, body_data(body, folder=name)))


@router.delete("/{name}", response_model=sr.FolderState, summary="Move a folder to the trash")
async def trash_folder(name: FolderPath, call: Writer) -> Response:
    return json_response(await call.command(S.FOLDER_TRASH, {"folder": name}))


@router.post("/{name}/restore", response_model=sr.FolderState,
             summary="Restore a folder from the trash")
async def restore_folder(name: FolderPath, call: Writer) -> Response:
    return json_response(await call.command(S.FOLDER_RESTORE, {"folder": name}))


@router.post("/{name}/delete-forever", response_model=sr.FolderState,
             summary="Delete a folder in the trash forever (its directory is removed)")
async def purge_folder(name: FolderPath, call: Writer) -> Response:
    return json_response(await call.command(S.FOLDER_PURGE, {"folder": name}))
