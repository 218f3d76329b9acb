"""One context per message: what it is, who proved to send it, and the chain it belongs to.

The dispatcher builds a `MessageContext` once per command or query, after the proof is
verified (so `actor` is never the claimed one), and runs the handler inside `using(ctx)`:
everything the handler calls (the application, the store that stamps events) reads the same
context through `current()` without passing it down by hand. A reaction to an event builds
one too (`for_event`), so the commands and events it causes keep the correlation id.

An in-memory query may be run on the event loop instead of a worker thread (`on_loop`):
there nothing may block, so code that would wait (a condition, a read of the store) first asks
`may_block()` and raises `MustBlock` instead; the dispatcher then runs the message again in a
worker thread, where it waits as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from contracts.envelope import Actor


@dataclass(frozen=True)
class MessageContext:
    subject: str
    message_id: str  # the envelope's id; for a command, its idempotency key
    actor: Actor  # proven by the dispatcher, or the system actor of a reaction
    correlation_id: str  # the envelope's, else the message's own id (a chain starts here)
    causation_id: str | None = None  # the message or event that caused this one
    # The positions the request said it had seen (its causal token), already awaited here;
    # a handler that asks another service on the request's behalf passes them on.
    after: Mapping[str, int] = field(default_factory=dict)

    @property
    def principal(self) -> str:
        """Who, in one word: the system component, else the access key, else the user id."""
        return self.actor.system or self.actor.access_key or self.actor.user_id or "anonymous"

    def caused(self, subject: str, message_id: str, actor: Actor | None = None
               ) -> MessageContext:
        """The context of a message this one causes: same correlation, caused by this one."""
        return MessageContext(subject=subject, message_id=message_id,
                              actor=actor or self.actor, correlation_id=self.correlation_id,
                              causation_id=self.message_id)


_CURRENT: ContextVar[MessageContext | None] = ContextVar("baikal_message_context",
                                                          default=None)


def current() -> MessageContext | None:
    """The context of the message being handled in this thread or task, if any."""
    return _CURRENT.get()


class using:  # noqa: N801 - used as a function: `with using(ctx):`
    """Run a block as the handling of `ctx` (restored afterwards, also on error). A class,
    not a generator-based context manager: cheaper, and the scheduler enters one per
    placement (`traced.continuing`)."""

    __slots__ = ("ctx", "token")

    def __init__(self, ctx: MessageContext) -> None:
        self.ctx = ctx

    def __enter__(self) -> MessageContext:
        self.token = _CURRENT.set(self.ctx)
        return self.ctx

    def __exit__(self, *exc: object) -> None:
        _CURRENT.reset(self.token)


# False while the dispatcher runs a message on the event loop (`on_loop`).
_MAY_BLOCK: ContextVar[bool] = ContextVar("baikal_may_block", default=True)


class MustBlock(Exception):  # noqa: N818 - a signal to the dispatcher, not an error
    """Raised where handling would block the event loop: run the message in a worker thread."""


def may_block() -> bool:
    """Whether this thread or task may wait (False on the event loop, under `on_loop`)."""
    return _MAY_BLOCK.get()


@contextmanager
def on_loop() -> Iterator[None]:
    """Run a block on the event loop: whatever would block raises `MustBlock` instead."""
    token = _MAY_BLOCK.set(False)
    try:
        yield
    finally:
        _MAY_BLOCK.reset(token)


def for_event(subject: str, event_id: str, correlation_id: str | None, actor: Actor
              ) -> MessageContext:
    """The context of a reaction to one event: the event causes what the reaction does."""
    return MessageContext(subject=subject, message_id=event_id, actor=actor,
                          correlation_id=correlation_id or event_id, causation_id=event_id)
