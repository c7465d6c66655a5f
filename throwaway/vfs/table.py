"""MountTable: answers the sandbox's file-system requests for /mnt/<name>.

Requests come from sandboxed code and are hostile until checked: the op must be
known, the mount must exist, the path must be clean (paths.py), a change needs a
writable mount, sizes are bounded, and every provider call has a timeout. The
reply is ``{"ok": True, ...}`` or ``{"errno": "ENOENT", "message": ...}``; the
sandbox turns the errno name into the OSError Python code expects.

The table also keeps the audit of what changed in writable mounts since the
last `take_changes()`, and, for providers that cannot store them, the
permission bits and modification times the sandbox set (``Kept``), for as long
as the sandbox lives.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import posixpath
from collections.abc import Mapping

from throwaway.vfs.paths import clean
from throwaway.vfs.provider import MountProvider, Stat
from throwaway.vfs.spool import Spools

log = logging.getLogger(__name__)

MOUNT_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-.")
READ_CHUNK = 8 << 20  # the most one read reply carries (the sandbox's shared buffer)
CHANGING_OPS = {"write", "create", "mkdir", "remove", "rmdir", "rename", "truncate", "chmod",
                "utime", "spool", "put", "cut", "commit", "symlink"}  # fmt: skip
UMASK = 0o022  # applied to the mode of new files and folders, as on a usual disk


def check_mount_name(name: str) -> str:
    if not name or not set(name.lower()) <= MOUNT_NAME_CHARS or name in (".", ".."):
        raise ValueError(
            f"mount name {name!r} must be a plain folder name (letters, digits, _ - .), "
            "e.g. 'data' for /mnt/data"
        )
    return name


class MountTable:
    """The mounts of one sandbox, by name."""

    def __init__(
        self,
        mounts: Mapping[str, MountProvider],
        *,
        timeout: float = 30.0,
        max_file_bytes: int = 512 << 20,
    ):
        self.mounts = {check_mount_name(n): p for n, p in mounts.items()}
        for name, provider in self.mounts.items():
            if not isinstance(provider, MountProvider):
                raise TypeError(f"mount {name!r}: expected a MountProvider, got {provider!r}")
        self.timeout, self.max_file_bytes = timeout, max_file_bytes
        self.changes: dict[str, str] = {}
        self.kept = {name: Kept() for name in self.mounts}
        self.spools = Spools()

    def describe(self) -> dict[str, dict]:
        """What the sandbox (and a model) may know about each mount."""
        return {n: {"writable": p.writable, "about": p.describe()} for n, p in self.mounts.items()}

    def take_changes(self) -> dict[str, str]:
        """``{"/mnt/out/a.txt": "created" | "modified" | "deleted"}`` since the last call."""
        changes, self.changes = self.changes, {}
        return changes

    async def handle(self, request: object, blob: bytes) -> tuple[dict, bytes]:
        """Answer one request; never raises."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._handle(request, blob)
        except TimeoutError:
            return _error(errno.ETIMEDOUT, "the mount's provider did not answer in time"), b""
        except OSError as exc:
            return _error(_errno_of(exc), exc.strerror or str(exc)), b""
        except Exception as exc:
            log.warning("mount provider failed: %r", exc, exc_info=True)
            return _error(errno.EIO, f"{type(exc).__name__}: {exc}"), b""

    async def _handle(self, request: object, blob: bytes) -> tuple[dict, bytes]:
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            raise OSError(errno.EINVAL, "malformed request")
        op, name = request["op"], request.get("mount")
        provider = self.mounts.get(name) if isinstance(name, str) else None
        if provider is None:
            raise OSError(errno.ENOENT, f"no mount named {name!r}")
        path = clean(request.get("path"))
        if op in CHANGING_OPS and not provider.writable:
            raise OSError(errno.EROFS, f"/mnt/{name} is read-only")
        if op in CHANGING_OPS and path == "":
            raise OSError(errno.EBUSY, "a mount's root cannot be changed")
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            raise OSError(errno.ENOSYS, f"unknown operation {op!r}")
        return await handler(provider, name, path, request, blob)

    # ---- reading -------------------------------------------------------------

    async def _op_stat(self, provider, name, path, request, blob):
        return {"ok": True, "stat": await self._stat(provider, name, path)}, b""

    async def _op_list(self, provider, name, path, request, blob):
        found = await provider.entries(path)
        if found is None:
            names = [n for n in await provider.list(path) if _plain_name(n)]
            return {"ok": True, "names": names, "entries": []}, b""
        kept = self.kept[name]
        entries = [
            {"name": e.name, "dir": bool(e.is_dir),
             "stat": kept.over(_join(path, e.name), _stat(e.stat)) if e.stat else None}
            for e in found
            if _plain_name(e.name)
        ]  # fmt: skip
        return {"ok": True, "names": [e["name"] for e in entries], "entries": entries}, b""

    async def _op_read(self, provider, name, path, request, blob):
        offset, size = _int(request.get("offset")), min(_int(request.get("size")), READ_CHUNK)
        return {"ok": True}, bytes(await provider.read(path, offset, size))

    async def _op_open(self, provider, name, path, request, blob):
        """Stat, plus the first bytes of a file so that small files need no further call."""
        stat = await self._stat(provider, name, path)
        data = b""
        if not stat["dir"] and request.get("prefetch"):
            size = min(_int(request["prefetch"]), READ_CHUNK)
            data = bytes(await provider.read(path, 0, size))
        return {"ok": True, "stat": stat}, data

    # ---- changing --------------------------------------------------------------

    async def _op_write(self, provider, name, path, request, blob):
        self._check_size(len(blob))
        existed = await self._exists(provider, path)
        await provider.write(path, blob)
        self.kept[name].touched(path)
        self._record(name, path, "modified" if existed else "created")
        return {"ok": True}, b""

    async def _op_create(self, provider, name, path, request, blob):
        if await self._exists(provider, path):
            if request.get("exclusive"):
                raise OSError(errno.EEXIST, "file exists")
        else:
            await provider.write(path, b"")
            self.kept[name].forget(path)
            self._record(name, path, "created")
            await self._new_mode(provider, name, path, request)
        return await self._made(provider, name, path), b""

    async def _op_truncate(self, provider, name, path, request, blob):
        size = self._check_size(_int(request.get("size")))
        stat = await provider.stat(path)
        data = await provider.read(path, 0, min(size, stat.size)) if size else b""
        await provider.write(path, data + b"\0" * (size - len(data)))
        self.kept[name].touched(path)
        self._record(name, path, "modified")
        return {"ok": True}, b""

    # ---- spools: large files being written (spool.py) --------------------------------------

    async def _op_spool(self, provider, name, path, request, blob):
        """A new spool holding ``blob`` or, with ``copy``, the provider's file ``path``."""
        number = self.spools.open()
        try:
            if request.get("copy"):
                await self._copy_to_spool(provider, path, number)
            else:
                await self.spools.put(number, 0, blob)
        except BaseException:
            self.spools.release(number)
            raise
        return {"ok": True, "spool": number}, b""

    async def _op_put(self, provider, name, path, request, blob):
        offset = _int(request.get("offset"))
        self._check_size(offset + len(blob))
        await self.spools.put(request.get("spool"), offset, blob)
        return {"ok": True}, b""

    async def _op_get(self, provider, name, path, request, blob):
        size = min(_int(request.get("size")), READ_CHUNK)
        offset = _int(request.get("offset"))
        return {"ok": True}, await self.spools.read(request.get("spool"), offset, size)

    async def _op_cut(self, provider, name, path, request, blob):
        self.spools.cut(request.get("spool"), self._check_size(_int(request.get("size"))))
        return {"ok": True}, b""

    async def _op_commit(self, provider, name, path, request, blob):
        spool = self.spools.get(request.get("spool"))
        existed = await self._exists(provider, path)
        spool.seek(0)
        await provider.write_from(path, spool)
        self.kept[name].touched(path)
        self._record(name, path, "modified" if existed else "created")
        return {"ok": True}, b""

    async def _op_release(self, provider, name, path, request, blob):
        self.spools.release(request.get("spool"))
        return {"ok": True}, b""

    async def _copy_to_spool(self, provider: MountProvider, path: str, number: int) -> None:
        size = self._check_size((await provider.stat(path)).size)
        for offset in range(0, size, READ_CHUNK):
            await self.spools.put(number, offset, await provider.read(path, offset, READ_CHUNK))

    # ---- changing, continued ---------------------------------------------------------------

    async def _op_mkdir(self, provider, name, path, request, blob):
        await provider.mkdir(path)
        self.kept[name].forget(path)
        await self._new_mode(provider, name, path, request)
        return await self._made(provider, name, path), b""

    async def _op_remove(self, provider, name, path, request, blob):
        await provider.remove(path)
        self.kept[name].forget(path)
        self._record(name, path, "deleted")
        return {"ok": True}, b""

    async def _op_rmdir(self, provider, name, path, request, blob):
        await provider.rmdir(path)
        self.kept[name].forget(path)
        return {"ok": True}, b""

    async def _op_symlink(self, provider, name, path, request, blob):
        """Only links that stay inside the mount; ``/mnt/<name>/...`` becomes relative."""
        target = request.get("target")
        if not isinstance(target, str) or not target or "\0" in target or len(target) > 4096:
            raise OSError(errno.EINVAL, "expected a link target")
        own = f"/mnt/{name}/"
        if target.startswith(own):
            target = posixpath.relpath(target[len(own) :] or ".", posixpath.dirname(path) or ".")
        inside = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        if target.startswith("/") or inside == ".." or inside.startswith("../"):
            raise OSError(errno.EPERM, "a link in a mount must stay inside it")
        await provider.symlink(path, target)
        self._record(name, path, "created")
        return await self._made(provider, name, path), b""

    async def _op_chmod(self, provider, name, path, request, blob):
        await self._set(provider, name, path, mode=_int(request.get("mode")) & 0o7777)
        return {"ok": True}, b""

    async def _op_utime(self, provider, name, path, request, blob):
        mtime = request.get("mtime")
        number = isinstance(mtime, int | float) and not isinstance(mtime, bool)
        if not number or not -1e11 < mtime < 1e11:
            raise OSError(errno.EINVAL, "expected a modification time in seconds")
        await self._set(provider, name, path, mtime=float(mtime))
        return {"ok": True}, b""

    async def _op_rename(self, provider, name, path, request, blob):
        dest = clean(request.get("dest"))
        if not dest:
            raise OSError(errno.EBUSY, "a mount's root cannot be changed")
        dest_existed = await self._exists(provider, dest)
        src_is_file = not (await provider.stat(path)).is_dir
        await provider.rename(path, dest)
        self.kept[name].moved(path, dest)
        if src_is_file:
            self._record(name, path, "deleted")
            self._record(name, dest, "modified" if dest_existed else "created")
        return {"ok": True}, b""

    # ---- helpers -----------------------------------------------------------------

    def _check_size(self, size: int) -> int:
        if size > self.max_file_bytes:
            limit = self.max_file_bytes
            raise OSError(errno.EFBIG, f"files in mounts are limited to {limit} bytes")
        return size

    async def _stat(self, provider: MountProvider, name: str, path: str) -> dict:
        return self.kept[name].over(path, _stat(await provider.stat(path)))

    async def _set(self, provider, name: str, path: str, *, new: bool = False, **attr) -> None:
        """``mode=`` or ``mtime=`` through the provider; where it cannot (ENOSYS), the table
        keeps it. ``new``: the table just made ``path``, so it need not check it exists."""
        ((key, value),) = attr.items()
        try:
            await (provider.chmod if key == "mode" else provider.utime)(path, value)
        except OSError as exc:
            if exc.errno != errno.ENOSYS:
                raise
            if not new:
                await provider.stat(path)
            self.kept[name].set(path, **attr)

    async def _new_mode(self, provider, name: str, path: str, request: dict) -> None:
        """The mode asked for by open(O_CREAT) or mkdir, less the umask."""
        if "mode" in request:
            mode = _int(request["mode"]) & 0o7777 & ~UMASK
            await self._set(provider, name, path, new=True, mode=mode)

    async def _made(self, provider, name: str, path: str) -> dict:
        """The reply to create, mkdir and symlink, with the new entry's stat where there is one."""
        try:
            return {"ok": True, "stat": await self._stat(provider, name, path)}
        except OSError:
            return {"ok": True}

    async def _exists(self, provider: MountProvider, path: str) -> bool:
        try:
            await provider.stat(path)
        except FileNotFoundError:
            return False
        return True

    def _record(self, name: str, path: str, change: str) -> None:
        key = f"/mnt/{name}/{path}"
        before = self.changes.get(key)
        if before == "created" and change == "deleted":
            del self.changes[key]  # made and removed within one run: nothing to report
        elif before == "created" and change == "modified":
            pass
        elif before == "deleted" and change == "created":
            self.changes[key] = "modified"
        else:
            self.changes[key] = change


