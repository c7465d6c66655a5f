"""Callable: your own backend as a mount, from plain functions (sync or async)."""

from __future__ import annotations

import asyncio
import errno
import inspect
import time
from collections.abc import Callable as Fn

from throwaway.vfs.paths import basename, parent
from throwaway.vfs.provider import Entry, MountProvider, Stat, oserror


class Callable(MountProvider):
    """A mount served by functions of a relative path::

        Callable(read=fetch_record, list=list_records, write=save_record)

    - ``read(path) -> bytes | str``: a file's whole content (raise
      FileNotFoundError if there is none).
    - ``list(path) -> list[str]``: names in a directory; a name ending in ``/``
      is a subdirectory. Without ``list`` the mount has no listing.
    - ``write(path, data: bytes)``: optional; given, the mount is writable.

    A read result is kept for ``cache_seconds`` so that the sandbox's ``stat``,
    ``open`` and ``read`` of one file call ``read`` once.
    """

    def __init__(self, read: Fn, list: Fn | None = None, write: Fn | None = None,
                 *, cache_seconds: float = 2.0):  # fmt: skip
        self._read, self._list, self._write = read, list, write
        self.writable = write is not None
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, bytes]] = {}

    def describe(self) -> str:
        return f"your backend ({getattr(self._read, '__name__', 'read')})"

    async def stat(self, path: str) -> Stat:
        if path == "" or await self._is_dir(path):
            return Stat(is_dir=True)
        return Stat(is_dir=False, size=len(await self._content(path)), mtime=time.time())

    async def list(self, path: str) -> list[str]:
        if self._list is None:
            raise oserror(errno.ENOTDIR if path else errno.EACCES, path)
        names = await _call(self._list, path)
        return sorted(str(n).rstrip("/") for n in names)

    async def entries(self, path: str) -> list[Entry]:
        """Kinds come from the listing itself (``name/`` is a folder): no reads."""
        if self._list is None:
            raise oserror(errno.ENOTDIR if path else errno.EACCES, path)
        names = await _call(self._list, path)
        return [Entry(str(n).rstrip("/"), str(n).endswith("/")) for n in names]

    async def read(self, path: str, offset: int, size: int) -> bytes:
        if path == "" or await self._is_dir(path):
            raise oserror(errno.EISDIR, path)
        return (await self._content(path))[offset : offset + size]

    async def write(self, path: str, data: bytes) -> None:
        if self._write is None:
            raise oserror(errno.EROFS, path)
        await _call(self._write, path, data)
        self._cache.pop(path, None)

    async def _is_dir(self, path: str) -> bool:
        if self._list is None:
            return False
        try:
            names = await _call(self._list, parent(path))
        except FileNotFoundError:
            return False
        return f"{basename(path)}/" in names

    async def _content(self, path: str) -> bytes:
        cached = self._cache.get(path)
        if cached and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        data = await _call(self._read, path)
        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, bytes | bytearray | memoryview):
            raise oserror(errno.EIO, path)
        data = bytes(data)
        self._cache[path] = (time.monotonic(), data)
        return data


async def _call(fn: Fn, *args):
    """Await an async function; run a plain one in a thread so no sandbox waits on another."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    result = await asyncio.to_thread(fn, *args)
    return await result if inspect.isawaitable(result) else result
