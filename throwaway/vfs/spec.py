"""Mount specs as typed on the command line: ``NAME=SOURCE[:rw|:ro]``.

data=./data                      a local folder, read-only
out=./out:rw                     a local folder, writable
web=https://example.org/x.json   one web resource, as /mnt/web/x.json
s3=s3://bucket/prefix:rw         any fsspec URL
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import urlsplit

from throwaway.vfs.fsspecfs import Fsspec
from throwaway.vfs.http import Http
from throwaway.vfs.localdir import LocalDir
from throwaway.vfs.provider import MountProvider
from throwaway.vfs.table import check_mount_name

EXAMPLE = "data=./data, out=./out:rw or web=https://example.org/x.json"
MODES = {"ro": "read-only, the default", "rw": "writable"}


def parse_mount(text: str) -> tuple[str, MountProvider]:
    """``(name, provider)`` for a spec; ValueError saying what is wrong otherwise."""
    name, sep, source = text.partition("=")
    if not sep or not name or not source:
        raise ValueError(f"{text!r} is not NAME=SOURCE (for example {EXAMPLE})")
    check_mount_name(name)
    _check_mode(name, source)
    writable = source.endswith(":rw")
    if source.endswith((":rw", ":ro")):
        source = source[:-3]
    scheme = urlsplit(source).scheme if "://" in source else ""
    if scheme in ("http", "https"):
        if writable:
            raise ValueError(f"{name}: web resources are read-only; drop ':rw'")
        file_name = posixpath.basename(urlsplit(source).path) or "index.html"
        return name, Http({file_name: source})
    if scheme:
        return name, Fsspec(source, writable=writable)
    path = Path(source).expanduser()
    if not path.is_dir():
        raise ValueError(f"{name}: {source} is not a folder (for example {EXAMPLE})")
    return name, LocalDir(path, writable=writable)


def _check_mode(name: str, source: str) -> None:
    """ValueError for a mode suffix that is neither :ro nor :rw (``data=./:rx``); a folder
    whose own name ends that way is a folder."""
    _, sep, mode = source.rpartition(":")
    if not sep or not mode.isalpha() or len(mode) > 5 or mode in MODES:
        return
    if "://" not in source and Path(source).expanduser().is_dir():
        return
    valid = " and ".join(f":{m} ({what})" for m, what in MODES.items())
    raise ValueError(f"{name}: ':{mode}' is not a mount mode; the modes are {valid}")
