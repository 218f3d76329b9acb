"""Storage hosts: named real directories (`BAIKAL_STORAGE_HOSTS=name=/path,...`), each folder
a directory `<root>/<folder id hex>` in one of them."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from services.storage.domain.errors import refuse

DEFAULT_HOST = "local"


@dataclass(frozen=True)
class Hosts:
    roots: dict[str, Path]
    default: str | None

    @classmethod
    def parse(cls, spec: str, data_dir: Path, default: str | None) -> Hosts:
        """`spec` "name=/path,..."; empty: the embedded `local` host at <data dir>/vfolders."""
        roots: dict[str, Path] = {}
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            name, sep, path = part.partition("=")
            if not sep or not name.strip() or not path.strip():
                raise ValueError(f"BAIKAL_STORAGE_HOSTS entry {part!r}: use name=/path")
            roots[name.strip()] = Path(path.strip()).expanduser().absolute()
        if not roots:
            roots[DEFAULT_HOST] = (data_dir / "vfolders").absolute()
            default = default if default is not None else DEFAULT_HOST
        if default == "":
            default = None
        if default is not None and default not in roots:
            raise ValueError(f"BAIKAL_STORAGE_DEFAULT_HOST {default!r} is not among the hosts "
                             f"({', '.join(sorted(roots))})")
        for root in roots.values():
            root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return cls(roots, default)

    def pick(self, requested: str | None) -> str:
        """Reference rule 1: the request's host, else the default one."""
        if requested is None:
            if self.default is None:
                raise refuse("host.not_configured", "You must specify the vfolder host because "
                             "the default host is not configured.", field="host")
            return self.default
        if requested not in self.roots:
            raise refuse("host.not_found", f"no storage host named '{requested}'",
                         field="host", hosts=sorted(self.roots))
        return requested

    def directory(self, host: str, folder_dir: str) -> Path:
        return self.roots[host] / folder_dir

    def make(self, host: str, folder_dir: str) -> Path:
        path = self.directory(host, folder_dir)
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    def remove(self, host: str, folder_dir: str) -> None:
        """Idempotent: a purge interrupted half-way removes what is left."""
        path = self.directory(host, folder_dir)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            os.unlink(path)

    def usage(self, host: str, folder_dir: str) -> tuple[int, int]:
        """(bytes, files) under a folder's directory; symlinks are not followed."""
        size = files = 0
        pending = [str(self.directory(host, folder_dir))]
        while pending:
            try:
                entries = list(os.scandir(pending.pop()))
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                continue
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    else:
                        size += entry.stat(follow_symlinks=False).st_size
                        files += 1
                except FileNotFoundError:
                    continue  # removed while walking
        return size, files

    def discard_if_empty(self, host: str, folder_dir: str) -> None:
        path = self.directory(host, folder_dir)
        try:
            path.rmdir()
        except OSError:
            pass  # not there, or not empty: it belongs to someone
