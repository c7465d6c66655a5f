"""PyPI's simple index (PEP 691 JSON): where a project's files are listed, and which of
them a sandbox can use.

A project's listing is ``GET {index}/{project}/`` with the :data:`SIMPLE_JSON` header; its
``files`` are dicts with ``filename``, ``url``, ``hashes`` (``sha256``), ``requires-python``
and ``yanked``. A sandbox takes only pure-Python wheels (``py3-none-any``) that allow
Python 3.12. ``THROWAWAY_PYPI_URL`` points the client at a mirror.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
from packaging.specifiers import SpecifierSet
from packaging.utils import parse_wheel_filename
from packaging.version import InvalidVersion, Version

SIMPLE_JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def index_url() -> str:
    """PyPI's simple index (``THROWAWAY_PYPI_URL`` overrides, e.g. for a mirror)."""
    return os.environ.get("THROWAWAY_PYPI_URL", "https://pypi.org/simple").rstrip("/")


def simple_index_url(project: str) -> str:
    """Where a project's files are listed (PEP 691 JSON with the SIMPLE_JSON header)."""
    return f"{index_url()}/{project}/"


def simple_index(http: httpx.Client, project: str) -> list[dict]:
    """A project's files; raises httpx.HTTPError when the index cannot say."""
    response = http.get(simple_index_url(project), headers=SIMPLE_JSON)
    return response.raise_for_status().json()["files"]


def newest_pure_wheel(files: list[dict], spec: SpecifierSet | None = None) -> dict | None:
    """The simple-index entry of the newest pure-Python wheel that ``spec`` allows."""
    candidates = sorted(_pure_wheels(files, spec or SpecifierSet()), key=lambda c: c[0])
    return candidates[-1][1] if candidates else None


def _pure_wheels(files: list[dict], spec: SpecifierSet) -> Iterator[tuple[Version, dict]]:
    for file in files:
        if not _is_pure_wheel(file):
            continue
        version = parse_wheel_filename(file["filename"])[1]
        if version in spec and (not version.is_prerelease or spec.prereleases):
            yield version, file


def _is_pure_wheel(file: dict) -> bool:
    if not file.get("filename", "").endswith(".whl") or file.get("yanked"):
        return False
    requires_python = file.get("requires-python")
    try:
        if requires_python and "3.12" not in SpecifierSet(requires_python):
            return False
        tags = parse_wheel_filename(file["filename"])[3]
    except (ValueError, InvalidVersion):
        return False
    return any(t.abi == "none" and t.platform == "any" and t.interpreter.startswith("py3")
               for t in tags)  # fmt: skip
