"""Replacing a file whole: readers, and other processes writing it, never see half of it.

The new content goes to a hidden temporary file beside the target (same folder, so the
same file system: ``.throwaway-<pid>-<random>.part``), which is renamed over the target
only once it is complete. If the writing fails, the target is untouched and the
temporary file is gone.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_writer(path: Path, mode: int | None = None) -> Iterator[BinaryIO]:
    """A file to write ``path``'s new content into, put in place if the block succeeds.

    ``mode`` (permission bits) is set on the new file before it replaces the old one.
    """
    tmp = path.with_name(f".throwaway-{os.getpid()}-{secrets.token_hex(4)}.part")  # any name fits
    try:
        with open(tmp, "wb") as out:
            yield out
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole, making its folder if need be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as out:
        out.write(data)
