"""MountProvider: the one seam between a sandbox's /mnt/<name> folder and the world.

A provider serves one mount. Every method takes a *clean relative path* inside
the mount: ``""`` is the mount's root, ``"a/b.txt"`` a file below it. Paths have
already been checked by the host (no ``..``, no absolute paths, no empty or
``.`` parts, no NUL, length limits) before a provider sees them; providers that
map paths onto something with links (a local directory) must still make sure
the target stays inside their root.

Methods are coroutines. They report failure by raising ``OSError`` with the
right errno (``FileNotFoundError``, ``IsADirectoryError``, ``NotADirectoryError``,
``FileExistsError``, ``PermissionError``, ``OSError(errno.ENOTEMPTY, ...)``);
the sandboxed code sees the same error. Any other exception reaches the
sandbox as ``EIO`` and is logged on the host; the host stays up either way.

Read-only providers implement ``stat``, ``list`` and ``read`` (and, optionally,
``entries``, which lets a listing skip one ``stat`` per name). Writable ones add
``write`` (replace a whole file), ``mkdir``, ``remove``, ``rmdir`` and ``rename``
(which, like POSIX rename, replaces a file or an empty folder at ``dst``).
Optional for them:

- ``write_from``: ``write`` from a host temporary file, for contents too large
  to hold in memory (by default it reads the file and calls ``write``);
- ``chmod`` and ``utime``: a provider that cannot store permission bits or
  modification times leaves them raising ENOSYS, and the mount keeps those
  itself for as long as the Sandbox lives;
- ``symlink``: links whose target the host has checked stays inside the mount
  (EPERM by default).

Whether a mount *is* writable is decided by ``writable``; the host refuses
changes to a read-only mount before the provider is called.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import BinaryIO


@dataclass(frozen=True)
class Stat:
    """What the sandbox learns about a path."""

    is_dir: bool
    size: int = 0
    mtime: float = 0.0
    mode: int | None = None  # permission bits (0o644); None: the mount's default
    link: str | None = None  # a symlink: its target, relative to its folder, inside the mount


@dataclass(frozen=True)
class Entry:
    """A name in a listing, with what is cheaply known about it.

    ``stat`` may be None (unknown until asked, e.g. a web resource's size, or a
    link out of a LocalDir, which must reveal nothing).
    """

    name: str
    is_dir: bool
    stat: Stat | None = None


def oserror(code: int, path: str) -> OSError:
    """An OSError of the right subclass for errno ``code``."""
    return OSError(code, os.strerror(code), path)


class MountProvider:
    """Base class: read-only, with every operation unsupported until overridden."""

    writable: bool = False

    async def stat(self, path: str) -> Stat:
        raise oserror(errno.ENOSYS, path)

    async def list(self, path: str) -> list[str]:
        """Names (not paths) in the directory ``path``."""
        raise oserror(errno.ENOSYS, path)

    async def entries(self, path: str) -> list[Entry] | None:
        """Optional: every name in ``path`` with its kind (and stat where cheap).

        Without it, the listing comes from ``list`` and the sandbox looks up
        every name with ``stat``.
        """
        return None

    async def read(self, path: str, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset``; fewer only at end of file."""
        raise oserror(errno.ENOSYS, path)

    async def write(self, path: str, data: bytes) -> None:
        """Create or replace the file ``path`` with ``data``."""
        raise oserror(errno.EROFS, path)

    async def write_from(self, path: str, source: BinaryIO) -> None:
        """Replace ``path`` with the rest of ``source``, a temporary file on the host."""
        await self.write(path, source.read())

    async def mkdir(self, path: str) -> None:
        raise oserror(errno.EROFS, path)

    async def remove(self, path: str) -> None:
        raise oserror(errno.EROFS, path)

    async def rmdir(self, path: str) -> None:
        raise oserror(errno.EROFS, path)

    async def rename(self, src: str, dst: str) -> None:
        raise oserror(errno.EROFS, src)

    async def symlink(self, path: str, target: str) -> None:
        """Optional: make ``path`` a symlink to ``target``, a relative path that the host
        has checked stays inside the mount."""
        raise oserror(errno.EPERM, path)

    async def chmod(self, path: str, mode: int) -> None:
        """Optional: set the permission bits (``mode & 0o7777``)."""
        raise oserror(errno.ENOSYS, path)

    async def utime(self, path: str, mtime: float) -> None:
        """Optional: set the modification time (seconds since the epoch)."""
        raise oserror(errno.ENOSYS, path)

    def describe(self) -> str:
        """One line for the model's system prompt and for logs."""
        return type(self).__name__
