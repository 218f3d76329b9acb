"""The agent's bus handlers for the directed commands and queries `bai.cmd.agent.<agent_id>.*`,
one top-level function per message; `HANDLERS` is the table `services.runtime.serve`
subscribes from `contracts.agent.SPECS` on this node's subjects.

Only trusted system actors get here (the declared needs). Handlers are `async def`: the
dispatcher awaits them on the agent's event loop, where the runtimes (asyncio) work, up to the
command timeout (`Supervisor.answer`); the store's writes go to threads from there.
"""

from __future__ import annotations

from typing import Any

from contracts import agent as c
from services.agent.app import Origin
from services.agent.supervisor import Supervisor
from services.runtime.context import MessageContext
from services.runtime.serve import SpecHandler


def _origin(ctx: MessageContext) -> Origin:
    # The command these changes answer: its events carry its actor and correlation id.
    return Origin(ctx.message_id, ctx.actor, ctx.correlation_id)


async def start_container(supervisor: Supervisor, ctx: MessageContext, p: c.StartContainer
                       ) -> dict[str, Any]:
    return await supervisor.answer(supervisor.start_container(_origin(ctx), p))


async def stop_container(supervisor: Supervisor, ctx: MessageContext, p: c.StopContainer
                      ) -> dict[str, Any]:
    return await supervisor.answer(supervisor.stop_container(_origin(ctx), p))


async def list_containers(supervisor: Supervisor, ctx: MessageContext, q: c.ListContainers
                       ) -> dict[str, Any]:
    return await supervisor.answer(supervisor.list_containers(q))


async def report_running(supervisor: Supervisor, ctx: MessageContext, q: c.ReportRunning
                      ) -> dict[str, Any]:
    return await supervisor.answer(supervisor.report_running())


# Keyed by the spec's subject (with `{agent_id}`); served on this node's subjects.
HANDLERS: dict[str, SpecHandler[Supervisor]] = {
    c.START.subject: start_container,
    c.STOP.subject: stop_container,
    c.LIST.subject: list_containers,
    c.REPORT.subject: report_running,
}
