"""A path inside a folder, resolved or refused: nothing outside the folder is ever named."""

from __future__ import annotations

import os
from pathlib import Path

from contracts.storage import PATH_MAX
from services.storage.domain.errors import refuse

NAME_MAX = 255  # bytes per component, as the usual filesystems allow


def resolve_inside(root: Path, relative: str) -> Path:
    """The real path of `relative` under `root` (a folder's directory), refusing NUL,
    absolute paths, `..`, over-long names and anything a symlink leads outside."""
    if "\x00" in relative:
        raise refuse("path.invalid", "a path cannot contain NUL", field="path")
    if len(relative.encode("utf-8", "surrogatepass")) > PATH_MAX:
        raise refuse("path.too_long", f"a path is at most {PATH_MAX} bytes", field="path")
    if relative.startswith(("/", "\\")) or (len(relative) > 1 and relative[1] == ":"):
        raise refuse("path.absolute", "paths are relative to the folder", field="path")
    parts = [p for p in relative.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise refuse("path.escape", "a path cannot climb out of the folder ('..')",
                     field="path")
    if any(len(p.encode("utf-8", "surrogatepass")) > NAME_MAX for p in parts):
        raise refuse("path.too_long", f"a file name is at most {NAME_MAX} bytes",
                     field="path")
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(real_root.joinpath(*parts)))
    if real != real_root and real_root not in real.parents:
        raise refuse("path.escape", "the path leads outside the folder (a symbolic link)",
                     field="path")
    return real
