"""Read models that follow their service's own notification log."""

from __future__ import annotations

import asyncio
import logging
import threading
from abc import ABC, abstractmethod
from typing import Any

from services.runtime.store import ServiceApplication

CATCH_UP_BATCH = 500
MAX_BATCHES_PER_CALL = 1_000_000
log = logging.getLogger(__name__)


class FollowingView(ABC):
    """In-memory projection, rebuilt from the log at start and advanced after each save.

    It follows the log rather than the saving thread's own events, so several instances
    writing one store converge, and events apply in notification order exactly once.
    Subclasses read under `self.lock`.
    """

    def __init__(self, app: ServiceApplication) -> None:
        self.app = app
        self.position = 0
        self.lock = threading.RLock()
        # Other processes write this store too (set by `ServiceHost.follow`): what this
        # process has not saved itself may be missing until the next catch-up.
        self.others_write = False

    def attach(self) -> None:
        self.catch_up()
        self.app.on_saved(self.advance)

    def advance(self, recordings: list[Any]) -> None:
        """Apply what this process just saved without reading it back, when it directly
        follows the view's position; otherwise (another writer in between) catch up."""
        with self.lock:
            ids = [r.notification.id for r in recordings]
            if not ids or ids[0] != self.position + 1 or ids != list(
                    range(ids[0], ids[0] + len(ids))):
                self.catch_up()
                return
            for recording in recordings:
                self.apply(recording.domain_event)
            self.position = ids[-1]

    def catch_up(self) -> int:
        applied = 0
        with self.lock:
            for _ in range(MAX_BATCHES_PER_CALL):
                batch = self.app.process_recorder.select_notifications(
                    self.position + 1, CATCH_UP_BATCH)
                for notification in batch:
                    self.apply(self.app.mapper.to_domain_event(notification))
                    self.position = notification.id
                applied += len(batch)
                if len(batch) < CATCH_UP_BATCH:
                    break
        return applied

    @abstractmethod
    def apply(self, domain_event: Any) -> None:
        """Fold one stored event into the view."""


class ViewFollower:
    """With several writers on one store, a view learns the others' writes only when its own
    process saves; this catches the views up every `interval` seconds besides (a host
    component: start(js), stop())."""

    def __init__(self, views: list[FollowingView], interval: float) -> None:
        self.views = views
        self.interval = interval
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, js: Any) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="view-follower")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=15)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            for view in self.views:
                try:
                    await asyncio.to_thread(view.catch_up)
                except Exception:  # the store is briefly unavailable: next round retries
                    log.exception("view %s cannot catch up", type(view).__name__)
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
            except TimeoutError:
                pass
