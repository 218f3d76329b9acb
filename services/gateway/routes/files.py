"""Files in storage folders, streamed: list (paged), upload, download, mkdir, rename / move,
delete. Storage authorizes each operation and answers the real paths (refusing any path that
leaves the folder); the gateway, on the same machine as the storage hosts, then moves the
bytes itself, so a file body never crosses NATS (1 MiB payloads) nor sits whole in memory.

No `from __future__ import annotations`: FastAPI reads the annotations as objects.
"""

import asyncio
import contextlib
import hashlib
import heapq
import os
import shutil
import stat
import tempfile
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts import storage as sc
from services.gateway.auth import DECLARED_DIGEST_SCOPE_KEY, check_declared_digest
from services.gateway.bodyfile import BODY_TO_FILE, Digest
from services.gateway.errors import ERROR_RESPONSES, ApiError, ErrorResponse
from services.gateway.routes.calls import Call, Reader, Writer, json_response

S = sc.Subjects
router = APIRouter(prefix="/folders", tags=["storage files"], responses=ERROR_RESPONSES)
FolderPath = Annotated[str, Path(min_length=1, max_length=128)]
FilePath = Annotated[str, Query(max_length=sc.PATH_MAX)]
WRITE_CHUNK = 8 * 1024 * 1024  # bytes gathered before one write in a worker thread
READ_CHUNK = 1024 * 1024
Size = TypeVar("Size", int, int | None)  # what an upload's writer answers


class Download(FileResponse):
    chunk_size = READ_CHUNK  # starlette's 64 KiB costs a thread hop per 64 KiB


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileEntry(_Model):
    name: str
    type: str = Field(description="file, dir or link")
    size: int
    modified: float


class FileList(_Model):
    path: str
    total: int
    offset: int
    limit: int
    items: list[FileEntry]


class FileDone(_Model):
    folder_id: str
    path: str
    done: str
    size: int | None = None
    target: str | None = None


class PathBody(_Model):
    path: Annotated[str, Field(max_length=sc.PATH_MAX)]


class MoveBody(_Model):
    path: Annotated[str, Field(max_length=sc.PATH_MAX)]
    target: Annotated[str, Field(max_length=sc.PATH_MAX)]


class DeleteBody(_Model):
    paths: list[Annotated[str, Field(max_length=sc.PATH_MAX)]] = Field(min_length=1,
                                                                      max_length=1000)
    recursive: bool = False


def refused(code: str, message: str, status: int = 400, **details: Any) -> ApiError:
    return ApiError(f"storage.{code}", message, status=status, **details)


async def grant(call: Call, folder: str, operation: sc.FileOperation, path: str,
                target: str | None = None) -> dict[str, Any]:
    return await call.query(S.FILES_AUTHORIZE, {"folder": folder, "operation": operation.value,
                                                "path": path, "target": target})


def _listing(directory: str, offset: int, limit: int) -> dict[str, Any]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        raise refused("path.not_found", "no such directory in the folder", 404) from None
    except NotADirectoryError:
        raise refused("path.not_a_directory", "the path is a file") from None
    # An early page of a large directory: the smallest names only (measured on 100,000
    # names: 5-20 ms, against 50-60 ms to sort them all).
    end = offset + limit
    head = heapq.nsmallest(end, names) if end * 4 < len(names) else sorted(names)
    items = []
    for name in head[offset:end]:
        try:
            info = os.lstat(os.path.join(directory, name))
        except FileNotFoundError:
            continue  # removed since the listing
        kind = ("link" if stat.S_ISLNK(info.st_mode)
                else "dir" if stat.S_ISDIR(info.st_mode) else "file")
        items.append({"name": name, "type": kind, "size": info.st_size,
                      "modified": info.st_mtime})
    return {"total": len(names), "offset": offset, "limit": limit, "items": items}


@router.get("/{name}/files", response_model=FileList,
            summary="List a directory of the folder (paged, sorted by name)")
