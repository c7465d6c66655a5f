"""WorkspaceMirror: the host's copy of a sandbox's /workspace.

/workspace lives in the interpreter's memory, which is gone when the interpreter
is restarted (a hard timeout, a crash, a killed process). After every run the
host copies the files the run created or changed (and forgets deleted ones), so
a restarted interpreter gets its files back: variables are lost, files are not.
The copy is kept in a private temporary folder on the host.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
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
