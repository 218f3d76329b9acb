"""RECALCULATE USAGE: snapshot, replay, ask every live agent, plan, commit in one transaction.

This module runs the stages and talks to the agents; the pure decisions are in
`domain/recalc.py`, what a run reads from and commits to the store in `recalc_store.py`, and
where each run stands in `recalc_progress.py`. See the README ("RECALCULATE USAGE") for
ordering and crash behaviour.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from contracts import agent as agent_contract
from contracts.envelope import Actor
from services.runtime.client import BusClient, BusError
from services.scheduler.domain import recalc as r
from services.scheduler.domain.errors import refuse
from services.scheduler.lifecycle import Scheduler
from services.scheduler.recalc_progress import Progress, RunProgress
from services.scheduler.recalc_store import Snapshot, UsageStore
from services.scheduler.replay import ContainerReplay

log = logging.getLogger(__name__)
ACTOR = Actor(system="scheduler")


class UsageRecalculator:
    """A host component (start/stop) that also serves the recalculate command."""

    def __init__(self, app: Scheduler, stop_orphans: bool = False, agent_timeout: float = 2.0,
                 interval_seconds: float = 0.0,
                 registry: CollectorRegistry | None = None) -> None:
        self.app = app
        self.stop_orphans = stop_orphans
        self.agent_timeout = agent_timeout
        self.interval_seconds = interval_seconds
        # The service's client (the host's, `use_bus`): as the scheduler, with its key (agents
        # verify its system proofs); None without a bus (unit tests).
        self.bus: BusClient | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.replayed = ContainerReplay(app)  # the fold so far, continued by each run
        self.store = UsageStore(app)  # the snapshot before, the commit after
        self.run_progress = RunProgress()  # where each run stands, for `status`
        self.use_registry(registry or CollectorRegistry())

    def use_registry(self, registry: CollectorRegistry) -> None:
        """Metrics: drift found per run (by cause), runs, duration."""
        self.drift_total = Counter("bai_scheduler_usage_drift_total",
                                   "Drifts corrected by RECALCULATE USAGE", ["cause"],
                                   registry=registry)
        self.runs_total = Counter("bai_scheduler_usage_recalculations_total",
                                  "RECALCULATE USAGE runs", registry=registry)
        self.drift_runs = Counter("bai_scheduler_usage_drift_runs_total",
                                  "RECALCULATE USAGE runs that found drift", registry=registry)
        self.last_drift = Gauge("bai_scheduler_usage_last_run_drifts",
                                "Drifts the last RECALCULATE USAGE run corrected",
                                registry=registry)
        self.duration = Histogram("bai_scheduler_usage_recalculation_seconds",
                                  "RECALCULATE USAGE duration", registry=registry,
                                  buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

    def use_bus(self, bus: BusClient) -> None:
        self.bus = bus

    async def start(self, js: Any) -> None:
        self.loop = asyncio.get_running_loop()
        if self.interval_seconds > 0:
            self._task = asyncio.create_task(self._periodic(), name="usage-recalculation")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self.run(f"periodic:{time.time_ns()}")
            except Exception:  # a background edge: logged; the next interval runs again
                log.exception("periodic usage recalculation failed")

    def run_blocking(self, run_id: str, stop_orphans: bool | None,
                     agent_timeout: float | None) -> dict[str, Any]:
        """From a dispatcher thread: run on the service's loop and wait (bounded)."""
        assert self.loop is not None, "the recalculator has not started"
        timeout = agent_timeout or self.agent_timeout
        future = asyncio.run_coroutine_threadsafe(
            self.run(run_id, stop_orphans, timeout), self.loop)
        try:
            return future.result(3 * timeout + 30)
        except FutureTimeout:
            raise refuse("usage.recalculation_timeout", "the recalculation is still running; "
                         "ask again with the same command id for its result") from None

    # ---- one run ---------------------------------------------------------------------------

    async def run(self, run_id: str, stop_orphans: bool | None = None,
                  agent_timeout: float | None = None,
                  progress: Progress | None = None) -> dict[str, Any]:
        """Idempotent per run id: a repeated id (a redelivered command) returns what the
        first committed, and changes nothing. Each stage's progress is kept for `status`."""
        def report(stage: str, done: int, total: int) -> None:
            self.run_progress.note(run_id, stage, done, total)
            if progress is not None:
                progress(stage, done, total)

        async with self._lock:  # one run at a time per process; the store decides across
            prior = await asyncio.to_thread(self.store.prior, run_id)
            if prior is not None:
                return prior
            try:
                result = await self._run(run_id, stop_orphans, agent_timeout, report)
            finally:  # committed, or failed with nothing committed: either way over
                self.run_progress.finish(run_id)
        self._observe(result)
        return result

    async def _run(self, run_id: str, stop_orphans: bool | None, agent_timeout: float | None,
                   report: Progress) -> dict[str, Any]:
        began = time.monotonic()
        report("snapshot", 0, 1)
        snapshot = await asyncio.to_thread(self.store.snapshot)  # before the agents answer
        report("snapshot", 1, 1)
        report("replay", 0, 0)
        replayed = await self.replay(report)
        asked = self._to_ask(snapshot)
        report("agents", 0, len(asked))
        reports = await self.ask(asked, agent_timeout or self.agent_timeout, report)
        # Off the event loop: at scale the plan takes long enough to delay heartbeats.
        report("compare", 0, 1)
        plan = await asyncio.to_thread(r.plan, snapshot.facts, snapshot.ledgers, reports,
                                       replayed)
        stopped: frozenset[tuple[str, str]] = frozenset()
        stop = self.stop_orphans if stop_orphans is None else stop_orphans
        if stop and plan.orphans:
            stopped = await self._stop_orphans(plan.orphans, agent_timeout)
            plan = await asyncio.to_thread(r.plan, snapshot.facts, snapshot.ledgers,
                                           reports, replayed, stopped)
        report("compare", 1, 1)
        unanswered = sorted(a for a, rep in reports.items() if rep is None)
        report("commit", 0, 1)
        result = await asyncio.to_thread(
            self.store.commit, run_id, snapshot, plan, replayed.events, asked, unanswered,
            len(stopped), began)
        report("commit", 1, 1)
        return result

    def _to_ask(self, snapshot: Snapshot) -> list[str]:
        """Every ALIVE agent, every agent a holding session is placed on, and every LOST one
        whose ledger holds something, even if this process has not heard from it since a
        restart: one gone for good is then reported as unanswered, never silently skipped,
        and what it holds is left as tracked. (A ledger of an agent no session names and the
        registry never knew is a phantom: corrected, as before.)"""
        known = self.app.agents.agents
        alive = {a for a, info in known.items() if info["status"] == "ALIVE"}
        placed = {f.agent_id for f in snapshot.facts.values()
                  if f.agent_id and f.status in r.HOLDING}
        lost = {key for (kind, key), entries in snapshot.ledgers.items()
                if kind == "agent" and entries and key in known}
        return sorted(alive | placed | lost)

    def status(self, run_id: str) -> dict[str, Any]:
        """Where a run stands: each stage reached so far (done of total), the current one,
        finished once committed; a run this process never began (or a committed one no
        longer kept) reads `known: false`, or finished when its result is stored."""
        kept = self.run_progress.status(run_id)
        if kept is not None:
            return kept
        done = self.store.prior(run_id) is not None
        return {"run_id": run_id, "known": done, "finished": done, "stage": None,
                "stages": []}

    async def replay(self, progress: Progress | None = None) -> r.Replayed:
        """Every container event of the agents' stream, folded (services/scheduler/replay.py;
        the fold is kept between runs, so a run reads only what was published since)."""
        if self.bus is not None:
            return await self.replayed.from_stream(self.bus.nc, asyncio.to_thread, progress)
        before = self.replayed.fold.events  # no bus (unit tests): the scheduler's own record
        replayed = await asyncio.to_thread(self.replayed.from_store)
        if progress is not None:
            progress("replay", replayed.events - before, replayed.events - before)
        return replayed

    async def ask(self, agents: list[str], timeout: float,
                  progress: Progress | None = None) -> dict[str, dict[str, r.Seen] | None]:
        """Every agent at once, each bounded by `timeout`: None for one that did not answer."""
        done = 0

        async def one(agent_id: str) -> tuple[str, dict[str, r.Seen] | None]:
            nonlocal done
            seen = await self._report(agent_id, timeout)
            done += 1
            if progress is not None:
                progress("agents", done, len(agents))
            return agent_id, seen

        return dict(await asyncio.gather(*(one(a) for a in agents)))

    async def _report(self, agent_id: str, timeout: float) -> dict[str, r.Seen] | None:
        assert self.bus is not None, "the recalculator asks agents only with a bus"
        try:
            listing = await self.bus.query_as(
                agent_contract.RunningReport, agent_contract.report_subject(agent_id),
                agent_contract.ReportRunning().model_dump(), actor=ACTOR, timeout=timeout)
        except BusError as exc:
            if exc.no_answer:
                log.warning("agent %s did not report (%s)", agent_id, exc.code)
                return None
            if not exc.answered:
                raise
            log.warning("agent %s refused its report: %s", agent_id, exc)
            return None
        return {c.session_id: r.Seen(c.session_id, c.state, dict(c.slots), c.container_id)
                for c in listing.containers}

    async def _stop_orphans(self, orphans: list[r.Orphan], timeout: float | None
                            ) -> frozenset[tuple[str, str]]:
        async def one(o: r.Orphan) -> tuple[str, str] | None:
            data = agent_contract.StopContainer(session_id=o.session_id,
                                                reason="recalc-orphan").model_dump()
            assert self.bus is not None, "the recalculator stops orphans only with a bus"
            try:
                reply = await self.bus.command(
                    agent_contract.stop_subject(o.agent_id), data,
                    f"recalc-stop:{o.agent_id}:{o.session_id}", actor=ACTOR,
                    timeout=timeout or self.agent_timeout)
            except BusError as exc:
                if not exc.no_answer:
                    raise
                return None
            state = (reply.data or {}).get("status") if reply.ok else None
            return (o.agent_id, o.session_id) if state in ("exited", "failed", "unknown") \
                else None

        stopped = await asyncio.gather(*(one(o) for o in orphans))
        return frozenset(x for x in stopped if x is not None)

    def _observe(self, result: dict[str, Any]) -> None:
        self.runs_total.inc()
        self.duration.observe(result["duration"])
        self.last_drift.set(result["summary"].get("drifts", 0))
        if result["summary"].get("drifts"):
            self.drift_runs.inc()
        for d in result.get("drifts", []):
            self.drift_total.labels(d["cause"]).inc()


__all__ = ["UsageRecalculator", "Snapshot", "ACTOR"]
