"""Process-runtime launcher: applies a container's limits to itself, then execs the command.

Runs as `python -I launcher.py '<spec json>'` in a new session (the agent starts it), imports
only the standard library, and can be run by hand on a machine without the rest of baikal.
Steps: join the prepared cgroups, set rlimits, pin CPU cores, record pid + start time in the
state file (so an agent restarted after a crash finds the process), exec. A failure before the
exec is written to the status pipe; a successful exec closes that pipe with nothing written.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path
from typing import Any


def start_time(pid: int | str = "self") -> int:
    """Field 22 of /proc/<pid>/stat: with the pid, identifies a process across pid reuse."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[19])


def apply_limits(spec: dict[str, Any]) -> None:
    pid = str(os.getpid())
    for group in spec.get("cgroups", []):
        Path(group, "cgroup.procs").write_text(pid)
    for name, limit in (("RLIMIT_AS", spec.get("rlimit_as")),
                        ("RLIMIT_DATA", spec.get("rlimit_data"))):
        if limit:
            resource.setrlimit(getattr(resource, name), (int(limit), int(limit)))
    if spec.get("cores"):
        os.sched_setaffinity(0, spec["cores"])


def record(spec: dict[str, Any]) -> None:
    if not spec.get("state_file"):
        return
    state = dict(spec.get("state", {}))
    state.update(pid=os.getpid(), start_time=start_time(),
                 container_id=f"proc-{os.getpid()}-{start_time()}")
    path = Path(spec["state_file"])
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state))
    temporary.replace(path)


def main(argv: list[str]) -> None:
    spec = json.loads(argv[1])
    status_fd = int(spec.get("status_fd", 2))  # by hand: errors go to stderr
    if status_fd != 2:
        os.set_inheritable(status_fd, False)  # closed by a successful exec
    try:
        apply_limits(spec)
        record(spec)
        command = spec["command"]
        os.execvp(command[0], command)  # noqa: S606 - argv list, no shell
    except (OSError, ValueError) as exc:
        os.write(status_fd, f"{type(exc).__name__}: {exc}".encode()[:4000])
        os._exit(127)


if __name__ == "__main__":
    main(sys.argv)
