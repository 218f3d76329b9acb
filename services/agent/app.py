"""AgentApplication: the node's container records (load → decide → save), one per session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.domain import Aggregate

from contracts.agent import ContainerState
from contracts.envelope import Actor
from services.agent.domain.errors import refuse
from services.agent.domain.model import Container, container_key
from services.agent.domain.slots import Allocation
from services.runtime.context import MessageContext, using
from services.runtime.store import Decision, ServiceApplication


@dataclass(frozen=True)
class Origin:
    """The command a change answers: its id keys the change once, and the events the change
    records carry its actor and correlation id, caused by it. The work runs on the agent's
    loop, away from the dispatcher's context, so the origin brings it along. Changes found
    by monitoring (an exit, a restart) have no origin and no trace."""

    command_id: str
    actor: Actor
    correlation_id: str | None = None

    def context(self) -> MessageContext:
        return MessageContext(subject="agent.container", message_id=self.command_id,
                              actor=self.actor,
                              correlation_id=self.correlation_id or self.command_id)


class AgentApplication(ServiceApplication):
    name = "agent"

    def __init__(self, env: dict[str, str] | None = None, agent_id: str = "local") -> None:
        super().__init__(env)
        self.agent_id = agent_id

    def container(self, session_id: str) -> Container | None:
        found = self.find(container_key(self.agent_id, session_id))
        return found if isinstance(found, Container) else None

    def state(self, session_id: str) -> dict[str, Any]:
        container = self.container(session_id)
        if container is None:
            raise refuse("container.not_found", "no container for this session on this agent",
                         session_id=session_id)
        return state_of(container)

    # ---- commands --------------------------------------------------------------------------

    def request(self, session_id: str, runtime: str, image: str, command: list[str],
                access_key: str | None, allocation: Allocation) -> dict[str, Any]:
        """Reserve the allocation before anything runs, so a crash cannot leak it unseen."""
        container = Container(agent_id=self.agent_id, session_id=session_id, runtime=runtime,
                              image=image, command=command, access_key=access_key,
                              allocation=allocation.to_record())
        self.save(container)
        return state_of(container)

    def record_started(self, session_id: str, container_id: str,
                       origin: Origin | None = None) -> dict[str, Any]:
        return self._change(session_id, "start", origin,
                            lambda c: c.mark_started(container_id))

    def record_failed(self, session_id: str, reason: str, detail: str,
                      origin: Origin | None = None) -> dict[str, Any]:
        return self._change(session_id, "fail", origin,
                            lambda c: c.mark_failed(reason, detail))

    def record_stop_requested(self, session_id: str, reason: str) -> dict[str, Any]:
        return self._change(session_id, "stop-request", None, lambda c: c.request_stop(reason))

    def record_exited(self, session_id: str, exit_code: int | None, reason: str,
                      while_agent_down: bool = False,
                      origin: Origin | None = None) -> dict[str, Any]:
        return self._change(session_id, "exit", origin,
                            lambda c: c.mark_exited(exit_code, reason, while_agent_down))

    def record_orphan(self, session_id: str, runtime: str, image: str, access_key: str | None,
                      allocation: Allocation, container_id: str,
                      exit_code: int | None) -> dict[str, Any]:
        container = Container(agent_id=self.agent_id, session_id=session_id, runtime=runtime,
                              image=image, command=[], access_key=access_key,
                              allocation=allocation.to_record())
        container.mark_orphan_removed(container_id, exit_code)
        self.save(container)
        return state_of(container)

    def _change(self, session_id: str, op: str, origin: Origin | None,
                change: Callable[[Container], None]) -> dict[str, Any]:
        def decide() -> Decision:
            container = self.container(session_id)
            if container is None:
                raise refuse("container.not_found", "no container for this session",
                             session_id=session_id)
            change(container)
            changed: list[Aggregate] = [container] if container.pending_events else []
            return Decision(changed, state_of(container))

        if origin is None:
            decision = decide()
            self.save(*decision.aggregates)
            return decision.reply
        # Keyed by session as well: a caller reusing a command id for another session cannot
        # make this refuse after the container already runs.
        key = f"{op}:{session_id}:{origin.command_id}"
        with using(origin.context()):
            return self.execute(key, {"session_id": session_id, "op": op}, decide)


def state_of(container: Container) -> dict[str, Any]:
    allocation = Allocation.from_record(container.allocation)
    return ContainerState(
        agent_id=container.agent_id, session_id=container.session_id,
        status=container.status, container_id=container.container_id,
        slots=allocation.slots(), gpu_devices=allocation.gpu_devices,
        exit_code=container.exit_code, reason=container.reason,
    ).model_dump(mode="json")
