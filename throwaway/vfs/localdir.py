"""LocalDir: a folder on the host as a mount."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from throwaway.atomicfile import atomic_writer
from throwaway.vfs.provider import Entry, MountProvider, Stat, oserror

SMALL_IO = 1 << 16  # below this, a thread hop costs more than the disk


class LocalDir(MountProvider):
    """Serve a host directory; read-only unless ``writable=True``.

    Every path is resolved (following symlinks) and must stay inside the root:
    a symlink that points elsewhere reads as permission denied. A symlink that
    stays inside shows as a link to a relative path, and a writable LocalDir
    makes such links (``os.symlink``).
    """

    def __init__(self, root: str | os.PathLike, *, writable: bool = False):
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"LocalDir: {root} is not a directory")
        self.writable = writable

    def describe(self) -> str:
        return f"local folder {self.root}"

    def _inside(self, path: str, *, follow_last: bool = True) -> Path:
        """The host path for ``path``, refusing anything that resolves outside the root."""
        target = self.root / path
        # with follow_last=False the last part may be a link we are about to remove or rename
        resolved = target.resolve() if follow_last else target.parent.resolve() / target.name
        if resolved != self.root and self.root not in resolved.parents:
            raise oserror(errno.EACCES, path)
        return resolved

    async def stat(self, path: str) -> Stat:
        resolved = self._inside(path)
        try:
            st = resolved.stat()
        except FileNotFoundError:
            if not (self.root / path).is_symlink():
                raise
            st = (self.root / path).lstat()  # a link inside whose target is not there (yet)
        return self._as_link(path, resolved, _stat(st))

    def _as_link(self, path: str, resolved: Path, stat: Stat) -> Stat:
        """``stat`` of a symlink's target, with the link as a path relative to its folder."""
        link = self.root / path
        if not link.is_symlink():
            return stat
        return replace(stat, link=os.path.relpath(resolved, link.parent.resolve()))

    async def list(self, path: str) -> list[str]:
        return sorted(os.listdir(self._inside(path)))

    async def entries(self, path: str) -> list[Entry]:
        out = []
        with os.scandir(self._inside(path)) as it:
            for entry in it:
                try:
                    st = _stat(entry.stat())
                    if entry.is_symlink():  # described only if it stays inside the root
                        sub = f"{path}/{entry.name}" if path else entry.name
                        st = self._as_link(sub, self._inside(sub), st)
                except OSError:  # a link out, or broken: shown as a file that cannot be opened
                    out.append(Entry(entry.name, False))
                    continue
                out.append(Entry(entry.name, st.is_dir, st))
        return sorted(out, key=lambda e: e.name)

    async def read(self, path: str, offset: int, size: int) -> bytes:
        target = self._inside(path)
        if size <= SMALL_IO:
            return _pread(target, offset, size)
        return await asyncio.to_thread(_pread, target, offset, size)

    async def write(self, path: str, data: bytes) -> None:
        target = self._inside(path)
        if target.is_dir():
            raise oserror(errno.EISDIR, path)
        if len(data) <= SMALL_IO:
            _replace(target, data)
        else:
            await asyncio.to_thread(_replace, target, data)

    async def write_from(self, path: str, source) -> None:
        target = self._inside(path)
        if target.is_dir():
            raise oserror(errno.EISDIR, path)
        await asyncio.to_thread(_replace, target, source)

    async def mkdir(self, path: str) -> None:
        self._inside(path).mkdir()

    async def remove(self, path: str) -> None:
        target = self._inside(path, follow_last=False)
        if target.is_dir() and not target.is_symlink():
            raise oserror(errno.EISDIR, path)
        target.unlink()

    async def rmdir(self, path: str) -> None:
        self._inside(path, follow_last=False).rmdir()

    async def symlink(self, path: str, target: str) -> None:
        os.symlink(target, self._inside(path, follow_last=False))

    async def chmod(self, path: str, mode: int) -> None:
        os.chmod(self._inside(path), mode)

    async def utime(self, path: str, mtime: float) -> None:
        os.utime(self._inside(path), (mtime, mtime))

    async def rename(self, src: str, dst: str) -> None:
        source = self._inside(src, follow_last=False)
        target = self._inside(dst, follow_last=False)
        if not source.exists() and not source.is_symlink():
            raise oserror(errno.ENOENT, src)
        if target.is_dir() and not source.is_dir():
            raise oserror(errno.EISDIR, dst)
        os.replace(source, target) if not target.is_dir() else _rename_dir(source, target)


def _stat(st: os.stat_result) -> Stat:
    is_dir = stat.S_ISDIR(st.st_mode)
    return Stat(is_dir, st.st_size, st.st_mtime, stat.S_IMODE(st.st_mode))


def _pread(target: Path, offset: int, size: int) -> bytes:
    with open(target, "rb") as f:
        return os.pread(f.fileno(), size, offset)


def _replace(target: Path, data: bytes | BinaryIO) -> None:
    """Replace the target's content whole, keeping its permission bits."""
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = None  # a new file: the umask decides
    with atomic_writer(target, mode) as out:
        out.write(data) if isinstance(data, bytes) else shutil.copyfileobj(data, out, 8 << 20)


def _rename_dir(source: Path, target: Path) -> None:
    if any(target.iterdir()):
        raise oserror(errno.ENOTEMPTY, str(target.name))
    target.rmdir()
    shutil.move(source, target)
