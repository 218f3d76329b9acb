"""routes/files.py `_keep_upload`, the ending of both upload paths (zero-copy and streamed):
the written temporary file replaces the target only when the declared digest matches, and is
removed, with the error raised, whenever anything fails."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from services.gateway.bodyfile import Digest
from services.gateway.errors import ApiError
from services.gateway.routes.files import _keep_upload

BODY = b"the uploaded bytes"
Writer = Callable[[int, Digest | None], Awaitable[int | None]]


def writer_of(body: bytes) -> Writer:
    async def write(fd: int, digest: Digest | None) -> int:
        os.write(fd, body)
        if digest is not None:
            digest.update(body)
        return len(body)
    return write


def leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith(".upload-"))


def keep(folder: Path, declared: str | None, write: Writer) -> int | None:
    target = str(folder / "target.bin")
    return asyncio.run(_keep_upload(str(folder), target, declared, write))


@pytest.mark.parametrize("declared", [None, hashlib.sha256(BODY).hexdigest()])
def test_a_written_upload_replaces_the_target_and_leaves_no_temporary_file(
        tmp_path: Path, declared: str | None) -> None:
    (tmp_path / "target.bin").write_bytes(b"old")
    assert keep(tmp_path, declared, writer_of(BODY)) == len(BODY)
    assert (tmp_path / "target.bin").read_bytes() == BODY
    assert leftovers(tmp_path) == []


def test_an_upload_not_matching_its_declared_digest_is_refused_and_not_kept(
        tmp_path: Path) -> None:
    (tmp_path / "target.bin").write_bytes(b"old")
    with pytest.raises(ApiError) as refused:
        keep(tmp_path, hashlib.sha256(b"other bytes").hexdigest(), writer_of(BODY))
    assert refused.value.code == "gateway.auth.content_mismatch"
    assert (tmp_path / "target.bin").read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_a_failing_writer_raises_its_error_and_removes_the_temporary_file(
        tmp_path: Path) -> None:
    async def write(fd: int, digest: Digest | None) -> int:
        os.write(fd, b"half")
        raise ConnectionError("the client went away")

    with pytest.raises(ConnectionError, match="went away"):
        keep(tmp_path, None, write)
    assert not (tmp_path / "target.bin").exists()
    assert leftovers(tmp_path) == []


def test_a_writer_that_takes_nothing_answers_none_and_keeps_no_file(tmp_path: Path) -> None:
    async def write(fd: int, digest: Digest | None) -> int | None:
        return None

    assert keep(tmp_path, None, write) is None
    assert os.listdir(tmp_path) == []
