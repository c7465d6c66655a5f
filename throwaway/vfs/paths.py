"""Checking paths that come out of the sandbox, before any provider sees them."""

from __future__ import annotations

import errno

from throwaway.vfs.provider import oserror

MAX_PATH = 4096
MAX_NAME = 255


def clean(path: object) -> str:
    """A mount-relative path as providers expect it, or OSError.

    Accepts ``""`` (the root) and ``"a/b"``; refuses anything else that could
    name a place outside the mount or confuse a provider.
    """
    if not isinstance(path, str):
        raise oserror(errno.EINVAL, repr(path))
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH:
        raise oserror(errno.ENAMETOOLONG, path[:80] + "…")
    if path == "":
        return ""
    if "\0" in path or path.startswith("/"):
        raise oserror(errno.EACCES, path)
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise oserror(errno.EACCES, path)
        if len(part.encode("utf-8", "surrogatepass")) > MAX_NAME:
            raise oserror(errno.ENAMETOOLONG, path[:80] + "…")
        if any(0xD800 <= ord(c) <= 0xDFFF for c in part):
            raise oserror(errno.EINVAL, path.encode("utf-8", "replace").decode())
    return path


def parent(path: str) -> str:
    return path.rpartition("/")[0]


def basename(path: str) -> str:
    return path.rpartition("/")[2]
