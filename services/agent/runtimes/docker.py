"""Docker runtime: containers through aiodocker, with CPU, memory and GPU limits applied."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from typing import Any

import aiodocker
import aiohttp
from aiodocker.events import DockerEvents
from aiodocker.exceptions import DockerError

from contracts.agent import RuntimeKind
from services.agent.domain.labels import SESSION_ID, LabelScheme
from services.agent.domain.model import signalled_exit
from services.agent.mps import DEFAULT_PIPE_DIR
from services.agent.runtimes.base import (
    ExitNotice,
    HostResources,
    LaunchError,
    LaunchSpec,
    Observed,
)

log = logging.getLogger(__name__)

NANO = 10**9
API_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=5)
WATCH_BACKOFF_MAX = 10.0
MPS_PIPE_DIR = DEFAULT_PIPE_DIR


async def engine_answers(docker_host: str | None, timeout: float = 2.0) -> bool:
    """For runtime `auto`: does a Docker engine answer at DOCKER_HOST / the default socket?"""
    try:
        docker = aiodocker.Docker(url=docker_host)
    except (ValueError, AssertionError):
        return False
    try:
        await asyncio.wait_for(docker.version(), timeout)
        return True
    except (DockerError, TimeoutError, OSError, aiohttp.ClientError):
        return False
    finally:
        await docker.close()


class DockerRuntime:
    kind = RuntimeKind.DOCKER

    def __init__(self, labels: LabelScheme, docker_host: str | None = None,
                 network_mode: str = "bridge", init: bool = True,
                 mps_pipe_dir: str | None = None, keep_exited: bool = False) -> None:
        self.labels = labels
        self.keep_exited = keep_exited
        self.docker_host = docker_host
        self.network_mode = network_mode
        self.init = init
        self.mps_pipe_dir = mps_pipe_dir or MPS_PIPE_DIR
        self.exits: asyncio.Queue[ExitNotice] = asyncio.Queue()
        self.healthy = False
        self._docker: aiodocker.Docker | None = None
        self._watch_task: asyncio.Task[None] | None = None

    @property
    def docker(self) -> aiodocker.Docker:
        assert self._docker is not None, "open() first"
        return self._docker

    async def open(self) -> None:
        self._docker = aiodocker.Docker(url=self.docker_host, timeout=API_TIMEOUT)
        await asyncio.wait_for(self.docker.version(), 10)
        # Watch from now, before the restart reconciliation lists containers: an exit between
        # the listing and the watch is then seen twice at most, never missed.
        self._watch_task = asyncio.create_task(self._watch(int(time.time()) - 1),
                                               name="docker-events")

    async def close(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
        if self._docker is not None:
            await self._docker.close()

    def renumbers_gpus(self) -> bool:
        return True

    async def resources(self) -> HostResources:
        info = await self.docker.system.info()
        return HostResources(tuple(range(int(info["NCPU"]))), int(info["MemTotal"]))

    # ---- lifecycle -------------------------------------------------------------------------

    def config(self, spec: LaunchSpec) -> dict[str, Any]:
        a = spec.allocation
        host: dict[str, Any] = {
            "NanoCpus": int(a.cpu * NANO),
            "Memory": a.mem,
            "MemorySwap": a.mem,  # no swap beyond the limit: over it is an OOM kill
            "NetworkMode": self.network_mode if spec.network else "none",
            "Init": self.init,  # PID 1 forwards signals, so a stop ends the command at once
        }
        if a.gpu_devices:
            ids = spec.gpu_uuids or [str(i) for i in a.gpu_devices]
            host["DeviceRequests"] = [{"Driver": "nvidia", "DeviceIDs": ids,
                                       "Capabilities": [["gpu"]]}]
        if a.shares:  # an MPS client talks to the node's daemon through its pipe directory
            host["IpcMode"] = "host"
            host["Binds"] = [f"{self.mps_pipe_dir}:{self.mps_pipe_dir}"]
        if spec.mounts:  # storage folders, read-only unless the owner may write
            host["Binds"] = [*host.get("Binds", []), *(
                f"{source}:{target}:{'ro' if read_only else 'rw'}"
                for source, target, read_only in spec.mounts)]
        config: dict[str, Any] = {
            "Image": spec.image,
            "Env": [f"{k}={v}" for k, v in spec.environ.items()],
            "Labels": spec.labels,
            "HostConfig": host,
        }
        if spec.command:
            config["Cmd"] = spec.command
        return config

    async def launch(self, spec: LaunchSpec) -> str:
        try:
            container = await self.docker.containers.create(self.config(spec), name=spec.name)
        except DockerError as exc:
            reason = {404: "image-not-found", 409: "name-conflict"}.get(exc.status,
                                                                         "create-failed")
            raise LaunchError(reason, str(exc.message)) from exc
        except TimeoutError as exc:
            raise LaunchError("create-failed", "the engine did not answer in time") from exc
        try:
            await container.start()
        except (DockerError, TimeoutError) as exc:
            await self.remove(container.id, force=True)
            raise LaunchError("start-failed", str(getattr(exc, "message", exc))) from exc
        return str(container.id)

    async def stop(self, container_id: str, grace: float) -> Observed | None:
        container = self.docker.containers.container(container_id)
        try:
            await container.stop(t=math.ceil(grace),
                                 timeout=aiohttp.ClientTimeout(total=grace + 30, connect=5))
        except DockerError as exc:
            if exc.status == 404:
                return None
            raise
        return await self.inspect(container_id)

    async def inspect(self, container_id: str) -> Observed | None:
        try:
            data = await self.docker.containers.container(container_id).show()
        except DockerError as exc:
            if exc.status == 404:
                return None
            raise
        return self._observed(data["Id"], data["Config"].get("Labels") or {}, data["State"])

    def _observed(self, container_id: str, labels: dict[str, str],
                  state: dict[str, Any]) -> Observed:
        running = bool(state.get("Running")) or state.get("Status") == "paused"
        exit_code = None if running else int(state.get("ExitCode", 0))
        return Observed(
            container_id=container_id, session_id=self.labels.session_of(labels) or "",
            labels=labels, running=running,
            ever_started=not str(state.get("StartedAt", "")).startswith("0001-"),
            exit_code=exit_code, signalled=signalled_exit(exit_code),
            oom_killed=bool(state.get("OOMKilled")),
        )

    async def containers(self) -> list[Observed]:
        filters = json.dumps({"label": [self.labels.agent_filter]})
        found = []
        for item in await self.docker.containers.list(all=True, filters=filters):
            labels = item["Labels"] or {}
            if self.labels.session_of(labels) is None:
                continue
            if item["State"] == "running":
                found.append(self._observed(item.id, labels, {"Running": True}))
                continue
            observed = await self.inspect(item.id)
            if observed is not None:
                found.append(observed)
        return found

    async def remove(self, container_id: str, force: bool = False) -> None:
        """Delete the container; an exited one stays for inspection with `keep_exited`."""
        if self.keep_exited and not force:
            observed = await self.inspect(container_id)
            if observed is None or not observed.running:
                return
        try:
            await self.docker.containers.container(container_id).delete(force=True)
        except DockerError as exc:
            if exc.status not in (404, 409):  # gone, or removal already in progress
                log.warning("cannot remove container %s: %s", container_id[:12], exc)

    async def adopt(self, observed: Observed) -> None:
        """Nothing to do: the event stream covers every labelled container."""

    # ---- exit monitoring -------------------------------------------------------------------

    async def _watch(self, since: int) -> None:
        """Follow the engine's `die` events for our labelled containers, reconnecting with
        `since` so that exits during a disconnection are replayed."""
        backoff = 0.5
        while True:
            events = DockerEvents(self.docker)
            filters = {"type": ["container"], "event": ["die"],
                       "label": [self.labels.agent_filter]}
            subscriber = events.subscribe(filters=json.dumps(filters), since=str(since))
            self.healthy = True
            try:
                while (event := await subscriber.get()) is not None:
                    since = max(since, int(event.get("timeNano", 0)) // NANO)
                    self._notice(event)
                    backoff = 0.5
            finally:
                self.healthy = False
                with contextlib.suppress(DockerError, aiohttp.ClientError, OSError,
                                         TimeoutError):
                    await events.stop()  # re-raises what ended the stream
            log.warning("docker event stream ended; reconnecting in %.1fs", backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, WATCH_BACKOFF_MAX)

    def _notice(self, event: dict[str, Any]) -> None:
        actor = event.get("Actor") or {}
        attributes = actor.get("Attributes") or {}
        code = attributes.get("exitCode")
        exit_code = int(code) if code is not None and str(code).isdigit() else None
        session = attributes.get(self.labels.key(SESSION_ID))
        hint = Observed(container_id=actor.get("ID", ""), session_id=session or "",
                        labels={}, running=False, exit_code=exit_code,
                        signalled=signalled_exit(exit_code))
        self.exits.put_nowait(ExitNotice(actor.get("ID", ""), session, hint))
