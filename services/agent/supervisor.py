"""The node's container supervisor: allocate, start and stop through the runtime, record exits.

Every change to one session's container happens under that session's lock, so a start, a stop,
an exit notice and a sweep never interleave; allocation happens under one node-wide lock, so
two starts never take the same free slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import time
from collections.abc import AsyncIterator, Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from contracts import agent as c
from services.agent import reconcile
from services.agent.app import AgentApplication, Origin
from services.agent.domain.errors import refuse
from services.agent.domain.labels import ACCESS_KEY, LabelScheme
from services.agent.domain.model import RUNNING, Container, exit_reason
from services.agent.domain.mps import mps_environ, visible_devices
from services.agent.domain.slots import (
    Allocation,
    Device,
    NodeCapacity,
    allocate,
    fmt,
    parse_request,
    slot_use,
    usable_capacity,
)
from services.agent.gpu import NvmlProbe
from services.agent.metrics import AgentMetrics
from services.agent.mps import MpsControl
from services.agent.runtimes.base import ExitNotice, LaunchError, LaunchSpec, Observed, Runtime
from services.agent.settings import AgentSettings
from services.agent.views import ContainerView, LiveContainer

log = logging.getLogger(__name__)
GPU_ENV_PREFIXES = ("NVIDIA_", "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "CUDA_MPS_")


def _log_late_failure(task: asyncio.Task[dict[str, Any]]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a command's work failed after its caller timed out: %r", task.exception())


class Supervisor:
    def __init__(self, settings: AgentSettings, app: AgentApplication, view: ContainerView,
                 runtime: Runtime, probe: NvmlProbe, mps: MpsControl,
                 metrics: AgentMetrics, version: str) -> None:
        self.settings = settings
        self.app = app
        self.view = view
        self.runtime = runtime
        self.probe = probe
        self.mps = mps
        self.metrics = metrics
        self.version = version
        self.labels: LabelScheme = runtime.labels
        self.capacity = NodeCapacity(cpu=Decimal(0), mem=0, cores=())
        self.gpus: list[c.GpuInfo] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._allocating = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._working: set[asyncio.Task[dict[str, Any]]] = set()  # commands' work (`answer`)

    # ---- component lifecycle (ServiceHost calls start before the dispatcher listens) --------

    async def start(self, js: Any = None) -> None:
        self.loop = asyncio.get_running_loop()
        await self.runtime.open()
        self.capacity = await self.discover()
        summary: dict[str, int] | str = "at the first sweep"
        if self.settings.reconcile_at_start:
            summary = await reconcile.at_start(self)
        log.info("agent %s (%s) ready: capacity %s, reconciled %s", self.settings.agent_id,
                 self.runtime.kind, self.capacity.slots(), summary)
        self._tasks = [asyncio.create_task(self._consume_exits(), name="agent-exits"),
                       asyncio.create_task(self._sweep_loop(), name="agent-sweep")]
        self.update_metrics()

    async def stop(self) -> None:
        """Containers keep running: a restarted agent adopts them."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.runtime.close()
        await asyncio.to_thread(self.probe.close)

    async def discover(self) -> NodeCapacity:
        host = await self.runtime.resources()
        self.gpus = await asyncio.to_thread(self.probe.discover)
        s = self.settings
        return usable_capacity(
            s.capacity_cpu or Decimal(len(host.cores)), host.cores,
            s.capacity_mem or host.mem_bytes, s.reserved_cpu, s.reserved_mem,
            [Device(g.index, g.memory_bytes) for g in self.gpus],
            s.cuda_shares_per_device, s.cuda_share_quantum)

    def healthy(self) -> dict[str, Any]:
        sandbox = getattr(self.runtime, "sandbox", None)  # the process runtime's isolation
        return {"ok": self.runtime.healthy, "runtime": self.runtime.kind.value,
                "running": len(self.view.running()),
                **({"isolation": sandbox.status()} if sandbox is not None else {})}

    async def answer(self, work: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
        """A command's work, awaited on the agent's loop (where the dispatcher awaits its
        handler) up to the command timeout. Past it the work goes on (shielded, held in
        `_working`; a failure then has no caller, so it is logged) and the caller is told to
        ask again."""
        task = asyncio.ensure_future(work)
        self._working.add(task)
        task.add_done_callback(self._working.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(task),
                                          self.settings.command_timeout_seconds)
        except TimeoutError:
            task.add_done_callback(_log_late_failure)
            raise refuse("command.timeout", "the agent is still working on it; ask again with "
                         "the same session id for its state") from None

    @contextlib.asynccontextmanager
    async def session_lock(self, session_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            yield

    # ---- commands ----------------------------------------------------------------------------

    async def start_container(self, origin: Origin, p: c.StartContainer) -> dict[str, Any]:
        began = time.perf_counter()
        async with self.session_lock(p.session_id):
            known = await asyncio.to_thread(self.app.container, p.session_id)
            if known is not None:  # idempotent by session: the existing state, nothing new
                return await asyncio.to_thread(self.app.state, p.session_id)
            request = parse_request(p.slots, self.settings.cuda_share_quantum)
            async with self._allocating:
                allocation = allocate(self.capacity, self.view.allocations(), request)
                await asyncio.to_thread(self.app.request, p.session_id, self.runtime.kind.value,
                                        p.image, p.command, self._access_key(p), allocation)
            try:
                spec = await self._spec(p, allocation)
                container_id = await self.runtime.launch(spec)
            except LaunchError as exc:
                self.metrics.starts(exc.reason).inc()
                log.warning("session %s failed to start: %s", p.session_id, exc)
                return await asyncio.to_thread(self.app.record_failed, p.session_id,
                                               exc.reason, exc.detail, origin)
            except Exception as exc:
                # Unexpected: release the slots (a container that did start is then removed
                # by the sweep as a leftover), and fail loudly.
                await asyncio.to_thread(self.app.record_failed, p.session_id, "agent-error",
                                        f"{type(exc).__name__}: {exc}", origin)
                raise
            state = await asyncio.to_thread(self.app.record_started, p.session_id,
                                            container_id, origin)
        self.metrics.starts("started").inc()
        self.metrics.start_seconds.observe(time.perf_counter() - began)
        self.update_metrics()
        return state

    async def _spec(self, p: c.StartContainer, allocation: Allocation) -> LaunchSpec:
        # A session cannot choose its own GPUs or MPS limits: those variables are the agent's.
        environ = {k: v for k, v in p.environ.items() if not k.startswith(GPU_ENV_PREFIXES)}
        if self.capacity.devices:
            environ |= visible_devices(allocation, renumbered=self.runtime.renumbers_gpus())
            if not allocation.gpu_devices and self.runtime.renumbers_gpus():
                environ["NVIDIA_VISIBLE_DEVICES"] = "void"  # nvidia as default runtime: none
        if allocation.shares:
            await self.mps.ensure_started()
            memory = {d.index: d.memory_bytes for d in self.capacity.devices}
            environ |= mps_environ(allocation, memory, self.settings.cuda_shares_per_device)
            environ |= self.mps.client_environ()
        uuids = {g.index: g.uuid for g in self.gpus}
        return LaunchSpec(
            session_id=p.session_id, name=self.labels.container_name(p.session_id),
            image=p.image, command=list(p.command), environ=environ,
            labels=self.labels.labels(p.session_id, self._access_key(p), allocation.slots(),
                                      allocation.gpu_devices, p.labels),
            network=p.network, allocation=allocation,
            gpu_uuids=[uuids[i] for i in allocation.gpu_devices if i in uuids],
            mounts=[(m.source, m.target, m.read_only) for m in p.mounts])

    def _access_key(self, p: c.StartContainer) -> str | None:
        """The field, else the caller's access-key label (an older scheduler's way)."""
        return p.access_key or p.labels.get(self.labels.key(ACCESS_KEY))

    async def stop_container(self, origin: Origin, p: c.StopContainer) -> dict[str, Any]:
        async with self.session_lock(p.session_id):
            container = await asyncio.to_thread(self.app.container, p.session_id)
            if container is not None and container.status == RUNNING:
                return await self._stop_running(origin, p, container)
        # Not running by the store: a labelled container the engine still runs for it (an
        # orphan RECALCULATE USAGE asks to stop) is stopped, removed and reported as a stray.
        for observed in await self.runtime.containers():
            if observed.session_id == p.session_id and observed.running:
                await reconcile.handle_stray(self, observed)
        if await asyncio.to_thread(self.app.container, p.session_id) is None:
            # nothing runs here for it: the stop holds already
            return c.ContainerState(agent_id=self.settings.agent_id, session_id=p.session_id,
                                    status=c.ContainerStatus.UNKNOWN).model_dump(mode="json")
        return await asyncio.to_thread(self.app.state, p.session_id)  # ended: a no-op

    async def _stop_running(self, origin: Origin, p: c.StopContainer,
                            container: Container) -> dict[str, Any]:
        """The caller holds the session's lock."""
        await asyncio.to_thread(self.app.record_stop_requested, p.session_id, p.reason)
        assert container.container_id is not None
        observed = await self.runtime.stop(container.container_id,
                                           self.settings.stop_grace_seconds)
        if observed is not None and observed.running:
            raise refuse("container.stop_failed", "the container is still running",
                         session_id=p.session_id)
        live = self.view.get(p.session_id)
        assert live is not None
        return await self.record_exit(live, observed, origin=origin)

    async def list_containers(self, p: c.ListContainers) -> dict[str, Any]:
        listed = []
        for o in await self.runtime.containers():
            if not (o.running or p.include_exited):
                continue
            known = await asyncio.to_thread(self.app.container, o.session_id) is not None
            listed.append(c.ListedContainer(
                session_id=o.session_id, container_id=o.container_id, running=o.running,
                slots=self.labels.slots_of(o.labels), known=known,
                access_key=self.labels.access_key_of(o.labels)))
        return c.ContainerListing(agent_id=self.settings.agent_id, runtime=self.runtime.kind,
                                  containers=listed).model_dump(mode="json")

    async def report_running(self) -> dict[str, Any]:
        """What really holds this node's resources, for RECALCULATE USAGE: the engine's running
        labelled containers (slots from their labels), then the starts recorded in the store
        and not yet running (their slots are already allocated here)."""
        engine = [o for o in await self.runtime.containers() if o.running]
        reported = []
        for o in engine:
            live = self.view.get(o.session_id)
            reported.append(c.ReportedContainer(
                session_id=o.session_id, container_id=o.container_id, state="running",
                slots=self.labels.slots_of(o.labels), known=live is not None,
                access_key=self.labels.access_key_of(o.labels)))
        running = {o.session_id for o in engine}
        for live in self.view.live():
            if live.session_id not in running and live.status != RUNNING:
                reported.append(c.ReportedContainer(
                    session_id=live.session_id, container_id=live.container_id,
                    state="starting", slots=live.allocation.slots(), known=True,
                    access_key=live.access_key))
        return c.RunningReport(agent_id=self.settings.agent_id, runtime=self.runtime.kind,
                               reported_at=datetime.now(UTC), capacity=self.capacity.slots(),
                               containers=reported).model_dump(mode="json")

    # ---- exits -------------------------------------------------------------------------------

    async def _consume_exits(self) -> None:
        while True:
            notice = await self.runtime.exits.get()
            try:
                await self.handle_exit(notice)
            except Exception:
                # A background edge: the periodic sweep retries what failed here.
                log.exception("recording the exit of %s failed", notice.container_id[:12])

    async def handle_exit(self, notice: ExitNotice) -> None:
        session = notice.session_id or next(
            (x.session_id for x in self.view.running() if x.container_id == notice.container_id),
            None)
        if not session:
            return
        async with self.session_lock(session):
            live = self.view.get(session)
            if live is None or live.status != RUNNING or live.container_id != notice.container_id:
                return  # already recorded, or another container of the session
            observed = await self.runtime.inspect(notice.container_id)
            if observed is not None and observed.running:
                return
            await self.record_exit(live, observed or notice.hint)

    async def record_exit(self, live: LiveContainer, observed: Observed | None,
                          while_agent_down: bool = False,
                          origin: Origin | None = None) -> dict[str, Any]:
        """Record how it ended (caller holds the session lock), then remove it from the engine."""
        if observed is None or (while_agent_down and observed.exit_code is None
                                and not observed.oom_killed):  # gone without a trace
            gone = c.ExitReason.LOST_WHILE_AGENT_DOWN if while_agent_down else c.ExitReason.KILLED
            code, reason = None, live.stop_reason or gone.value
        else:
            code = observed.exit_code
            reason = exit_reason(stop_reason=live.stop_reason, oom_killed=observed.oom_killed,
                                 signalled=observed.signalled)
        state = await asyncio.to_thread(self.app.record_exited, live.session_id, code, reason,
                                        while_agent_down, origin)
        self.metrics.exits(reason).inc()
        log.info("session %s exited (%s, code %s)", live.session_id, reason, code)
        if live.container_id:  # the runtime keeps what BAIKAL_KEEP_EXITED asks it to
            await self.runtime.remove(live.container_id)
        self.update_metrics()
        return state

    async def _sweep_loop(self) -> None:
        pending_start = not self.settings.reconcile_at_start
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            try:
                if pending_start:  # the comparison left out at start (RECONCILE_AT_START)
                    log.info("reconciled at the first sweep: %s", await reconcile.at_start(self))
                    pending_start = False
                await reconcile.sweep(self)
            except Exception:
                log.exception("sweep failed; retrying at the next interval")
            self._locks = {k: v for k, v in self._locks.items()
                           if v.locked() or self.view.get(k) is not None}

    # ---- heartbeat and metrics ---------------------------------------------------------------

    async def refresh_gpus(self) -> None:
        self.gpus = await asyncio.to_thread(self.probe.sample, self.gpus)
        self.metrics.gpus(self.gpus)

    def update_metrics(self) -> None:
        self.metrics.slots(slot_use(self.capacity, self.view.allocations()),
                           len(self.view.running()))

    def heartbeat(self) -> c.Heartbeat:
        s = self.settings
        running = [c.RunningContainer(session_id=x.session_id, container_id=x.container_id or "",
                                      slots=x.allocation.slots(), access_key=x.access_key,
                                      gpu_devices=x.allocation.gpu_devices)
                   for x in self.view.running()]
        use = slot_use(self.capacity, self.view.allocations())
        return c.Heartbeat(
            agent_id=s.agent_id, runtime=self.runtime.kind, version=self.version,
            architecture=platform.machine(), capacity=use.capacity, gpus=self.gpus,
            containers=running, interval_seconds=s.heartbeat_seconds,
            sent_at=datetime.now(UTC), occupied=use.occupied,
            reserved={"cpu": fmt(s.reserved_cpu), "mem": fmt(s.reserved_mem)})
