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

from throwaway.vfs.localdir import LocalDir
from throwaway.vfs.provider import MountProvider
from throwaway.vfs.table import check_mount_name

EXAMPLE = "data=./data, out=./out:rw or web=https://example.org/x.json"


def parse_mount(text: str) -> tuple[str, MountProvider]:
    """``(name, provider)`` for a spec; ValueError saying what is wrong otherwise."""
    name, sep, source = text.partition("=")
    if not sep or not name or not source:
        raise ValueError(f"{text!r} is not NAME=SOURCE (for example {EXAMPLE})")
    check_mount_name(name)
    writable = source.endswith(":rw")
    if source.endswith((":rw", ":ro")):
        source = source[:-3]
    scheme = urlsplit(source).scheme if "://" in source else ""
    if scheme in ("http", "https"):
        if writable:
            raise ValueError(f"{name}: web resources are read-only; drop ':rw'")
        from throwaway.vfs.http import Http  # httpx loads only for a web mount

        file_name = posixpath.basename(urlsplit(source).path) or "index.html"
        return name, Http({file_name: source})
    if scheme:
        from throwaway.vfs.fsspecfs import Fsspec  # fsspec loads only for its URLs

        return name, Fsspec(source, writable=writable)
    path = Path(source).expanduser()
    if not path.is_dir():
        raise ValueError(f"{name}: {source} is not a folder (for example {EXAMPLE})")
    return name, LocalDir(path, writable=writable)
