"""Bus handlers for the directed commands `bai.cmd.agent.<agent_id>.*`: authorize, delegate.

Handlers run in the dispatcher's worker threads; the work runs on the agent's event loop (the
runtimes are asyncio), and the thread waits for it up to the command timeout.
"""

from __future__ import annotations

from typing import Any

from contracts import agent as c
from contracts.envelope import Command, Query
from services.agent.app import Origin
from services.agent.supervisor import Supervisor
from services.runtime.dispatch import Dispatcher


def register(dispatcher: Dispatcher, supervisor: Supervisor) -> None:
    agent_id = supervisor.settings.agent_id

    # The guard lets only trusted system actors through (contracts.agent's needs).
    def start(envelope: Command, payload: c.StartContainer) -> dict[str, Any]:
        origin = Origin(envelope.id, envelope.actor, envelope.correlation_id)
        return supervisor.call(supervisor.start_container(origin, payload))

    def stop(envelope: Command, payload: c.StopContainer) -> dict[str, Any]:
        origin = Origin(envelope.id, envelope.actor, envelope.correlation_id)
        return supervisor.call(supervisor.stop_container(origin, payload))

    def listing(envelope: Query, payload: c.ListContainers) -> dict[str, Any]:
        return supervisor.call(supervisor.list_containers(payload))

    def report(envelope: Query, payload: c.ReportRunning) -> dict[str, Any]:
        return supervisor.call(supervisor.report_running())

    needs = c.command_needs(agent_id)
    dispatcher.command(c.start_subject(agent_id), c.StartContainer, start,
                       needs[c.start_subject(agent_id)])
    dispatcher.command(c.stop_subject(agent_id), c.StopContainer, stop,
                       needs[c.stop_subject(agent_id)])
    needs = c.query_needs(agent_id)
    dispatcher.query(c.list_subject(agent_id), c.ListContainers, listing,
                     needs[c.list_subject(agent_id)])
    dispatcher.query(c.report_subject(agent_id), c.ReportRunning, report,
                     needs[c.report_subject(agent_id)])
