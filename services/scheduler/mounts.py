"""A session's storage folders, decided when the session is requested: storage answers whether
its owner may mount each one, with the folder's host path and read-only or not, before any
placement. A refusal refuses the request; the answer travels in the session to the agent."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import nats.errors
from nats.aio.client import Client

from contracts import scheduler as c
from contracts import storage as storage_contract
from contracts.envelope import Actor, Query, Reply
from services.runtime.proofs import ProofSigner
from services.scheduler.domain.errors import refuse

log = logging.getLogger(__name__)
ACTOR = Actor(system="scheduler")


def target_of(want: c.FolderMount, name: str) -> str:
    return want.path or f"/home/work/{name}"


class MountAdmission:
    """Started with the host (a component): asks storage from the command handler's thread
    through the service's event loop, bounded by `timeout`."""

    def __init__(self, signer: ProofSigner | None, timeout: float = 5.0) -> None:
        self.signer = signer
        self.timeout = timeout
        self.nc: Client | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self, js: Any) -> None:
        self.nc = js._nc
        self.loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        self.nc = None

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
        reply = future.result(self.timeout + 1.0)
        if reply is None:
            raise refuse("service.unavailable", "storage did not answer whether the session "
                         "may mount its folders; retry", service="storage", retryable=True)
        if not reply.ok or reply.data is None:
            code = reply.error.code if reply.error else "storage.error"
            said = reply.error.message if reply.error else code
            raise refuse("session.mount_forbidden", f"the session may not mount a folder it "
                         f"names: {said}", field="mounts", reason=code)
        admitted = storage_contract.MountsAdmitted.model_validate(reply.data)
        return [{"folder": want.folder, "folder_id": got.folder_id,
                 "path": target_of(want, got.name), "source": got.path,
                 "read_only": got.read_only}
                for want, got in zip(wanted, admitted.mounts, strict=True)]

    async def _ask(self, data: dict[str, Any], after: dict[str, int]) -> Reply | None:
        assert self.nc is not None
        proof = self.signer.system_proof(ACTOR.system or "") if self.signer else None
        envelope = Query(actor=ACTOR, data=data, proof=proof, after=after)
        try:
            msg = await self.nc.request(storage_contract.Subjects.FOLDER_ADMIT_MOUNTS,
                                        envelope.model_dump_json().encode(),
                                        timeout=self.timeout)
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
            log.warning("storage did not answer admit-mounts (%s)", type(exc).__name__)
            return None
        return Reply.model_validate_json(msg.data)
