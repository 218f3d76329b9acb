"""Composition root of the scheduler service."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from contracts import scheduler as c
from contracts.permissions import Target
from services.runtime.actors import ActorDirectory
from services.runtime.host import ServiceHost, process_edge, run_service
from services.runtime.permissions import PermissionGuard
from services.runtime.serve import serve
from services.runtime.settings import ServiceSettings
from services.runtime.store import store_env
from services.scheduler.app import Placement
from services.scheduler.handlers import HANDLERS, SchedulerDeps
from services.scheduler.lifecycle import Scheduler
from services.scheduler.mounts import MountAdmission
from services.scheduler.reactions import subscriptions
from services.scheduler.recalc import UsageRecalculator
from services.scheduler.translate import SchedulerTranslator
from services.scheduler.views import AgentRegistry, PolicyBook
from services.scheduler.worker import SchedulerWorker


class SchedulerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BAIKAL_", extra="ignore")

    service: str = "scheduler"
    scheduling_algorithm: str = "fifo"     # fifo | lifo | drf
    agent_selector: str = "dispersed"      # dispersed | concentrated | round-robin
    heartbeat_timeout: float = 40.0
    tick_seconds: float = 0.5
    # RECALCULATE USAGE: stop containers with our labels and no session (off: report them),
    # each agent's time to answer, and a period to run it by itself (0: never; the default).
    recalc_stop_orphans: bool = False
    recalc_agent_timeout: float = 2.0
    recalc_interval_seconds: float = 0.0


def build(settings: SchedulerSettings) -> tuple[ServiceHost, Scheduler]:
    directory, policies = ActorDirectory(), PolicyBook()
    app = Scheduler(store_env(settings, "scheduler"), directory, policies,
                    AgentRegistry(settings.heartbeat_timeout),
                    Placement(settings.scheduling_algorithm, settings.agent_selector))
    app.view.attach()
    guard = directory.guarding(PermissionGuard(
        directory.resolve, owners={Target.SESSION: app.view.owner}))
    recalculator = UsageRecalculator(app, settings.recalc_stop_orphans,
                                     settings.recalc_agent_timeout,
                                     settings.recalc_interval_seconds)
    admission = MountAdmission(settings.request_timeout)
    deps = SchedulerDeps(app, guard, recalculator, admission)
    host = ServiceHost(settings, app, lambda d: serve(d, c.SPECS, HANDLERS, deps),
                       SchedulerTranslator(app), subscriptions(app), guard=guard)
    recalculator.use_registry(host.metrics.registry)
    worker = SchedulerWorker(app, settings.tick_seconds, registry=host.metrics.registry)
    # The worker, the recalculator and the admission send with the host's bus client (as the
    # scheduler, signed with its key).
    host.components += [directory, policies, worker, recalculator, admission]
    return host, app


def main() -> None:
    settings = SchedulerSettings()
    process_edge(settings)
    host, _ = build(settings)
    run_service(host.run_until_signalled(), settings)


if __name__ == "__main__":
    main()
