"""The process runtime's session sandbox: bubblewrap, an unprivileged user, only the session's
own working directory and a read-only minimal system in view.

Inside the sandbox: its working directory (read-write, the only writable place besides a
private /tmp), /usr and the /bin, /lib... links, a few world-readable files of /etc, the
cgroup tree (read-only, so a session can read its own limits), fresh /proc and /dev, the
allocated GPUs' device nodes, any read-only paths the operator adds, and the storage folders
the session mounts, each bound at its mount path (read-only for `ro`: a write fails with
"Read-only file system"; nothing above the folder on the host is in view). The agent's data
dir, its secrets and every other session's directory are not there at all. Private mount,
PID, IPC and UTS namespaces; the network is the host's (as before).

As root, the session's process drops to `uid`:`gid` (nobody by default) with no capabilities
and no_new_privs before the command runs (`setpriv`). Without bubblewrap a root agent refuses
to run sessions at all: running them as root with the data dir in view is what this prevents.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from services.agent.runtimes.base import LaunchError

SYSTEM_DIRS = ("/usr",)
ROOT_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_FILES = (
    "/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
    "/etc/localtime", "/etc/ssl/certs", "/etc/ca-certificates", "/etc/resolv.conf",
    "/etc/hosts", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/sys/fs/cgroup",
)
NOBODY = 65534
MOUNT_ROOTS = ("/home/work/", "/mnt/")
Mount = tuple[str, str, bool]  # host directory, path inside the sandbox, read-only


@dataclass(frozen=True)
class Sandbox:
    bwrap: str | None
    setpriv: str | None
    uid: int = NOBODY
    gid: int = NOBODY
    extra_ro: tuple[str, ...] = ()

    @classmethod
    def detect(cls, uid: int = NOBODY, gid: int = NOBODY,
               extra_ro: tuple[str, ...] = ()) -> Sandbox:
        return cls(shutil.which("bwrap"), shutil.which("setpriv"), uid, gid, extra_ro)

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def status(self) -> dict[str, object]:
        usable = self.bwrap is not None and (self.setpriv is not None or not self.as_root)
        return {"sandbox": "bubblewrap" if usable else "none",
                "session_uid": self.uid if self.as_root else os.geteuid(),
                "refuses_sessions": self.as_root and not usable}

    def prepare(self, workdir: Path, mounts: tuple[Mount, ...] = ()) -> None:
        """The session's user owns its working directory, and the top directory of each
        storage folder it mounts (storage makes them 0700 for the stack's user; every
        sandboxed session runs as the same unprivileged user, and the mount namespace, not
        the owner, keeps the folders of other sessions out of view)."""
        if not self.as_root:
            return
        os.chown(workdir, self.uid, self.gid)
        os.chmod(workdir, 0o700)
        for source, _, _ in mounts:
            try:
                os.chown(source, self.uid, self.gid)
            except OSError as exc:  # e.g. a shared filesystem squashing root
                raise LaunchError("start-failed",
                                  f"cannot give the session its folder {source}: {exc}") from exc

    def wrap(self, workdir: Path, command: list[str], gpu_devices: tuple[int, ...] = (),
             path_env: str | None = None, shared: tuple[str, ...] = (),
             mounts: tuple[Mount, ...] = ()) -> list[str]:
        """The argv that runs `command` in the sandbox (or `command` itself for a non-root
        agent without bubblewrap, which then runs sessions as its own unprivileged user).
        A program that the sandbox would not find is refused here, so that it is reported
        as failing to start (as an exec failure is without the sandbox). `shared`: host
        directories bound read-write (the MPS pipe directory of a GPU session). `mounts`:
        (host directory, path inside, read-only) of the storage folders; they need the
        sandbox's mount namespace, so without bubblewrap a session with mounts is refused."""
        for source, target, _ in mounts:
            if not os.path.isdir(source) or not _inside_allowed(target):
                raise LaunchError("start-failed", f"cannot mount {source} at {target}")
        if self.bwrap is None or (self.as_root and self.setpriv is None):
            if self.as_root:
                raise LaunchError(
                    "sandbox-unavailable",
                    "the agent runs as root and bubblewrap (bwrap) or setpriv is missing: "
                    "refusing to run a session as root without isolation; install the "
                    "Debian package `bubblewrap` (deploy/ci/setup-sandbox.sh)")
            if mounts:
                raise LaunchError("sandbox-unavailable",
                                  "mounting storage folders needs bubblewrap (bwrap): "
                                  "install the Debian package `bubblewrap`")
            return list(command)
        self._check_visible(command[0], workdir, path_env)
        argv = [self.bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-uts",
                "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # noqa: S108 - private
        made: set[str] = {"/", "/proc", "/dev", "/tmp"}  # noqa: S108 - inside the sandbox

        def bind(kind: str, path: str, source: str | None = None) -> None:
            # bubblewrap would create missing parents 0700 (root's): the session's user could
            # not reach what is bound below them.
            for parent in reversed(Path(path).parents):
                if str(parent) not in made:
                    argv.extend(["--perms", "0755", "--dir", str(parent)])
                    made.add(str(parent))
            argv.extend([kind, source or path, path])
            made.add(path)

        for path in SYSTEM_DIRS:
            bind("--ro-bind", path)
        for link in ROOT_LINKS:
            if os.path.islink(link):
                argv.extend(["--symlink", os.readlink(link), link])
            elif os.path.isdir(link):
                bind("--ro-bind", link)
        for path in (*SYSTEM_FILES, *self.extra_ro):
            if os.path.exists(path):
                bind("--ro-bind", path)
        for device in _gpu_nodes(gpu_devices):
            bind("--dev-bind", device)
        for path in shared:
            if os.path.isdir(path):
                bind("--bind", path)
        bind("--bind", str(workdir))
        for source, target, read_only in mounts:
            bind("--ro-bind" if read_only else "--bind", target, source)
        argv.extend(["--chdir", str(workdir)])
        if not self.as_root:
            argv += ["--unshare-user"]  # an unprivileged agent: its own uid, mapped
            return [*argv, "--", *command]
        assert self.setpriv is not None
        return [*argv, "--", self.setpriv, f"--reuid={self.uid}", f"--regid={self.gid}",
                "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
                "--", *command]


    def _check_visible(self, program: str, workdir: Path, path_env: str | None) -> None:
        found = shutil.which(program, path=path_env) if "/" not in program else (
            program if os.access(program, os.X_OK) else None)
        if found is None:
            raise LaunchError("start-failed",
                              f"FileNotFoundError: No such file or directory: {program!r}")
        visible = (*SYSTEM_DIRS, *ROOT_LINKS, *self.extra_ro, str(workdir))
        resolved = os.path.abspath(found)
        if not any(resolved == root or resolved.startswith(root.rstrip("/") + "/")
                   for root in visible):
            raise LaunchError("start-failed",
                              f"{program!r} ({resolved}) is not visible inside the sandbox; "
                              "add its directory to BAIKAL_PROCESS_SANDBOX_RO_PATHS")


def _inside_allowed(target: str) -> bool:
    """A folder's mount path: absolute, normalised, under /home/work or /mnt (as the
    contract's pattern says; checked again here because it becomes a bwrap argument)."""
    return (os.path.normpath(target) == target
            and any(target.startswith(root) for root in MOUNT_ROOTS))


def _gpu_nodes(devices: tuple[int, ...]) -> list[str]:
    if not devices:
        return []
    shared = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
              "/dev/nvidia-modeset")
    nodes = [*shared, *(f"/dev/nvidia{i}" for i in devices)]
    return [n for n in nodes if os.path.exists(n)]
