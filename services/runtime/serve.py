"""Routes from the specs: each request spec of a service, served by its handler in a table.

A service declares its messages once (`contracts/<svc>.py::SPECS`) and its handlers once, as
top-level functions in a table keyed by the spec's subject (`services/<svc>/handlers/`):
`def update_user(deps, ctx, payload) -> dict`. `serve` subscribes each request spec with the
payload model, the permission and `public` the spec declares and the handler the table names,
with the service's dependency object bound. A spec without a handler, or a handler without a
spec, stops the service at start-up: nothing is served that is not declared, nothing declared
goes unanswered.

A query handler that reads in-memory state only (a view under its lock, the grant index; never
the store, never a wait) is marked `@in_memory`: the dispatcher may run it on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from contracts.permissions import Needs
from contracts.specs import MessageSpec
from services.runtime.context import MessageContext

D = TypeVar("D")
# A handler of one message: the service's dependencies, the message's context (built once by
# the dispatcher: proven actor, message id, correlation), the validated payload.
SpecHandler = Callable[[D, MessageContext, Any], Any]


class Routes(Protocol):
    """What `serve` needs of a dispatcher (services.runtime.dispatch.Dispatcher)."""

    def command(self, subject: str, payload: type[BaseModel],
                handler: Callable[[MessageContext, Any], Any], needs: Needs) -> None: ...

    def query(self, subject: str, payload: type[BaseModel],
              handler: Callable[[MessageContext, Any], Any], needs: Needs | None = None,
              public: bool = False, inline: bool = False) -> None: ...


H = TypeVar("H", bound=Callable[..., Any])


def in_memory(handler: H) -> H:
    """Mark a query handler that reads in-memory state only (see the module's docstring).
    What it calls that could block (the guard's wait for a first role, a view's catch-up)
    raises `context.MustBlock` on the loop, and the dispatcher runs it in a thread instead."""
    handler.in_memory = True  # type: ignore[attr-defined]
    return handler


class UnservedSpecs(RuntimeError):
    """The handler table and the specs disagree: refused at start-up."""


def table(*parts: Mapping[str, SpecHandler[D]]) -> dict[str, SpecHandler[D]]:
    """One service's table from its per-aggregate tables; a subject in two is refused."""
    found: dict[str, SpecHandler[D]] = {}
    for part in parts:
        for subject, handler in part.items():
            if subject in found:
                raise UnservedSpecs(f"{subject} has two handlers")
            found[subject] = handler
    return found


def check(specs: Mapping[str, MessageSpec], handlers: Mapping[str, Any]) -> None:
    """Every request spec has a handler and every handler a request spec."""
    requests = {subject for subject, spec in specs.items() if spec.is_request}
    missing = sorted(requests - set(handlers))
    extra = sorted(set(handlers) - requests)
    if missing or extra:
        raise UnservedSpecs(f"specs without a handler: {missing}; "
                            f"handlers without a request spec: {extra}")
    for subject, handler in handlers.items():
        if not callable(handler):
            raise UnservedSpecs(f"{subject}: the handler is not callable")


def serve(dispatcher: Routes, specs: Mapping[str, MessageSpec],
          handlers: Mapping[str, SpecHandler[D]], deps: D, agent_id: str | None = None
          ) -> None:
    """Subscribe every request spec with its handler (`deps` bound); directed specs (agent)
    on the subjects of `agent_id`."""
    check(specs, handlers)
    for subject, spec in specs.items():
        if not spec.is_request:
            continue
        if spec.directed and agent_id is None:
            raise UnservedSpecs(f"{subject}: a directed spec is served for one agent_id")
        concrete = spec.subject_for(agent_id) if agent_id is not None else subject
        bound = partial(handlers[subject], deps)
        if spec.is_command:
            assert spec.needs is not None  # MessageSpec refuses a command without one
            dispatcher.command(concrete, spec.payload, bound, spec.needs)
        else:
            dispatcher.query(concrete, spec.payload, bound, spec.needs, public=spec.public,
                             inline=getattr(handlers[subject], "in_memory", False))

