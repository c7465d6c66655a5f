"""WorkspaceMirror: the host's copy of a sandbox's /workspace.

/workspace lives in the interpreter's memory, which is gone when the interpreter
is restarted (a hard timeout, a crash, a killed process). After every run the
host copies the files the run created or changed (and forgets deleted ones), so
a restarted interpreter gets its files back: variables are lost, files are not.
The copy is kept in a private temporary folder on the host, written in chunks.

The copy is bounded: at most ``limit_bytes`` in all and ``max_files`` files.
A file that does not fit is left out (and an older copy of it dropped), and the
caller tells the model so; nothing is lost silently.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from throwaway.atomicfile import atomic_writer

WORKSPACE = "/workspace"
#: Bytes of /workspace kept across restarts and in snapshots.
WORKSPACE_LIMIT = 512 << 20
#: Files of /workspace kept across restarts and in snapshots.
MAX_FILES = 10_000


class MirrorFull(Exception):
    """The file does not fit in the mirror's limits; the message says which."""


class WorkspaceMirror:
    """Files under /workspace, by sandbox path, stored on the host."""

    def __init__(self, limit_bytes: int = WORKSPACE_LIMIT, max_files: int = MAX_FILES) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="throwaway-workspace-")
        self._paths: dict[str, Path] = {}
        self._sizes: dict[str, int] = {}
        self.limit_bytes, self.max_files = limit_bytes, max_files

    @staticmethod
    def covers(path: str) -> bool:
        return path.startswith(WORKSPACE + "/")

    @property
    def total_bytes(self) -> int:
        return sum(self._sizes.values())

    def check_room(self, path: str, size: int) -> None:
        """MirrorFull unless a file of ``size`` bytes at ``path`` fits."""
        others = self.total_bytes - self._sizes.get(path, 0)
        if others + size > self.limit_bytes:
            limit = self.limit_bytes >> 20
            raise MirrorFull(f"/workspace keeps at most {limit} MB across restarts")
        if path not in self._paths and len(self._paths) >= self.max_files:
            raise MirrorFull(f"/workspace keeps at most {self.max_files:,} files across restarts")

    @contextlib.contextmanager
    def writer(self, path: str, size: int) -> Iterator[BinaryIO]:
        """A file to write ``path``'s new content into; kept only if the block succeeds."""
        self.check_room(path, size)
        stored = Path(self._dir.name) / hashlib.sha256(path.encode()).hexdigest()
        with atomic_writer(stored) as out:
            yield out
            out.flush()
            if os.fstat(out.fileno()).st_size != size:
                raise MirrorFull(f"{path} changed size while it was being saved")
        self._paths[path], self._sizes[path] = stored, size

    def put(self, path: str, data: bytes) -> None:
        with self.writer(path, len(data)) as out:
            out.write(data)

    def delete(self, path: str) -> None:
        stored = self._paths.pop(path, None)
        self._sizes.pop(path, None)
        if stored:
            stored.unlink(missing_ok=True)

    def files(self) -> Iterator[tuple[str, bytes]]:
        for path, stored in sorted(self._paths.items()):
            yield path, stored.read_bytes()

    def close(self) -> None:
        self._dir.cleanup()
        self._paths.clear()
        self._sizes.clear()


def pack(files: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip of (sandbox path, content) pairs, byte-identical for identical files."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in sorted(files):
            info = zipfile.ZipInfo(path.removeprefix(WORKSPACE + "/"), (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def unpack(data: bytes) -> list[tuple[str, bytes]]:
    """The (sandbox path, content) pairs of a `pack` zip; unsafe names are skipped."""
    out = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            name = info.filename
            if info.is_dir() or name.startswith("/") or ".." in name.split("/"):
                continue
            out.append((f"{WORKSPACE}/{name}", zf.read(info)))
    return out
