"""Fsspec: any fsspec file system (memory, zip, s3, gcs, http, ...) as a mount."""

from __future__ import annotations

import asyncio
import errno
import posixpath
import shutil
import time

import fsspec
from fsspec.asyn import AsyncFileSystem

from throwaway.vfs.provider import Entry, MountProvider, Stat, oserror


class Fsspec(MountProvider):
    """Serve ``url`` (``"memory://bucket"``, ``"zip://::data.zip"``, ``"s3://b/prefix"``)
    or a ready file system object with a ``root`` inside it.

    Blocking file systems run in a thread; async ones are awaited.
    """

    def __init__(self, url_or_fs, *, root: str = "", writable: bool = False, **options):
        if isinstance(url_or_fs, str):
            self.fs, self.base = fsspec.core.url_to_fs(url_or_fs, **options)
        else:
            self.fs, self.base = url_or_fs, root
        self.base = self.base.rstrip("/")
        self.writable = writable
        self.made = time.time()  # the mtime of entries whose file system keeps none (folders)
        self.label = url_or_fs if isinstance(url_or_fs, str) else type(url_or_fs).__name__

    def describe(self) -> str:
        return f"fsspec {self.label}"

    def _full(self, path: str) -> str:
        if not path:
            return self.base or self.fs.root_marker or "/"
        return posixpath.join(self.base, path) if self.base else path

    async def _call(self, name: str, *args, **kwargs):
        if isinstance(self.fs, AsyncFileSystem) and self.fs.asynchronous:
            return await getattr(self.fs, f"_{name}")(*args, **kwargs)
        return await asyncio.to_thread(getattr(self.fs, name), *args, **kwargs)

    async def stat(self, path: str) -> Stat:
        full = self._full(path)
        try:
            info = await self._call("info", full)
        except FileNotFoundError:
            raise oserror(errno.ENOENT, path) from None
        return _stat(info, self.made)

    async def list(self, path: str) -> list[str]:
        if not (await self.stat(path)).is_dir:
            raise oserror(errno.ENOTDIR, path)
        entries = await self._call("ls", self._full(path), detail=False)
        names = {posixpath.basename(e.rstrip("/")) for e in entries}
        return sorted(n for n in names if n)

    async def entries(self, path: str) -> list[Entry]:
        if not (await self.stat(path)).is_dir:
            raise oserror(errno.ENOTDIR, path)
        out = []
        for info in await self._call("ls", self._full(path), detail=True):
            name = posixpath.basename(info["name"].rstrip("/"))
            if name:
                stat = _stat(info, self.made)
                out.append(Entry(name, stat.is_dir, stat))
        return sorted(out, key=lambda e: e.name)

    async def read(self, path: str, offset: int, size: int) -> bytes:
        if (await self.stat(path)).is_dir:
            raise oserror(errno.EISDIR, path)
        return await self._call("cat_file", self._full(path), start=offset, end=offset + size)

    async def write(self, path: str, data: bytes) -> None:
        await self._call("pipe_file", self._full(path), data)

    async def write_from(self, path: str, source) -> None:
        """Streamed into ``fs.open(..., "wb")`` (multipart on object stores) where it can be."""
        if isinstance(self.fs, AsyncFileSystem) and self.fs.asynchronous:
            return await self.write(path, source.read())
        await asyncio.to_thread(self._copy_in, self._full(path), source)

    def _copy_in(self, full: str, source) -> None:
        with self.fs.open(full, "wb") as out:
            shutil.copyfileobj(source, out, 8 << 20)

    async def mkdir(self, path: str) -> None:
        if await self._exists(path):
            raise oserror(errno.EEXIST, path)
        await self._call("makedirs", self._full(path), exist_ok=True)

    async def remove(self, path: str) -> None:
        if (await self.stat(path)).is_dir:
            raise oserror(errno.EISDIR, path)
        await self._call("rm_file", self._full(path))

    async def rmdir(self, path: str) -> None:
        if await self.list(path):
            raise oserror(errno.ENOTEMPTY, path)
        await self._call("rmdir", self._full(path))

    async def rename(self, src: str, dst: str) -> None:
        """A folder moves with everything below it (copied, then removed: not atomic)."""
        if not (await self.stat(src)).is_dir:
            await self._call("mv", self._full(src), self._full(dst))
            return
        if await self._exists(dst):
            if not (await self.stat(dst)).is_dir:
                raise oserror(errno.ENOTDIR, dst)
            await self.rmdir(dst)  # POSIX replaces an empty folder; ENOTEMPTY otherwise
        folders, files = await self._tree(src)
        for sub in sorted(folders):  # empty folders travel too
            await self._call("makedirs", self._full(dst + sub), exist_ok=True)
        for sub in files:
            await self._call("mv", self._full(src + sub), self._full(dst + sub))
        await self._call("rm", self._full(src), recursive=True)

    async def _tree(self, path: str) -> tuple[list[str], list[str]]:
        """Folders (``""`` for ``path`` itself) and files below ``path``, relative to it."""
        found = await self._call("find", self._full(path), withdirs=True, detail=True)
        base = self._full(path).rstrip("/")
        folders, files = [""], []
        for full, info in found.items():
            sub = full.rstrip("/")[len(base) :]
            if sub.startswith("/"):
                (folders if info.get("type") == "directory" else files).append(sub)
        return folders, files

    async def _exists(self, path: str) -> bool:
        try:
            await self.stat(path)
        except FileNotFoundError:
            return False
        return True


def _stat(info: dict, unknown_time: float) -> Stat:
    """A Stat from fsspec's ``info`` (also what ``ls(detail=True)`` gives per entry)."""
    mtime = info.get("mtime") or info.get("LastModified") or info.get("created") or unknown_time
    return Stat(
        is_dir=info.get("type") == "directory",
        size=int(info.get("size") or 0),
        mtime=float(mtime.timestamp() if hasattr(mtime, "timestamp") else mtime),
    )
