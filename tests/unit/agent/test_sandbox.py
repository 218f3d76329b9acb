"""The process runtime's sandbox: what a session sees and as whom it runs (argv only; the
service and security tests run real sessions in it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.agent.runtimes.base import LaunchError
from services.agent.runtimes.sandbox import Sandbox

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="about an agent running as root")


@root_only
def test_a_root_agent_without_bubblewrap_refuses_to_run_a_session(tmp_path: Path) -> None:
    with pytest.raises(LaunchError) as refused:
        Sandbox(bwrap=None, setpriv="/usr/bin/setpriv").wrap(tmp_path, ["sleep", "1"])
    assert refused.value.reason == "sandbox-unavailable"
    assert Sandbox(bwrap=None, setpriv=None).status()["refuses_sessions"] is True


@root_only
def test_a_root_agent_runs_the_session_as_the_unprivileged_user_without_capabilities(
        tmp_path: Path) -> None:
    argv = Sandbox("/usr/bin/bwrap", "/usr/bin/setpriv", uid=4242, gid=4343).wrap(
        tmp_path / "work", ["sleep", "1"])
    tail = argv[argv.index("--") + 1:]
    assert tail[:1] == ["/usr/bin/setpriv"]
    assert {"--reuid=4242", "--regid=4343", "--clear-groups", "--no-new-privs",
            "--bounding-set=-all"} <= set(tail)
    assert tail[-3:] == ["--", "sleep", "1"]


def test_the_session_sees_its_workdir_and_a_read_only_system_but_not_the_data_dir(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    workdir = data_dir / "agent" / "local" / "work" / "s-1"
    argv = Sandbox("/usr/bin/bwrap", "/usr/bin/setpriv", extra_ro=("/opt/python",)).wrap(
        workdir, ["sleep", "1"])
    sandbox = argv[:argv.index("--")]
    binds = [(sandbox[i], sandbox[i + 1]) for i, a in enumerate(sandbox)
             if a in ("--bind", "--ro-bind", "--dev-bind")]
    writable = [path for kind, path in binds if kind in ("--bind", "--dev-bind")]
    assert writable == [str(workdir)]
    assert ("--ro-bind", "/usr") in binds
    assert not [p for _, p in binds if p in (str(data_dir), str(data_dir / "agent"))]
    assert {"--unshare-pid", "--unshare-ipc", "--unshare-uts"} <= set(sandbox)


def test_a_program_the_sandbox_would_not_find_fails_to_start(tmp_path: Path) -> None:
    sandbox = Sandbox("/usr/bin/bwrap", "/usr/bin/setpriv")
    with pytest.raises(LaunchError) as missing:
        sandbox.wrap(tmp_path, ["/nonexistent/program"])
    assert missing.value.reason == "start-failed" and "No such file" in missing.value.detail
    hidden = tmp_path / "elsewhere" / "tool"
    hidden.parent.mkdir()
    hidden.write_text("#!/bin/sh\n")
    hidden.chmod(0o755)
    with pytest.raises(LaunchError) as invisible:
        sandbox.wrap(tmp_path / "work", [str(hidden)])
    assert "not visible inside the sandbox" in invisible.value.detail


def test_a_gpu_session_gets_its_device_nodes_and_the_mps_pipe_directory(tmp_path: Path) -> None:
    pipes = tmp_path / "mps"
    pipes.mkdir()
    argv = Sandbox("/usr/bin/bwrap", "/usr/bin/setpriv").wrap(
        tmp_path / "work", ["sleep", "1"], gpu_devices=(0,), shared=(str(pipes),))
    binds = [(argv[i], argv[i + 1]) for i, a in enumerate(argv) if a.startswith("--")
             and i + 1 < len(argv)]
    assert ("--bind", str(pipes)) in binds
    if Path("/dev/nvidia0").exists():
        assert ("--dev-bind", "/dev/nvidia0") in binds


def test_mounted_folders_are_bound_at_their_paths_read_only_where_ro(tmp_path: Path) -> None:
    ro, rw = tmp_path / "vfolders" / "aa", tmp_path / "vfolders" / "bb"
    ro.mkdir(parents=True)
    rw.mkdir()
    argv = Sandbox("/usr/bin/bwrap", "/usr/bin/setpriv").wrap(
        tmp_path / "work", ["sleep", "1"],
        mounts=((str(ro), "/home/work/data", True), (str(rw), "/mnt/out", False)))
    sandbox = argv[:argv.index("--")]
    binds = [tuple(sandbox[i:i + 3]) for i, a in enumerate(sandbox)
             if a in ("--bind", "--ro-bind")]
    assert ("--ro-bind", str(ro), "/home/work/data") in binds
    assert ("--bind", str(rw), "/mnt/out") in binds
    assert not [b for b in binds if b[1] == str(tmp_path / "vfolders")]


@pytest.mark.parametrize("target", ["/home/work/../../etc", "/etc/x", "/mnt/", "/mnt//a"])
def test_a_mount_path_outside_the_allowed_roots_is_refused(tmp_path: Path, target: str) -> None:
    with pytest.raises(LaunchError) as refused:
        Sandbox("/usr/bin/bwrap", "/usr/bin/setpriv").wrap(
            tmp_path / "work", ["sleep", "1"], mounts=((str(tmp_path), target, True),))
    assert refused.value.reason == "start-failed"


def test_without_bubblewrap_a_session_with_mounts_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LaunchError) as refused:
        Sandbox(bwrap=None, setpriv=None).wrap(
            tmp_path / "work", ["sleep", "1"], mounts=((str(tmp_path), "/mnt/x", True),))
    assert refused.value.reason == "sandbox-unavailable"
