"""Process runtime: each container is a local process group with memory and CPU limits.

Limits: a cgroup per container (memory limit, CPU quota) where the agent may create one, else
RLIMIT_AS (RLIMIT_DATA for GPU sessions: CUDA reserves far more address space than it uses);
CPU affinity to the allocated cores always. The image is recorded but not used. Isolation:
each session runs in a bubblewrap sandbox as an unprivileged user, seeing only its own working
directory, the storage folders it mounts and a read-only minimal system (runtimes/sandbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from contracts.agent import RuntimeKind
from services.agent import launcher
from services.agent.domain.labels import LabelScheme
from services.agent.domain.model import SIGNAL_BASE
from services.agent.mps import DEFAULT_PIPE_DIR, PIPE_DIR
from services.agent.runtimes.base import (
    ExitNotice,
    HostResources,
    LaunchError,
    LaunchSpec,
    Observed,
)
from services.agent.runtimes.cgroups import Cgroups
from services.agent.runtimes.sandbox import Sandbox

log = logging.getLogger(__name__)

LAUNCHER = Path(launcher.__file__)
INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "LD_LIBRARY_PATH")
POLL_SECONDS = 0.5


def alive(pid: int, started: int) -> bool:
    """The same process (pid and start time) still exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0] not in ("Z", "X") and int(fields[19]) == started


def parse_id(container_id: str) -> tuple[int, int]:
    _, pid, started = container_id.split("-")
    return int(pid), int(started)


