"""Store vs engine: at restart (adopt, report what ended meanwhile) and periodically (sweep).

Rules, per session, under its lock:
- store running, engine running → adopted; nothing is published again.
- store running, engine exited → ContainerExited with the engine's code and reason, flagged
  `while_agent_down`; store running, engine has nothing → ContainerExited lost-while-agent-down.
- store requested (the agent died mid-start) → engine running: ContainerStarted (adopted);
  ran and ended: ContainerStarted then ContainerExited; never started or absent: ContainerFailed.
- engine container labelled for this agent whose session the store never requested → stopped,
  removed and reported as ContainerExited orphan-removed (its slots are not accounted for, so
  it must not keep running); one whose session already ended → removed silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any, Protocol

from contracts.agent import ExitReason
from services.agent.app import AgentApplication
from services.agent.domain.labels import GPU_DEVICES, LabelScheme
from services.agent.domain.model import REQUESTED, RUNNING
from services.agent.domain.slots import CPU, MEM, Allocation
from services.agent.metrics import AgentMetrics
from services.agent.runtimes.base import ExitNotice, Observed, Runtime
from services.agent.settings import AgentSettings
from services.agent.views import ContainerView, LiveContainer

log = logging.getLogger(__name__)
RESTARTED_DURING_START = "agent-restarted-during-start"


class Supervisor(Protocol):
    """What reconciling needs of the agent's supervisor (services.agent.supervisor), which
    calls these functions: declared here so that neither module imports the other."""

    settings: AgentSettings
    app: AgentApplication
    view: ContainerView
    runtime: Runtime
    metrics: AgentMetrics
    labels: LabelScheme

    def session_lock(self, session_id: str) -> AbstractAsyncContextManager[None]: ...

    async def record_exit(self, live: LiveContainer, observed: Observed | None,
                          while_agent_down: bool = False) -> dict[str, Any]: ...

    async def handle_exit(self, notice: ExitNotice) -> None: ...

    def update_metrics(self) -> None: ...


async def at_start(sup: Supervisor) -> dict[str, int]:
    """Make the store agree with the engine before any command is accepted."""
    engine = {o.session_id: o for o in await sup.runtime.containers()}
    outcome: Counter[str] = Counter()
    for live in sup.view.live():
        observed = engine.pop(live.session_id, None)
        async with sup.session_lock(live.session_id):
            outcome[await _settle(sup, live, observed)] += 1
    for observed in engine.values():
        outcome[await handle_stray(sup, observed)] += 1
    return dict(outcome)


async def _settle(sup: Supervisor, live: LiveContainer, observed: Observed | None) -> str:
    if observed is not None and live.status == RUNNING \
            and observed.container_id != live.container_id:
        await sup.runtime.remove(observed.container_id)  # not the one this store started
        observed = None
    if live.status == REQUESTED:
        return await _settle_requested(sup, live, observed)
    if observed is not None and observed.running:
        await sup.runtime.adopt(observed)
        return "adopted"
    await sup.record_exit(live, observed, while_agent_down=True)
    return "exited-while-down"


async def _settle_requested(sup: Supervisor, live: LiveContainer,
                            observed: Observed | None) -> str:
    app, session = sup.app, live.session_id
    if observed is None or not observed.ever_started:
        if observed is not None:
            await sup.runtime.remove(observed.container_id)
        await asyncio.to_thread(app.record_failed, session, RESTARTED_DURING_START,
                         "the agent stopped before the container started")
        return "failed-during-start"
    await asyncio.to_thread(app.record_started, session, observed.container_id)
    if observed.running:
        await sup.runtime.adopt(observed)
        return "adopted"
    started = sup.view.get(session)
    assert started is not None
    await sup.record_exit(started, observed, while_agent_down=True)
    return "exited-while-down"


async def handle_stray(sup: Supervisor, observed: Observed) -> str:
    """A labelled container the store has no live record of."""
    session = observed.session_id
    async with sup.session_lock(session):
        if sup.view.get(session) is not None:
            return "in-progress"  # started meanwhile: not a stray
        known = await asyncio.to_thread(sup.app.container, session)
        if known is not None:  # its end is recorded: it must not run on, unaccounted
            if observed.running or not sup.settings.keep_exited:
                await sup.runtime.remove(observed.container_id)
            return "leftover-removed"
        final = observed
        if observed.running:
            final = await sup.runtime.stop(observed.container_id, sup.settings.stop_grace_seconds) \
                or observed
        await asyncio.to_thread(sup.app.record_orphan, session, sup.runtime.kind.value, "",
                         sup.labels.access_key_of(observed.labels),
                         _allocation_from_labels(sup, observed), observed.container_id,
                         final.exit_code)
        await sup.runtime.remove(observed.container_id)
        sup.metrics.exits(ExitReason.ORPHAN_REMOVED.value).inc()
        log.warning("removed orphan container %s of session %s", observed.container_id[:12],
                    session)
        return "orphan-removed"


def _allocation_from_labels(sup: Supervisor, observed: Observed) -> Allocation:
    slots = sup.labels.slots_of(observed.labels)
    devices = observed.labels.get(sup.labels.key(GPU_DEVICES), "")
    return Allocation(Decimal(slots.get(CPU, "0")), int(Decimal(slots.get(MEM, "0"))),
                      tuple(int(i) for i in devices.split(",") if i.isdigit()))


async def sweep(sup: Supervisor) -> None:
    """Catch what the exit feed missed (a dropped event stream, an unwatched process)."""
    engine = {o.session_id: o for o in await sup.runtime.containers()}
    for live in sup.view.running():
        observed = engine.get(live.session_id)
        if observed is None or observed.container_id != live.container_id \
                or not observed.running:
            mine = observed if observed and observed.container_id == live.container_id else None
            assert live.container_id is not None
            await sup.handle_exit(ExitNotice(live.container_id, live.session_id, mine))
    for session, observed in engine.items():
        if sup.view.get(session) is None and (observed.running or not sup.settings.keep_exited):
            await handle_stray(sup, observed)
    sup.update_metrics()


