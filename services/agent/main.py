"""Composition root of the agent service (one process per node)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from contracts import agent as c
from contracts.envelope import Actor
from services.agent.app import AgentApplication
from services.agent.domain.labels import LabelScheme
from services.agent.gpu import NvmlProbe
from services.agent.handlers import HANDLERS
from services.agent.heartbeat import HeartbeatPublisher
from services.agent.metrics import AgentMetrics
from services.agent.mps import MpsControl
from services.agent.reactions import subscriptions
from services.agent.runtimes.base import Runtime
from services.agent.runtimes.docker import DockerRuntime, engine_answers
from services.agent.runtimes.process import ProcessRuntime
from services.agent.runtimes.sandbox import Sandbox
from services.agent.runtimes.simulated import SimulatedRuntime
from services.agent.settings import AgentSettings
from services.agent.supervisor import Supervisor
from services.agent.translate import AgentTranslator
from services.agent.views import ContainerView
from services.runtime.errors import Unauthenticated
from services.runtime.host import ServiceHost, process_edge, run_service
from services.runtime.permissions import PermissionGuard
from services.runtime.serve import serve as serve_specs
from services.runtime.store import store_env

__all__ = ["AgentSettings", "AgentNode", "build", "main"]
log = logging.getLogger(__name__)


def version() -> str:
    try:
        return metadata.version("baikal")
    except metadata.PackageNotFoundError:
        return "0.1.0"


@dataclass
class AgentNode:
    host: ServiceHost
    supervisor: Supervisor
    heartbeat: HeartbeatPublisher

    async def start(self) -> None:
        await self.host.start()

    async def stop(self) -> None:
        await self.host.stop()


async def make_runtime(settings: AgentSettings) -> Runtime:
    labels = LabelScheme(settings.label_prefix, settings.agent_id, settings.stack_id)
    kind = settings.runtime
    if kind == "auto":
        kind = "docker" if await engine_answers(settings.docker_host) else "process"
        log.info("runtime auto: %s", kind)
    if kind == "docker":
        return DockerRuntime(labels, settings.docker_host, settings.network_mode,
                             settings.docker_init, settings.mps_pipe_dir, settings.keep_exited)
    if kind == "process":
        sandbox = Sandbox.detect(settings.process_session_uid, settings.process_session_gid,
                                 settings.sandbox_ro_paths)
        return ProcessRuntime(labels, settings.data_dir / "agent" / settings.agent_id,
                              settings.process_cgroups, settings.keep_exited,
                              settings.inherited_env, sandbox)
    return SimulatedRuntime(labels)


def _no_users(actor: Actor) -> Any:
    raise Unauthenticated("agents take commands from trusted system actors only")


async def build(settings: AgentSettings, nvml: Any | None = None,
                runtime: Runtime | None = None) -> AgentNode:
    """`nvml`: an NVML module to use instead of `pynvml` (tests hand in a fake)."""
    runtime = runtime or await make_runtime(settings)
    app = AgentApplication(store_env(settings, settings.store_name), settings.agent_id)
    view = ContainerView(app)
    view.attach()
    host = ServiceHost(settings, app, lambda dispatcher: None,
                       AgentTranslator(app, settings.agent_id), subscriptions(), version(),
                       relay_subject_filter=c.agent_events(settings.agent_id),
                       guard=PermissionGuard(_no_users, settings.trusted, follow_grants=False))
    supervisor = Supervisor(
        settings, app, view, runtime, NvmlProbe(nvml),
        MpsControl(settings.mps_control, settings.mps_pipe_dir, settings.mps_log_dir),
        AgentMetrics(host.metrics.registry), version())
    # Routes subscribe when the host starts.
    serve_specs(host.dispatcher, c.SPECS, HANDLERS, supervisor, agent_id=settings.agent_id)
    heartbeat = HeartbeatPublisher(supervisor, lambda: host.nc, settings.heartbeat_seconds)
    host.components += [supervisor, heartbeat]  # reconcile before the dispatcher listens
    host.health.add_check("runtime", supervisor.healthy)
    return AgentNode(host, supervisor, heartbeat)


async def serve(settings: AgentSettings) -> None:
    node = await build(settings)
    await node.host.run_until_signalled()


def main() -> None:
    settings = AgentSettings()
    process_edge(settings)
    run_service(serve(settings), settings)


if __name__ == "__main__":
    main()