class ProcessRuntime:
    kind = RuntimeKind.PROCESS

    def __init__(self, labels: LabelScheme, state_dir: Path, use_cgroups: bool = True,
                 keep_exited: bool = False,
                 inherited_env: tuple[str, ...] = INHERITED_ENV,
                 sandbox: Sandbox | None = None) -> None:
        self.labels = labels
        self.sandbox = sandbox or Sandbox.detect()
        self.inherited_env = inherited_env  # the agent's own secrets are never passed on
        self.state_dir = state_dir
        self.use_cgroups = use_cgroups
        self.keep_exited = keep_exited
        self.exits: asyncio.Queue[ExitNotice] = asyncio.Queue()
        self.healthy = True
        self.cgroups: Cgroups | None = None
        self._ended: dict[str, Observed] = {}
        self._done: dict[str, asyncio.Event] = {}
        self._watchers: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        for sub in ("processes", "logs", "work"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        if self.use_cgroups:
            self.cgroups = await asyncio.to_thread(
                Cgroups.detect, self.labels.scope)
        status = self.sandbox.status()
        if status["refuses_sessions"]:
            log.error("the agent runs as root without bubblewrap: every session will be "
                      "refused (install the Debian package `bubblewrap`)")
        elif status["sandbox"] == "none":
            log.warning("bubblewrap not found: sessions run unisolated as the agent's user")

    async def close(self) -> None:
        for task in list(self._watchers):
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)

    def renumbers_gpus(self) -> bool:
        return False

    async def resources(self) -> HostResources:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return HostResources(tuple(sorted(os.sched_getaffinity(0))), int(pages))

    # ---- lifecycle -------------------------------------------------------------------------

    async def launch(self, spec: LaunchSpec) -> str:
        if not spec.command:
            raise LaunchError("start-failed", "the process runtime needs a command")
        workdir = self.state_dir / "work" / spec.name
        env = {k: os.environ[k] for k in self.inherited_env if k in os.environ}
        env |= {"HOME": str(workdir), **spec.environ}
        # A GPU session reaches the MPS control daemon through its pipe directory.
        mps = (env.get(PIPE_DIR, DEFAULT_PIPE_DIR),) if spec.allocation.gpu_devices else ()
        mounts = tuple(spec.mounts)  # storage folders, bound in the sandbox's namespace
        command = self.sandbox.wrap(workdir, spec.command, spec.allocation.gpu_devices,
                                    env.get("PATH"), shared=mps, mounts=mounts)
        workdir.mkdir(parents=True, exist_ok=True)
        self.sandbox.prepare(workdir, mounts)
        groups = await asyncio.to_thread(self._cgroups_for, spec)
        read_end, write_end = os.pipe()
        launch = self._launch_spec(spec, groups, write_end) | {"command": command}
        with open(self.state_dir / "logs" / f"{spec.name}.log", "ab") as log_file:
            try:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-I", str(LAUNCHER), json.dumps(launch), env=env,
                    cwd=workdir, stdin=asyncio.subprocess.DEVNULL, stdout=log_file,
                    stderr=asyncio.subprocess.STDOUT, pass_fds=(write_end,),
                    start_new_session=True)
            finally:
                os.close(write_end)
        failure = await _read_until_closed(read_end)
        state = self._state(spec.name)
        if failure or state is None:
            await proc.wait()
            await asyncio.to_thread(self._cleanup, spec.name)
            raise LaunchError("start-failed", failure or "the launcher died before exec")
        container_id = str(state["container_id"])
        self._done[container_id] = asyncio.Event()
        self._spawn(self._wait_child(container_id, spec.session_id, spec.name, proc))
        return container_id

    def _cgroups_for(self, spec: LaunchSpec) -> list[str]:
        if self.cgroups is None:
            return []
        try:
            return self.cgroups.create(spec.name, spec.allocation.cpu, spec.allocation.mem)
        except OSError as exc:
            raise LaunchError("start-failed", f"cannot prepare cgroups: {exc}") from exc

    def _launch_spec(self, spec: LaunchSpec, groups: list[str], status_fd: int
                     ) -> dict[str, Any]:
        a = spec.allocation
        rlimit = None if groups else a.mem
        return {
            "status_fd": status_fd, "command": spec.command, "cgroups": groups,
            "rlimit_as": None if a.gpu_devices else rlimit,
            "rlimit_data": rlimit if a.gpu_devices else None,
            "cores": list(a.cores),
            "state_file": str(self._state_file(spec.name)),
            "state": {"name": spec.name, "session_id": spec.session_id,
                      "labels": spec.labels},
        }

    async def stop(self, container_id: str, grace: float) -> Observed | None:
        pid, started = parse_id(container_id)
        if not alive(pid, started):
            return await self.inspect(container_id)
        name = self._name_of(container_id)
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
            if sig == signal.SIGKILL and self.cgroups is not None and name:
                self.cgroups.kill_all(name)
            if await self._wait_ended(container_id, pid, started, wait):
                break
        return await self.inspect(container_id)

    async def _wait_ended(self, container_id: str, pid: int, started: int,
                          timeout: float) -> bool:
        done = self._done.get(container_id)
        if done is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout)
            return done.is_set()
        for _ in range(max(1, int(timeout / 0.05))):
            if not alive(pid, started):
                return True
            await asyncio.sleep(0.05)
        return not alive(pid, started)

    async def inspect(self, container_id: str) -> Observed | None:
        if container_id in self._ended:
            return self._ended[container_id]
        for observed in await self.containers():
            if observed.container_id == container_id:
                return observed
        return None

    async def containers(self) -> list[Observed]:
        return await asyncio.to_thread(self._containers)

    def _containers(self) -> list[Observed]:
        found = []
        for path in sorted((self.state_dir / "processes").glob("*.json")):
            with contextlib.suppress(OSError, ValueError, KeyError):
                state = json.loads(path.read_text())
                cid = str(state["container_id"])
                if cid in self._ended:
                    found.append(self._ended[cid])
                    continue
                running = alive(int(state["pid"]), int(state["start_time"]))
                oom = not running and self.cgroups is not None and self.cgroups.oom_killed(
                    state["name"])
                found.append(Observed(cid, state["session_id"], state["labels"], running,
                                      oom_killed=oom, signalled=oom))
        return found

    async def remove(self, container_id: str) -> None:
        name = self._name_of(container_id)
        self._ended.pop(container_id, None)
        self._done.pop(container_id, None)
        if name:
            await asyncio.to_thread(self._cleanup, name)

    def _cleanup(self, name: str) -> None:
        if self.cgroups is not None:
            self.cgroups.kill_all(name)
            self.cgroups.remove(name)
        self._state_file(name).unlink(missing_ok=True)
        shutil.rmtree(self.state_dir / "work" / name, ignore_errors=True)
        if not self.keep_exited:
            (self.state_dir / "logs" / f"{name}.log").unlink(missing_ok=True)

    async def adopt(self, observed: Observed) -> None:
        """A process found running at restart is not our child: watch it by pid."""
        self._done[observed.container_id] = asyncio.Event()
        self._spawn(self._wait_foreign(observed))

    # ---- exit monitoring -------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _wait_child(self, container_id: str, session_id: str, name: str,
                          proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        signalled = code < 0
        exit_code = SIGNAL_BASE - code if signalled else code
        oom = self.cgroups is not None and await asyncio.to_thread(self.cgroups.oom_killed, name)
        self._ended_with(Observed(container_id, session_id, {}, False, True, exit_code,
                                  signalled, oom))

    async def _wait_foreign(self, observed: Observed) -> None:
        pid, started = parse_id(observed.container_id)
        while alive(pid, started):
            await asyncio.sleep(POLL_SECONDS)
        name = self._name_of(observed.container_id)
        oom = bool(self.cgroups and name and self.cgroups.oom_killed(name))
        # Not our child: its exit status went to init, so the code is unknown.
        self._ended_with(Observed(observed.container_id, observed.session_id, observed.labels,
                                  False, True, None, oom, oom))

    def _ended_with(self, observed: Observed) -> None:
        self._ended[observed.container_id] = observed
        if (done := self._done.get(observed.container_id)) is not None:
            done.set()
        self.exits.put_nowait(ExitNotice(observed.container_id, observed.session_id, observed))

    # ---- state files -----------------------------------------------------------------------

    def _state_file(self, name: str) -> Path:
        return self.state_dir / "processes" / f"{name}.json"

    def _state(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self._state_file(name).read_text()))
        except (OSError, ValueError):
            return None

    def _name_of(self, container_id: str) -> str | None:
        for path in (self.state_dir / "processes").glob("*.json"):
            with contextlib.suppress(OSError, ValueError):
                if json.loads(path.read_text()).get("container_id") == container_id:
                    return path.stem
        return None


async def _read_until_closed(fd: int, timeout: float = 30.0) -> str:
    """What the launcher wrote before its exec closed the pipe ('' when the exec succeeded)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0))
    try:
        return (await asyncio.wait_for(reader.read(), timeout)).decode(errors="replace")
    except TimeoutError:
        return "the launcher did not exec within the timeout"
    finally:
        transport.close()
