"""RECALCULATE USAGE's replay: every container event the agents published, folded into what
each agent should run now (`domain/recalc.py` `replay`), continuing between runs.

Source: the agents' stream `BAI_EVT_AGENT` itself, read by sequence with direct gets
(services/runtime/reader.py) from its first retained message, so the fold covers every
event still on the stream, also those the scheduler consumed before it kept its own record
of them. The stream is provisioned without limits (no max age, count or size: see
services/runtime/provision.py), so "first retained" is the first ever published; an operator
who limits it must know that a start older than the stream's first message is then unknown to
the replay (a vanished container of such a session reads `container-gone`, not
`exit-event-missing`; the correction itself comes from the agents' reports, not the replay).

Without a bus connection (unit tests, the benchmark's store path) the scheduler's own record
(`ContainerRecord`, saved with each consumed event) is folded instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import nats.errors
from eventsourcing.utils import get_topic

from contracts import subjects
from services.runtime.reader import StoredMsg, StreamReader
from services.scheduler.domain import envelopes
from services.scheduler.domain import recalc as r
from services.scheduler.domain.errors import refuse
from services.scheduler.domain.usage import ContainerRecord
from services.scheduler.lifecycle import Scheduler

STREAM_BATCH = 1000
STORE_BATCH = 1000
MAX_BATCHES = 1_000_000
READ_TIMEOUT = 10.0
_TOPICS = [get_topic(t) for t in (ContainerRecord.Opened, ContainerRecord.Started,
                                   ContainerRecord.Ended)]
Progress = Callable[[str, int, int], None]
Offload = Callable[..., Any]  # asyncio.to_thread, or a direct call


class ContainerReplay:
    """The fold so far and where it stands: a stream sequence (or a store position)."""

    def __init__(self, app: Scheduler) -> None:
        self.app = app
        self.fold = r.Replayed()
        self.sequence = 0  # the last stream message folded
        self._position = 0  # the last store notification folded (no bus)
        self._names: dict[UUID, tuple[str, str]] = {}

    async def from_stream(self, nc: Any, offload: Offload,
                          progress: Progress | None = None) -> r.Replayed:
        """Every message after the last one folded, up to the stream's end as the first
        read finds it (what is published later is the next run's), in batches; each batch
        is decoded and folded off the event loop, and the sequence moves only once folded."""
        reader = StreamReader(nc, subjects.stream("agent"), subjects.events_of("agent"),
                              batch=STREAM_BATCH, timeout=READ_TIMEOUT)
        done, total = 0, 0
        for _ in range(MAX_BATCHES):
            try:
                batch = await reader.fetch(self.sequence)
            except (TimeoutError, nats.errors.Error) as exc:
                raise refuse("usage.replay_unavailable",
                             f"the agents' stream could not be read ({type(exc).__name__}); "
                             "nothing was corrected, run again") from None
            if not batch:
                break
            total = total or len(batch) + batch[-1].pending
            await offload(self._fold_messages, batch)
            done += len(batch)
            if progress is not None:
                progress("replay", min(done, total), total)
            if done >= total or batch[-1].pending == 0:
                break
        return self.fold

    def _fold_messages(self, batch: list[StoredMsg]) -> None:
        r.replay(map(envelopes.container_fact, [m.data for m in batch]), into=self.fold)
        self.sequence = batch[-1].seq

    def from_store(self) -> r.Replayed:
        """The scheduler's own record of the container events, in log order (no bus)."""
        recorder, mapper = self.app.process_recorder, self.app.mapper
        names = self._names

        def facts() -> Iterator[envelopes.Fact]:
            for _ in range(MAX_BATCHES):
                batch = recorder.select_notifications(self._position + 1, STORE_BATCH,
                                                      topics=_TOPICS)
                for notification in batch:
                    e = mapper.to_domain_event(notification)
                    if isinstance(e, ContainerRecord.Opened):  # names the agent and session
                        names[e.originator_id] = (e.agent_id, e.session_id)
                    else:
                        agent, session = names[e.originator_id]
                        started = isinstance(e, ContainerRecord.Started)
                        yield ((r.STARTED, agent, session, dict(e.slots)) if started
                               else (r.ENDED, agent, session, {}))
                    self._position = notification.id  # only once folded
                if len(batch) < STORE_BATCH:
                    return

        return r.replay(facts(), into=self.fold)


__all__ = ["ContainerReplay", "STREAM_BATCH"]
