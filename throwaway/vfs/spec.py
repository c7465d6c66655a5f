"""Mount specs as typed on the command line: ``NAME=SOURCE[:rw|:ro]``.

data=./data                      a local folder, read-only
out=./out:rw                     a local folder, writable
web=https://example.org/x.json   one web resource, as /mnt/web/x.json
s3=s3://bucket/prefix:rw         any fsspec URL
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from throwaway.vfs.localdir import LocalDir
from throwaway.vfs.provider import MountProvider
from throwaway.vfs.table import check_mount_name

EXAMPLE = "data=./data, out=./out:rw or web=https://example.org/x.json"
MODES = {"ro": "read-only, the default", "rw": "writable"}


@dataclass(frozen=True)
class MountSpec:
    """One mount, parsed and checked: ``source`` is an absolute folder or a URL."""

    name: str
    source: str
    writable: bool = False

    @classmethod
    def parse(cls, text: str) -> MountSpec:
        """The spec ``NAME=SOURCE[:rw|:ro]``; ValueError saying what is wrong otherwise."""
        name, sep, source = text.partition("=")
        if not sep or not name:
            raise ValueError(f"{text!r} is not NAME=SOURCE (for example {EXAMPLE})")
        _check_mode(name, source)
        writable = source.endswith(":rw")
        if source.endswith((":rw", ":ro")):
            source = source[:-3]
        return cls(name, source, writable)

    def __post_init__(self) -> None:
        check_mount_name(self.name)
        if not self.source:
            raise ValueError(f"{self.name}: give a SOURCE after '=' (for example {EXAMPLE})")
        scheme = self.scheme
        if scheme in ("http", "https") and self.writable:
            raise ValueError(f"{self.name}: web resources are read-only; drop ':rw'")
        if not scheme:
            path = os.path.abspath(os.path.expanduser(self.source))  # workers may run elsewhere
            if not os.path.isdir(path):
                raise ValueError(f"{self.name}: {self.source} is not a folder (e.g. {EXAMPLE})")
            object.__setattr__(self, "source", path)

    @classmethod
    def load(cls, value: str | dict[str, Any]) -> MountSpec:
        """A spec from ``to_json`` or from ``NAME=SOURCE[:rw]`` text (a run's parameters)."""
        return cls.parse(value) if isinstance(value, str) else cls(**value)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.name}={self.source}{':rw' if self.writable else ''}"

    @property
    def scheme(self) -> str:
        """The URL scheme of the source; "" for a local folder."""
        return urlsplit(self.source).scheme if "://" in self.source else ""

    def provider(self) -> MountProvider:
        """The provider that serves this mount."""
        if self.scheme in ("http", "https"):
            from throwaway.vfs.http import Http  # httpx loads only for a web mount

            file_name = posixpath.basename(urlsplit(self.source).path) or "index.html"
            return Http({file_name: self.source})
        if self.scheme:
            from throwaway.vfs.fsspecfs import Fsspec  # fsspec loads only for its URLs

            return Fsspec(self.source, writable=self.writable)
        return LocalDir(Path(self.source), writable=self.writable)


def providers(mounts: list[MountSpec]) -> dict[str, MountProvider]:
    """``{name: provider}`` for ``Sandbox(mounts=...)``."""
    return {m.name: m.provider() for m in mounts}


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
