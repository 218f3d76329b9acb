"""Zero-copy uploads: a request body written to a file straight from the connection's socket
(`os.splice` socket → pipe → file; no byte through Python, no event-loop wake-up per chunk),
the counterpart of `sendfile.py`'s downloads, offered by the same uvicorn protocol.

The protocol offers the ASGI scope extension `baikal.body_to_file` on plain TCP to
`PUT /folders/{name}/file` requests that announce a Content-Length (no Transfer-Encoding);
the upload route (`routes/files.py`) calls its `receive_into(fd, digest)` instead of reading
`request.stream()`, when `BAIKAL_GATEWAY_ZERO_COPY_UPLOAD` is true (the default). It writes
what the parser already buffered, pauses the transport's reading, and from a worker thread of
its own pool (at most `MAX_ACTIVE` at once; beyond, the route streams as without it) moves
exactly the announced bytes left from a duplicate of the socket's descriptor into `fd`. With a
`digest` (a signature-version-2 upload declares the body's SHA-256) the bytes must pass through
user space to be hashed: read into one cache-sized buffer, hashed and written from it.

The parser never sees the bytes taken so: the connection ends with this response
(`Connection: close`), so nothing that follows on it can be misread as a request. A client that
goes away, stalls for `STALL_SECONDS` or sends fewer bytes than announced ends the request with
`ClientDisconnect`, as a disconnect during `request.stream()` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from starlette.requests import ClientDisconnect

from services.gateway.rawsocket import RECEIVE, blocking_duplicate, flushed

BODY_TO_FILE = "baikal.body_to_file"
UPLOAD_PREFIX, UPLOAD_SUFFIX = "/folders/", "/file"  # routes/files.py `upload_file`
STALL_SECONDS = 60.0  # a client that sends nothing for this long is dropped
PIPE_BYTES = 1024 * 1024  # the splice pipe's capacity (fs.pipe-max-size's default)
HASH_BUFFER = 256 * 1024  # stays in the core's cache between read, hash and write
MAX_ACTIVE = 8
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_pool = ThreadPoolExecutor(max_workers=MAX_ACTIVE, thread_name_prefix="gateway-splice")
_active = [0]  # touched on the event loop only


class Digest(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _splice_all(sock_fd: int, out_fd: int, left: int) -> None:
    read_end, write_end = os.pipe()
    try:
        with contextlib.suppress(OSError):  # a smaller pipe still works, in more calls
            fcntl.fcntl(write_end, F_SETPIPE_SZ, PIPE_BYTES)
        while left > 0:
            taken = _read_or_raise(os.splice, sock_fd, write_end, min(PIPE_BYTES, left))
            left -= taken
            while taken > 0:
                taken -= os.splice(read_end, out_fd, taken)
    finally:
        os.close(read_end)
        os.close(write_end)


def _hash_all(sock_fd: int, out_fd: int, left: int, digest: Digest) -> None:
    buffer = memoryview(bytearray(HASH_BUFFER))
    while left > 0:
        piece = buffer[:min(HASH_BUFFER, left)]
        taken = _read_or_raise(os.readv, sock_fd, [piece])
        left -= taken
        digest.update(piece[:taken])  # hashlib lets the GIL go for pieces this size
        _write_all(out_fd, piece[:taken])


def _read_or_raise(read: Any, *args: Any) -> int:
    try:
        taken = int(read(*args))
    except BlockingIOError:  # SO_RCVTIMEO passed with nothing received
        raise TimeoutError(f"the client sent nothing for {STALL_SECONDS:.0f} s") from None
    if taken == 0:
        raise ConnectionError("the client closed the connection before the announced length")
    return taken


def receive_all(sock_fd: int, out_fd: int, left: int, digest: Digest | None) -> None:
    """In a worker thread: `left` bytes from the socket into `out_fd`, or an OSError.

    The socket is blocking (with a receive timeout) for the transfer, as for
    `sendfile._send_all` (rawsocket.py): the transport's reading is paused and nothing writes
    to it meanwhile, so each call waits in the kernel without the GIL; it is non-blocking
    again before this returns."""
    with blocking_duplicate(sock_fd, RECEIVE, STALL_SECONDS) as sock:
        if digest is None:
            _splice_all(sock, out_fd, left)
        else:
            _hash_all(sock, out_fd, left, digest)


def announced_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The body's Content-Length when it is the only framing (no Transfer-Encoding)."""
    length = None
    for name, value in headers:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            if length is not None or not value.isdigit():
                return None
            length = int(value)
    return length


def wants_body_to_file(method: str, path: str) -> bool:
    return method == "PUT" and path.startswith(UPLOAD_PREFIX) and path.endswith(UPLOAD_SUFFIX)


class BodyToFile:
    """Mixed into uvicorn's httptools RequestResponseCycle (see `sendfile.PathsendProtocol`)."""

    # Attributes of uvicorn's cycle this uses (declared for the type checker).
    body: bytearray
    more_body: bool
    disconnected: bool
    response_complete: bool
    keep_alive: bool
    waiting_for_100_continue: bool
    message_event: asyncio.Event
    transport: asyncio.Transport
    flow: Any
    body_length: int
    body_taken: bool
    body_received: bool

    async def receive_into(self, out_fd: int, digest: Digest | None = None) -> int | None:
        """The whole body into `out_fd` (its size), or None, touching nothing, when the app
        has received part of it already (a body signed whole is read by the authentication:
        Starlette keeps it for `request.stream()`) or every slot is busy: the caller then
        reads `request.stream()`."""
        if self.body_taken or self.disconnected:
            raise RuntimeError("the request body was already taken")
        if self.body_received or (self.more_body and _active[0] >= MAX_ACTIVE):
            return None
        self.body_taken = True
        buffered, self.body = bytes(self.body), bytearray()
        if digest is not None:
            digest.update(buffered)
        _write_all(out_fd, buffered)
        left = self.body_length - len(buffered) if self.more_body else 0
        if left:
            await self._take_the_rest(out_fd, left, digest)
        self.more_body = False
        self.message_event.set()  # a later receive() answers the (empty) end of the body
        return len(buffered) + left

    async def _take_the_rest(self, out_fd: int, left: int, digest: Digest | None) -> None:
        # The parser will never see these bytes: the connection ends with the response.
        self.keep_alive = False
        self.flow.pause_reading()
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        await flushed(self.transport, "the 100 Continue")  # before the socket is borrowed
        sock = self.transport.get_extra_info("socket")
        _active[0] += 1
        try:
            await asyncio.get_running_loop().run_in_executor(
                _pool, receive_all, sock.fileno(), out_fd, left, digest)
        except OSError as exc:  # gone, stalled or short: no response can be completed
            self.disconnected = True
            self.transport.close()
            raise ClientDisconnect() from exc
        finally:
            _active[0] -= 1

    async def receive(self) -> dict[str, Any]:
        if not self.body_taken:
            message: dict[str, Any] = await super().receive()  # type: ignore[misc]
            self.body_received = self.body_received or message["type"] == "http.request"
            return message
        # Never uvicorn's receive: it would resume reading bytes the parser takes for body.
        if not self.disconnected and not self.response_complete:
            await self.message_event.wait()
            self.message_event.clear()
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b"", "more_body": False}
