"""rawsocket.blocking_duplicate: the zero-copy transfers' borrowed socket is blocking with a
timeout inside the block, and non-blocking with no timeout (its duplicate closed) after it,
whether the block ends normally or with an exception, which propagates; `flushed` waits for
the transport's buffer to empty, bounded."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import Iterator

import pytest

from services.gateway import rawsocket
from services.gateway.rawsocket import RECEIVE, SEND, blocking_duplicate, flushed

NO_TIMEOUT = struct.pack("ll", 0, 0)


@pytest.fixture
def connection() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected pair; the first is non-blocking, as uvicorn's transport keeps it."""
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    yield ours, peer
    ours.close()
    peer.close()


def timeout_of(sock: socket.socket, direction: int) -> bytes:
    return sock.getsockopt(socket.SOL_SOCKET, direction, len(NO_TIMEOUT))


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


@pytest.mark.parametrize("direction", [RECEIVE, SEND])
def test_the_socket_is_blocking_with_a_timeout_inside_and_restored_after(
        connection: tuple[socket.socket, socket.socket], direction: int) -> None:
    ours, _ = connection
    with blocking_duplicate(ours.fileno(), direction, 7.0) as duplicate:
        assert duplicate != ours.fileno()
        assert os.get_blocking(ours.fileno())  # the mode is the open file's, shared
        assert timeout_of(ours, direction) == struct.pack("ll", 7, 0)
    assert not os.get_blocking(ours.fileno())
    assert timeout_of(ours, direction) == NO_TIMEOUT
    assert not is_open(duplicate)


def test_an_exception_in_the_block_propagates_and_the_socket_is_restored(
        connection: tuple[socket.socket, socket.socket]) -> None:
    ours, _ = connection
    with pytest.raises(ConnectionError, match="went away"), \
            blocking_duplicate(ours.fileno(), SEND, 5.0) as duplicate:
        raise ConnectionError("the client went away")
    assert not os.get_blocking(ours.fileno())
    assert timeout_of(ours, SEND) == NO_TIMEOUT
    assert not is_open(duplicate)
    ours.sendall(b"still usable")  # the transport's own descriptor was left open


def test_a_receive_with_nothing_sent_raises_blocking_io_once_the_timeout_passes(
        connection: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = connection
    peer.sendall(b"x")
    with blocking_duplicate(ours.fileno(), RECEIVE, 1.0) as duplicate:
        assert os.read(duplicate, 1) == b"x"  # waits in the kernel, then answers
        with pytest.raises(BlockingIOError):  # what bodyfile turns into a TimeoutError
            os.read(duplicate, 1)
    assert not os.get_blocking(ours.fileno())


class Transport:
    """A write buffer that empties by one step per look (never, with `stuck`)."""

    def __init__(self, buffered: int, stuck: bool = False) -> None:
        self.buffered, self.stuck, self.looks = buffered, stuck, 0

    def get_write_buffer_size(self) -> int:
        self.looks += 1
        if not self.stuck and self.buffered:
            self.buffered -= 1
        return self.buffered


def test_flushed_returns_once_the_transport_buffer_is_empty() -> None:
    transport = Transport(buffered=3)
    asyncio.run(flushed(transport, "the headers"))  # type: ignore[arg-type]
    assert transport.buffered == 0


def test_a_buffer_that_never_empties_is_an_error_naming_what_stayed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rawsocket, "FLUSH_WAITS", 5)
    transport = Transport(buffered=1, stuck=True)
    with pytest.raises(RuntimeError, match="the 100 Continue did not leave"):
        asyncio.run(flushed(transport, "the 100 Continue"))  # type: ignore[arg-type]
    assert transport.looks == 5
