"""The stack's data dir holds every secret: `baikal up` makes it private to the stack's user
(0700), also when it existed before with wider permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from services.cli.stack import StackLayout


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_dir_is_private_to_the_stacks_user(tmp_path: Path) -> None:
    layout = StackLayout(tmp_path / "fresh" / ".baikal")
    layout.create()
    layout.load_secrets()
    assert mode(layout.root) == 0o700
    assert layout.root.stat().st_uid == os.geteuid()
    assert mode(layout.secrets) == 0o600


def test_an_existing_world_readable_data_dir_is_made_private(tmp_path: Path) -> None:
    root = tmp_path / ".baikal"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    StackLayout(root).create()
    assert mode(root) == 0o700
