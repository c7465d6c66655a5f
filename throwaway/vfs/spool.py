"""Spools: the host-side content of large files the sandbox is writing.

A file written in a mount is held in the sandbox until it is committed. Past a
few MiB the sandbox moves it here instead, into an anonymous temporary file,
and keeps only a small window of recent writes; so writing a file of 2 GiB
needs 2 GiB of host disk, not 2 GiB of sandbox memory. A spool is known by a
number that only its own sandbox's table hands out (which also caps its size,
like any file in a mount); a sandbox may hold only ``MAX_SPOOLS`` at once.
"""

from __future__ import annotations

import asyncio
import errno
import os
import tempfile
from typing import BinaryIO

MAX_SPOOLS = 16
BIG_IO = 1 << 20  # from here on, disk work runs in a thread


class Spools:
    """The open spools of one sandbox, by number."""

    def __init__(self) -> None:
        self.files: dict[int, BinaryIO] = {}
        self.next = 1

    def open(self) -> int:
        if len(self.files) >= MAX_SPOOLS:
            raise OSError(errno.EMFILE, f"at most {MAX_SPOOLS} large files may be open for writing")
        number, self.next = self.next, self.next + 1
        self.files[number] = tempfile.TemporaryFile()  # noqa: SIM115  (closed by release)
        return number

    def get(self, number: object) -> BinaryIO:
        spool = self.files.get(number) if isinstance(number, int) else None
        if spool is None:
            raise OSError(errno.EBADF, "no such spool")
        return spool

    async def put(self, number: object, offset: int, data: bytes) -> None:
        await _io(os.pwrite, self.get(number).fileno(), data, offset)

    async def read(self, number: object, offset: int, size: int) -> bytes:
        return await _io(os.pread, self.get(number).fileno(), size, offset)

    def cut(self, number: object, size: int) -> None:
        os.ftruncate(self.get(number).fileno(), size)

    def release(self, number: object) -> None:
        self.get(number).close()
        del self.files[number]

    def clear(self) -> None:
        """Drop every spool (the sandbox that held them is gone)."""
        for spool in self.files.values():
            spool.close()
        self.files.clear()


async def _io(fn, fd: int, data_or_size, offset: int):
    size = data_or_size if isinstance(data_or_size, int) else len(data_or_size)
    if size < BIG_IO:
        return fn(fd, data_or_size, offset)
    return await asyncio.to_thread(fn, fd, data_or_size, offset)