class Kept:
    """Modes and times a provider could not store, by path, for one mount."""

    def __init__(self) -> None:
        self.by_path: dict[str, dict] = {}

    def over(self, path: str, stat: dict) -> dict:
        return {**stat, **self.by_path.get(path, {})}

    def set(self, path: str, **attrs) -> None:
        self.by_path.setdefault(path, {}).update(attrs)

    def touched(self, path: str) -> None:
        """New content: the provider's own mtime holds again."""
        self.by_path.get(path, {}).pop("mtime", None)

    def forget(self, path: str) -> None:
        self.moved(path, None)

    def moved(self, src: str, dst: str | None) -> None:
        """``src`` and everything below it now live at ``dst`` (None: gone)."""
        if dst is not None:
            self.forget(dst)
        for path in [p for p in self.by_path if p == src or p.startswith(src + "/")]:
            attrs = self.by_path.pop(path)
            if dst is not None:
                self.by_path[dst + path[len(src) :]] = attrs


def _stat(stat: Stat) -> dict:
    out = {"dir": bool(stat.is_dir), "size": max(int(stat.size), 0), "mtime": float(stat.mtime)}
    if isinstance(stat.mode, int):
        out["mode"] = stat.mode & 0o7777
    if isinstance(stat.link, str):
        out["link"] = stat.link
    return out


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise OSError(errno.EINVAL, "expected a non-negative integer")
    return value


def _plain_name(name: object) -> bool:
    if not isinstance(name, str) or not name or "/" in name:
        return False
    try:
        clean(name)
    except OSError:
        return False
    return True


#: errno for OSError subclasses raised without one (``FileNotFoundError(path)``).
ERRNO_BY_CLASS = [
    (FileNotFoundError, errno.ENOENT), (FileExistsError, errno.EEXIST),
    (IsADirectoryError, errno.EISDIR), (NotADirectoryError, errno.ENOTDIR),
    (PermissionError, errno.EACCES), (TimeoutError, errno.ETIMEDOUT),
]  # fmt: skip


def _errno_of(exc: OSError) -> int:
    if exc.errno in errno.errorcode:
        return exc.errno
    return next((code for cls, code in ERRNO_BY_CLASS if isinstance(exc, cls)), errno.EIO)


def _error(code: int, message: str) -> dict:
    return {"errno": errno.errorcode.get(code, "EIO"), "message": message}
