"""The scheduler's loops: heartbeats in, placement, start/stop dispatch to agents, expiry."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter as Counter_
from typing import Any

from nats.aio.msg import Msg
from prometheus_client import CollectorRegistry, Counter, Gauge

from contracts import agent as agent_contract
from contracts import storage as storage_contract
from contracts.envelope import Actor, Reply
from contracts.scheduler import SessionStatus
from services.runtime.client import BusClient, BusError
from services.runtime.traced import caused_by
from services.scheduler.domain.model import PREPARING, RUNNING, SCHEDULED, TERMINATING
from services.scheduler.lifecycle import Scheduler

log = logging.getLogger(__name__)
ACTOR = Actor(system="scheduler")
RESEND_SECONDS = 5.0


class SchedulerWorker:
    """Runs until stopped; each pass is bounded by what is pending at that moment."""

    def __init__(self, app: Scheduler, tick_seconds: float = 0.5,
                 request_timeout: float = 5.0,
                 registry: CollectorRegistry | None = None) -> None:
        self.app = app
        self.tick_seconds = tick_seconds
        self.request_timeout = request_timeout
        self.wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._sent: dict[str, float] = {}  # session id -> when start/stop was last sent
        self._tasks: list[asyncio.Task[None]] = []
        # The service's client (the host's, `use_bus`): as the scheduler, with its key (agents
        # verify its system proofs), no positions.
        self.bus: BusClient | None = None
        self.placements = 0
        registry = registry or CollectorRegistry()
        self.sessions_gauge = Gauge("bai_scheduler_sessions", "Sessions by status", ["status"],
                                    registry=registry)
        self.agents_gauge = Gauge("bai_scheduler_agents", "Agents by status", ["status"],
                                  registry=registry)
        self.placed_total = Counter("bai_scheduler_placements_total", "Sessions placed",
                                    registry=registry)

    def use_bus(self, bus: BusClient) -> None:
        self.bus = bus

    async def start(self, js: Any) -> None:
        assert self.bus is not None, "the host hands the worker its bus client first"
        await self.bus.nc.subscribe(agent_contract.HEARTBEATS, cb=self._on_heartbeat)
        loop = asyncio.get_running_loop()
        self.app.on_saved(lambda recordings: loop.call_soon_threadsafe(self.wake.set))
        self._tasks = [asyncio.create_task(self._run(), name="scheduler-loop")]

    async def stop(self) -> None:
        self._stopping.set()
        self.wake.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_heartbeat(self, msg: Msg) -> None:
        try:
            beat = json.loads(msg.data)
            beat["agent_id"] = msg.subject.rsplit(".", 1)[-1]  # trust the subject, not the body
        except ValueError:
            log.warning("unreadable heartbeat on %s", msg.subject)
            return
        if self.app.agents.heartbeat(beat):
            log.info("agent %s is alive", beat["agent_id"])
            self.wake.set()

    async def _run(self) -> None:
        # The agents stored sessions are placed on are expected to beat within the heartbeat
        # timeout; one that died while this scheduler was down becomes LOST then.
        placed = await asyncio.to_thread(
            self.app.view.by_status, SCHEDULED, PREPARING, RUNNING, TERMINATING)
        self.app.agents.expect(row["agent_id"] for row in placed if row.get("agent_id"))
        last_expiry = 0.0
        while not self._stopping.is_set():
            expire = time.monotonic() - last_expiry > 2.0
            if expire:
                last_expiry = time.monotonic()
            try:
                await self.pass_once(expire=expire)
            except Exception:
                log.exception("scheduler pass failed; retrying next tick")
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=self.tick_seconds)
            except TimeoutError:
                pass
            self.wake.clear()

    async def pass_once(self, expire: bool = True) -> None:
        for agent_id in self.app.agents.expire():
            log.warning("agent %s is LOST", agent_id)
            await asyncio.to_thread(self.app.agent_lost, agent_id)
        placed = await asyncio.to_thread(self.app.schedule_once)
        self.placements += len(placed)
        self.placed_total.inc(len(placed))
        self._observe()
        if expire:
            await asyncio.to_thread(self.app.expire_idle)
        await self._dispatch()

    def _observe(self) -> None:
        with self.app.view.lock:
            counts = Counter_(r["status"] for r in self.app.view.sessions.values())
        for status in SessionStatus:
            self.sessions_gauge.labels(status).set(counts.get(status, 0))
        agents = Counter_(a["status"] for a in self.app.agents.agents.values())
        for status in ("ALIVE", "LOST"):
            self.agents_gauge.labels(status).set(agents.get(status, 0))

    async def _dispatch(self) -> None:
        now = time.monotonic()
        rows = self.app.view.by_status(SCHEDULED, PREPARING, TERMINATING)
        due = [r for r in rows if now - self._sent.get(r["session_id"], 0) > RESEND_SECONDS
               and not (r["status"] == PREPARING)]
        await asyncio.gather(*(self._send(r) for r in due))

    async def _send(self, row: dict[str, Any]) -> None:
        self._sent[row["session_id"]] = time.monotonic()
        if row["status"] == SCHEDULED:
            await self._start(row)
        else:
            await self._stop(row)

    async def _start(self, row: dict[str, Any]) -> None:
        session = self.app.session(row["session_id"])
        mounts = await self._mounts(row, session)
        if mounts is None:
            return
        data = agent_contract.StartContainer(
            session_id=row["session_id"], image=row["image"],
            command=session.command, slots=row["slots"], mounts=mounts,
            access_key=row["access_key"], labels={"ai.baikal.session-name": row["name"]})
        reply = await self._request(agent_contract.start_subject(row["agent_id"]),
                                    f"start:{row['session_id']}", data.model_dump(), session)
        if reply is None:
            return
        if reply.ok:
            await asyncio.to_thread(self.app.mark_preparing, row["session_id"])
        else:
            assert reply.error is not None
            await asyncio.to_thread(self.app.fail, row["session_id"],
                                    f"start-refused: {reply.error.code}")

    async def _mounts(self, row: dict[str, Any], session: Any
                      ) -> list[agent_contract.Mount] | None:
        """Storage decided at admission whether the owner may mount each folder and how
        (`folder_id`, `source`, `read_only` in the session); now it holds each one for the
        session (no trash or purge until the session ends), checking again: a refusal fails
        the session, no answer retries later. Read-only if either answer says so."""
        mounts = []
        for want in getattr(session, "mounts", []):
            data = {"folder": want.get("folder_id") or want["folder"],
                    "access_key": row["access_key"], "session_id": row["session_id"]}
            reply = await self._request(storage_contract.Subjects.FOLDER_MOUNT,
                                        f"mount:{row['session_id']}:{want['folder']}", data,
                                        session)
            if reply is None:
                return None  # storage did not answer: the next round retries
            if not reply.ok or reply.data is None:
                code = reply.error.code if reply.error else "storage.error"
                await asyncio.to_thread(self.app.fail, row["session_id"],
                                        f"mount-refused: {code}")
                return None
            target = want.get("path") or f"/home/work/{reply.data['name']}"
            read_only = bool(reply.data["read_only"]) or bool(want.get("read_only", False))
            mounts.append(agent_contract.Mount(source=want.get("source") or reply.data["path"],
                                               target=target, read_only=read_only))
        return mounts

    async def _stop(self, row: dict[str, Any]) -> None:
        data = agent_contract.StopContainer(session_id=row["session_id"], reason=row["reason"])
        reply = await self._request(agent_contract.stop_subject(row["agent_id"]),
                                    f"stop:{row['session_id']}:{int(time.time())}",
                                    data.model_dump(), self.app.session(row["session_id"]))
        status = (reply.data or {}).get("status") if reply is not None and reply.ok else None
        if status == "unknown":  # the agent never had it (or forgot it): nothing to wait for
            await asyncio.to_thread(self.app.finish, row["session_id"], "container-unknown")

    async def _request(self, subject: str, command_id: str, data: dict[str, Any],
                       session: Any) -> Reply | None:
        """A command on the session's behalf: in its chain (its correlation id), caused by
        its last event (the placement for a start, the termination for a stop)."""
        assert self.bus is not None
        cause = caused_by(session, self.app.name, ACTOR)
        try:
            return await self.bus.command(subject, data, command_id, actor=ACTOR,
                                          correlation_id=cause.correlation_id,
                                          causation_id=cause.message_id,
                                          timeout=self.request_timeout)
        except BusError as exc:
            if not exc.no_answer:
                raise
            log.warning("no answer to %s (%s); will retry", subject, exc.code)
            return None
