"""Zero-copy downloads: the ASGI `http.response.pathsend` extension for uvicorn's httptools
protocol, so a file body goes from the page cache to the socket with `os.sendfile` (no read
into Python, no thread hop per chunk).

Starlette's `FileResponse` sends `{"type": "http.response.pathsend", "path": ...}` instead of
body chunks when the scope offers the extension; this protocol offers it on plain-TCP
connections only (TLS needs the bytes in user space) and answers it by writing the file to
a duplicate of the connection's descriptor from a worker thread of its own (at most
`MAX_ACTIVE` at once; more are sent in chunks), once the transport has flushed the headers.
Nothing else writes to the connection meanwhile (the response is this request's, and
HTTP/1.1 answers in order). Off switch: `BAIKAL_GATEWAY_ZERO_COPY=false` (or TLS, or no
httptools): uvicorn's own protocol, and FileResponse reads the file in chunks. The same
protocol offers uploads their zero-copy counterpart (bodyfile.py).
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from services.gateway.bodyfile import BODY_TO_FILE, BodyToFile, announced_length, wants_body_to_file
from services.gateway.rawsocket import SEND, blocking_duplicate, flushed

PATHSEND = "http.response.pathsend"
CHUNK = 16 * 1024 * 1024  # bytes per sendfile call
STALL_SECONDS = 60.0  # a client that takes nothing for this long is dropped
# Downloads sent by sendfile at once, each holding a thread of its own pool for as long as its
# client takes (never the default executor's threads, which the rest of the gateway uses);
# beyond that, a download is read and sent in chunks as without this protocol.
MAX_ACTIVE = 8
READ_CHUNK = 1024 * 1024
_pool = ThreadPoolExecutor(max_workers=MAX_ACTIVE, thread_name_prefix="gateway-sendfile")
_active = [0]  # touched on the event loop only

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
except ImportError:  # no httptools: uvicorn's default protocol, no zero-copy
    HttpToolsProtocol = None  # type: ignore[assignment,misc]
    RequestResponseCycle = None  # type: ignore[assignment,misc]


def http_protocol(enabled: bool, tls: bool) -> Any:
    """uvicorn's `http` setting: this protocol where it applies, else uvicorn's choice."""
    if not enabled or tls or HttpToolsProtocol is None:
        return "auto"
    return PathsendProtocol


def _send_all(sock_fd: int, path: str, expected: int) -> int:
    """In a worker thread: the whole file, or an OSError (client gone, stalled, file shrunk).

    The socket is switched to blocking mode for the transfer (rawsocket.py; its reads are
    paused, and nothing else writes to it meanwhile), with a send timeout, so each `sendfile`
    call waits in the kernel without the GIL instead of waking a Python loop per buffer's
    worth; it is non-blocking again before this returns."""
    sent = 0
    with blocking_duplicate(sock_fd, SEND, STALL_SECONDS) as out, open(path, "rb") as source:
        while sent < expected:
            try:
                n = os.sendfile(out, source.fileno(), sent, min(CHUNK, expected - sent))
            except BlockingIOError:  # SO_SNDTIMEO passed with nothing taken
                raise TimeoutError("the client took nothing for "
                                   f"{STALL_SECONDS:.0f} s") from None
            if n == 0:  # the file shrank under us: Content-Length can no longer hold
                raise OSError("the file ended before its announced length")
            sent += n
    return sent


DOWNLOAD_PREFIX, DOWNLOAD_SUFFIX = "/folders/", "/file"  # routes/files.py `download`

if RequestResponseCycle is not None:

    class PathsendCycle(RequestResponseCycle):
        async def send(self, message: Any) -> None:
            if message.get("type") != PATHSEND:
                await super().send(message)
                return
            if not self.response_started or self.response_complete or self.chunked_encoding:
                raise RuntimeError("pathsend needs a started response with a Content-Length")
            if _active[0] >= MAX_ACTIVE:
                await self._send_chunks(message["path"])
                return
            await flushed(self.transport, "the response headers")  # before the sendfile
            sock = self.transport.get_extra_info("socket")
            expected = self.expected_content_length
            loop = asyncio.get_running_loop()
            _active[0] += 1
            self.flow.pause_reading()  # the socket turns blocking for the transfer
            try:
                await loop.run_in_executor(_pool, _send_all, sock.fileno(), message["path"],
                                           expected)
            except (OSError, TimeoutError):
                # Client gone or stalled, or the file changed: the response cannot be
                # completed, so the connection is closed (the client sees a short body).
                self.disconnected = True
                self.transport.close()
                return
            finally:
                _active[0] -= 1
                if not self.disconnected:
                    self.flow.resume_reading()
            self.expected_content_length = 0
            await super().send({"type": "http.response.body", "body": b"",
                                "more_body": False})

        async def _send_chunks(self, path: str) -> None:
            """As Starlette's FileResponse without the extension: read, send, repeat."""
            with open(path, "rb") as source:
                left = self.expected_content_length
                while left > 0 and not self.disconnected:
                    chunk = await asyncio.to_thread(source.read, min(READ_CHUNK, left))
                    if not chunk:
                        raise RuntimeError("the file ended before its announced length")
                    left -= len(chunk)
                    await super().send({"type": "http.response.body", "body": chunk,
                                        "more_body": left > 0})

    class BodyToFileCycle(BodyToFile, RequestResponseCycle):  # type: ignore[misc]
        """An upload's cycle: `receive_into` (bodyfile.py) besides uvicorn's `receive`."""

    class PathsendProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, offering `http.response.pathsend` (downloads) and
        `baikal.body_to_file` (uploads, bodyfile.py) on plain TCP."""

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            # The cycle was just made and its task not yet run: give it the pathsend send,
            # and only then offer the extension (its scope is the cycle's), on plain TCP.
            # Only the download route sends a file (GET /folders/{name}/file) and only the
            # upload route takes a body into one (PUT, with a Content-Length): every other
            # request keeps uvicorn's own cycle and pays nothing for the extensions.
            scope = self.scope
            method, path = scope["method"], scope.get("path", "")  # none on an upgrade
            download = (method == "GET" and path.startswith(DOWNLOAD_PREFIX)
                        and path.endswith(DOWNLOAD_SUFFIX))
            if not download and not wants_body_to_file(method, path):
                return
            cycle = self.cycle
            if (cycle is None or type(cycle) is not RequestResponseCycle
                    or cycle.scope is not scope
                    or self.transport.get_extra_info("sslcontext") is not None):
                return
            if download:
                cycle.__class__ = PathsendCycle
                self.scope["extensions"] = {PATHSEND: {}}
            else:
                length = announced_length(scope["headers"])
                if length is None:
                    return  # chunked: the route reads request.stream()
                cycle.__class__ = BodyToFileCycle
                upload: Any = cycle
                upload.body_length, upload.body_taken, upload.body_received = length, False, False
                self.scope["extensions"] = {BODY_TO_FILE: {"receive_into": upload.receive_into}}

else:  # pragma: no cover - httptools missing
    PathsendProtocol = None  # type: ignore[assignment,misc]


__all__ = ["BODY_TO_FILE", "PATHSEND", "http_protocol"]
