"""A connection's socket borrowed for a blocking transfer in a worker thread: the one way the
zero-copy paths (`bodyfile.receive_all` for uploads, `sendfile._send_all` for downloads) take
the socket from uvicorn's transport and give it back.

The descriptor is duplicated (ours to close, whatever the transport does meanwhile) and the
socket switched to blocking mode with a kernel timeout on the one direction the transfer uses
(`SO_RCVTIMEO` to receive, `SO_SNDTIMEO` to send), so each `splice`/`readv`/`sendfile` call
waits in the kernel without the GIL; when the timeout passes with nothing moved the call raises
`BlockingIOError`. On the way out, on success or on an exception, the socket is non-blocking
again with no timeout (the mode belongs to the open file, which the transport shares) and the
duplicate is closed; an error of the transfer itself propagates unchanged. Before it is
borrowed, what the transport still buffers (a response's headers, a "100 Continue") must have
left (`flushed`): from then on only the worker thread writes to the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from collections.abc import Iterator

RECEIVE, SEND = socket.SO_RCVTIMEO, socket.SO_SNDTIMEO  # the direction a timeout applies to
FLUSH_WAITS = 2000  # × 1 ms: how long the transport's buffer may take to empty


def _timeval(seconds: float) -> bytes:
    return struct.pack("ll", int(seconds), 0)


@contextlib.contextmanager
def blocking_duplicate(sock_fd: int, direction: int, timeout_seconds: float) -> Iterator[int]:
    """A blocking duplicate of `sock_fd` with a `timeout_seconds` timeout on `direction`
    (RECEIVE or SEND), for the block's length; non-blocking, no timeout, closed after it."""
    duplicate = os.dup(sock_fd)
    try:
        view = socket.socket(fileno=duplicate)  # for setsockopt only; detached, never closes
        try:
            view.setsockopt(socket.SOL_SOCKET, direction, _timeval(timeout_seconds))
            os.set_blocking(duplicate, True)
            yield duplicate
        finally:
            # The client may be gone already: restoring a dead socket's mode may fail, and
            # that must not hide the transfer's own error (or success).
            with contextlib.suppress(OSError):
                os.set_blocking(duplicate, False)
                view.setsockopt(socket.SOL_SOCKET, direction, _timeval(0))
            view.detach()
    finally:
        os.close(duplicate)


async def flushed(transport: asyncio.WriteTransport, what: str) -> None:
    """Once the transport's write buffer is empty (polled each millisecond, `FLUSH_WAITS`
    times at most); else a RuntimeError naming `what` did not leave it."""
    for _ in range(FLUSH_WAITS):
        if transport.get_write_buffer_size() == 0:
            return
        await asyncio.sleep(0.001)
    raise RuntimeError(f"{what} did not leave the transport's buffer")
