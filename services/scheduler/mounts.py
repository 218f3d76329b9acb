"""A session's storage folders, decided when the session is requested: storage answers whether
its owner may mount each one, with the folder's host path and read-only or not, before any
placement. A refusal refuses the request; the answer travels in the session to the agent."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from contracts import scheduler as c
from contracts import storage as storage_contract
from contracts.envelope import Actor
from services.runtime.client import BusClient, BusError
from services.scheduler.domain.errors import refuse

log = logging.getLogger(__name__)
ACTOR = Actor(system="scheduler")


def target_of(want: c.FolderMount, name: str) -> str:
    return want.path or f"/home/work/{name}"


class MountAdmission:
    """Started with the host (a component, given the service's bus client): asks storage from
    the command handler's thread through the service's event loop, bounded by `timeout`."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self.bus: BusClient | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def use_bus(self, bus: BusClient) -> None:
        self.bus = bus

    async def start(self, js: Any) -> None:
        self.loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        self.bus = None

    def admit(self, access_key: str, wanted: list[c.FolderMount],
              after: dict[str, int]) -> list[dict[str, Any]]:
        """The mounts as the session records them (folder, folder_id, path, source,
        read_only); `after`: the request's positions, so storage sees what the caller saw
        (a membership just removed, a share just revoked)."""
        if not wanted:
            return []
        if self.loop is None:
            raise refuse("service.unavailable", "the scheduler is not connected yet; retry",
                         service="storage", retryable=True)
        data = {"access_key": access_key, "folders": [w.folder for w in wanted]}
        future = asyncio.run_coroutine_threadsafe(self._ask(data, after), self.loop)
        try:
            admitted = future.result(self.timeout + 1.0)
        except BusError as exc:
            if exc.no_answer:
                raise refuse("service.unavailable", "storage did not answer whether the "
                             "session may mount its folders; retry", service="storage",
                             retryable=True) from None
            if not exc.answered:
                raise
            raise refuse("session.mount_forbidden", f"the session may not mount a folder it "
                         f"names: {exc.message}", field="mounts", reason=exc.code) from None
        return [{"folder": want.folder, "folder_id": got.folder_id,
                 "path": target_of(want, got.name), "source": got.path,
                 "read_only": got.read_only}
                for want, got in zip(wanted, admitted.mounts, strict=True)]

    async def _ask(self, data: dict[str, Any], after: dict[str, int]
                   ) -> storage_contract.MountsAdmitted:
        if self.bus is None:
            raise BusError("service.unavailable", "the scheduler has no bus connection",
                           {"service": "storage"}, answered=False)
        try:
            return await self.bus.query_as(
                storage_contract.MountsAdmitted, storage_contract.Subjects.FOLDER_ADMIT_MOUNTS,
                data, actor=ACTOR, after=after, timeout=self.timeout)
        except BusError as exc:
            if exc.no_answer:
                log.warning("storage did not answer admit-mounts (%s)", exc.code)
            raise
