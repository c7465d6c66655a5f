"""WorkspaceMirror: the host's copy of a sandbox's /workspace.

/workspace lives in the interpreter's memory, which is gone when the interpreter
is restarted (a hard timeout, a crash, a killed process). After every run the
host copies the files the run created or changed (and forgets deleted ones), so
a restarted interpreter gets its files back: variables are lost, files are not.
The copy is kept in a private temporary folder on the host.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

WORKSPACE = "/workspace"


class WorkspaceMirror:
    """Files under /workspace, by sandbox path, stored on the host."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="throwaway-workspace-")
        self._paths: dict[str, Path] = {}

    @staticmethod
    def covers(path: str) -> bool:
        return path.startswith(WORKSPACE + "/")

    def put(self, path: str, data: bytes) -> None:
        stored = Path(self._dir.name) / hashlib.sha256(path.encode()).hexdigest()
        stored.write_bytes(data)
        self._paths[path] = stored

    def delete(self, path: str) -> None:
        stored = self._paths.pop(path, None)
        if stored:
            stored.unlink(missing_ok=True)

    def files(self) -> Iterator[tuple[str, bytes]]:
        for path, stored in sorted(self._paths.items()):
            yield path, stored.read_bytes()

    def close(self) -> None:
        self._dir.cleanup()
        self._paths.clear()


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