async def list_files(name: FolderPath, call: Reader, path: FilePath = "",
                     offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                     limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> Response:
    granted = await grant(call, name, sc.FileOperation.LIST, path)
    page = await asyncio.to_thread(_listing, granted["path"], offset, limit)
    return json_response({"path": path, **page})


@router.get("/{name}/file", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}}},
            summary="Download one file (streamed)")
async def download_file(name: FolderPath, call: Reader, path: FilePath) -> Response:
    granted = await grant(call, name, sc.FileOperation.DOWNLOAD, path)
    real = granted["path"]
    if not os.path.isfile(real):
        raise refused("path.not_found", "no such file in the folder", 404)
    return Download(real, filename=os.path.basename(real),
                    media_type="application/octet-stream")


@router.put("/{name}/file", response_model=FileDone, status_code=201,
            responses={413: {"model": ErrorResponse, "description": "Over the folder's or "
                             "its owner's size limit (nothing is kept)"}},
            openapi_extra={"requestBody": {"content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}}},
            summary="Upload one file (the body, streamed; replaces a file of that path)")
async def upload_file(name: FolderPath, request: Request, call: Writer,
                      path: FilePath) -> Response:
    granted = await grant(call, name, sc.FileOperation.UPLOAD, path)
    real = granted["path"]
    if real == granted["root"] or os.path.isdir(real):
        raise refused("path.is_a_directory", "name a file to upload, not a directory")
    parent = os.path.dirname(real)
    if not os.path.isdir(parent):
        raise refused("path.not_found", "the parent directory does not exist", 404)
    room = granted.get("max_bytes")
    declared = request.headers.get("content-length", "")
    if room is not None and declared.isdigit() and int(declared) > room:
        raise too_large(room)
    declared_digest = request.scope.get(DECLARED_DIGEST_SCOPE_KEY)
    offered = request.scope.get("extensions", {}).get(BODY_TO_FILE)
    if offered is not None and request.app.state.gateway.settings.gateway_zero_copy_upload:
        size = await _receive_into(offered["receive_into"], parent, real, room,
                                   declared_digest)
    else:
        size = None
    if size is None:  # no zero-copy upload here (or every slot busy): streamed by the app
        size = await _receive(request, parent, real, room, declared_digest)
    return json_response({"folder_id": granted["folder_id"], "path": path, "done": "upload",
                          "size": size}, 201)


def too_large(room: int) -> ApiError:
    return refused("quota.exceeded", f"the upload would exceed a size limit: {room} bytes "
                   "left", 413, max_bytes=room)


def _temporary(parent: str) -> tuple[int, str]:
    """A new file beside the target. As `cp` makes a file (not mkstemp's 0600): a session
    running as another user (the process runtime's sandbox) reads it; the folder's 0700
    directory keeps others out."""
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=parent)
    os.fchmod(fd, 0o644)
    return fd, tmp


async def _keep_upload(parent: str, real: str, declared: str | None,
                       write: Callable[[int, Digest | None], Awaitable[Size]]) -> Size:
    """The ending both upload paths share: `write(fd, digest)` fills a new temporary file
    beside the target and answers its size (None: it took nothing, and no file is kept);
    the file is closed, its SHA-256 checked against the one the signature `declared`, and
    only then renamed over `real`: a reader never sees half a file. On any failure (the
    write's, a digest that differs, the rename's) the temporary file is removed and the
    error raised."""
    fd, tmp = _temporary(parent)
    digest = hashlib.sha256() if declared is not None else None
    try:
        try:
            size = await write(fd, digest)
        finally:
            os.close(fd)
        if size is None:
            os.unlink(tmp)
            return size
        if declared is not None and digest is not None:
            check_declared_digest(declared, digest.hexdigest())
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return size


async def _receive_into(receive_into: Any, parent: str, real: str, room: int | None,
                        declared: str | None) -> int | None:
    """As `_receive`, the body taken from the socket by the protocol (bodyfile.py); None
    (and no file) when it cannot take it now. The Content-Length it needs was checked against
    `room` already, so the size cannot pass it (checked again all the same)."""

    async def take(fd: int, digest: Digest | None) -> int | None:
        size: int | None = await receive_into(fd, digest)
        if size is not None and room is not None and size > room:
            raise too_large(room)
        return size

    return await _keep_upload(parent, real, declared, take)


async def _receive(request: Request, parent: str, real: str, room: int | None,
                   declared: str | None = None) -> int:
    """The body into a temporary file beside the target, then renamed over it: a reader
    never sees half a file, and an interrupted upload leaves none. Past `room` bytes the
    upload stops and nothing is kept; a body whose SHA-256 is not the one its signature
    declared (signature version 2 of a streamed body) is not kept either."""

    async def stream(fd: int, digest: Digest | None) -> int:
        size = 0
        with os.fdopen(fd, "wb", closefd=False) as out:  # `_keep_upload` closes fd
            pending: list[bytes] = []
            gathered = 0
            async for chunk in request.stream():
                if digest is not None:
                    digest.update(chunk)
                pending.append(chunk)
                gathered += len(chunk)
                if room is not None and size + gathered > room:
                    raise too_large(room)
                if gathered >= WRITE_CHUNK:
                    await asyncio.to_thread(out.writelines, pending)
                    size, pending, gathered = size + gathered, [], 0
            await asyncio.to_thread(out.writelines, pending)
        return size + gathered

    return await _keep_upload(parent, real, declared, stream)


@router.post("/{name}/mkdir", response_model=FileDone, status_code=201,
             summary="Make a directory (and missing parents)")
async def make_directory(name: FolderPath, body: PathBody, call: Writer) -> Response:
    granted = await grant(call, name, sc.FileOperation.MKDIR, body.path)
    if os.path.exists(granted["path"]):
        raise refused("path.exists", "something of that name exists", 409)
    await asyncio.to_thread(os.makedirs, granted["path"], 0o700)
    return json_response({"folder_id": granted["folder_id"], "path": body.path,
                          "done": "mkdir"}, 201)


@router.post("/{name}/move-file", response_model=FileDone,
             summary="Rename or move a file or directory within the folder")
async def move_file(name: FolderPath, body: MoveBody, call: Writer) -> Response:
    granted = await grant(call, name, sc.FileOperation.RENAME, body.path, body.target)
    source, target = granted["path"], granted["target"]
    if not os.path.lexists(source):
        raise refused("path.not_found", "no such file in the folder", 404)
    if os.path.lexists(target):
        raise refused("path.exists", "the target exists", 409)
    if target == granted["root"] or target.startswith(source.rstrip("/") + "/"):
        raise refused("path.invalid_target", "a directory cannot move into itself")
    await asyncio.to_thread(os.rename, source, target)
    return json_response({"folder_id": granted["folder_id"], "path": body.path,
                          "target": body.target, "done": "move"})


@router.post("/{name}/delete-files", response_model=FileDone,
             summary="Delete files (directories with recursive)")
async def delete_files(name: FolderPath, body: DeleteBody, call: Writer) -> Response:
    grants = [await grant(call, name, sc.FileOperation.DELETE, p) for p in body.paths]
    for granted in grants:
        await asyncio.to_thread(_delete, granted["path"], body.recursive)
    return json_response({"folder_id": grants[0]["folder_id"], "path": body.paths[0],
                          "done": f"delete ({len(grants)})"})


def _delete(real: str, recursive: bool) -> None:
    if os.path.islink(real) or os.path.isfile(real):
        os.unlink(real)
    elif os.path.isdir(real):
        if not recursive and os.listdir(real):
            raise refused("path.not_empty", "the directory is not empty (use recursive)", 409)
        shutil.rmtree(real) if recursive else os.rmdir(real)
    else:
        raise refused("path.not_found", "no such file in the folder", 404)
