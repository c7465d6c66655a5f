"""Resolve packages for a sandbox on the host: bundled Pyodide packages or pure wheels.

The sandbox has no network, so `micropip.install` inside it and `Sandbox.install`
both end here. A requirement names either a Pyodide package (loaded from the
verified offline set) or a PyPI project, for which the newest release with a
pure-Python wheel (``py3-none-any``) is fetched, checked against the sha256 PyPI
publishes, and cached in ``$THROWAWAY_HOME/wheels``. Dependencies are followed
with markers evaluated for Pyodide (Python 3.12 on emscripten/wasm32).
"""

from __future__ import annotations

import email.parser
import hashlib
import io
import zipfile
from collections.abc import Collection
from dataclasses import dataclass, field

import httpx
from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from throwaway.atomicfile import write_atomic
from throwaway.errors import InstallError
from throwaway.sandbox.assets import home
from throwaway.sandbox.pypi_index import SIMPLE_JSON, newest_pure_wheel, simple_index_url

PYODIDE_ENV = {
    "python_version": "3.12", "python_full_version": "3.12.7", "sys_platform": "emscripten",
    "platform_system": "Emscripten", "os_name": "posix", "platform_machine": "wasm32",
    "implementation_name": "cpython", "platform_python_implementation": "CPython",
}  # fmt: skip
MAX_PACKAGES = 100


@dataclass
class Bundle:
    """What to hand the sandbox: wheel files, and Pyodide packages to load."""

    wheels: list[tuple[str, bytes]] = field(default_factory=list)
    pyodide: list[str] = field(default_factory=list)

    def meta(self) -> dict:
        wheels = [[name, len(data)] for name, data in self.wheels]
        return {"wheels": wheels, "pyodide": self.pyodide}

    def blob(self) -> bytes:
        return b"".join(data for _, data in self.wheels)


async def resolve(
    requirements: list[str],
    lock: dict,
    available: Collection[str],
    allow: bool | Collection[str] = True,
    deps: bool = True,
) -> Bundle:
    """Resolve requirements to a Bundle; InstallError says what went wrong."""
    bundle, seen = Bundle(), set()
    todo = [_parse(r) for r in requirements]
    async with httpx.AsyncClient(timeout=30, follow_redirects=True) as http:
        while todo:
            req = todo.pop(0)
            name = canonicalize_name(req.name)
            if name in seen:
                continue
            seen.add(name)
            if len(seen) > MAX_PACKAGES:
                raise InstallError(f"more than {MAX_PACKAGES} packages to install; giving up")
            if name in lock:
                bundle.pyodide.append(_bundled(name, available))
                continue
            _check_allowed(name, allow)
            filename, data, requires = await _fetch_wheel(http, req)
            bundle.wheels.append((filename, data))
            if deps:
                todo.extend(_dependencies(requires, req.extras))
    return bundle


def _parse(text: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        raise InstallError(f"{text!r} is not a valid requirement ({exc})") from None


def _bundled(name: str, available: Collection[str]) -> str:
    if name not in available:
        raise InstallError(
            f"{name} is a Pyodide package but is not in the offline set; "
            "run `throwaway setup` with THROWAWAY_PYODIDE_MIRROR pointing at the package files"
        )
    return name


def _check_allowed(name: str, allow: bool | Collection[str]) -> None:
    if allow is True:
        return
    if allow is False:
        raise InstallError("installing packages from PyPI is disabled for this sandbox")
    if name not in {canonicalize_name(a) for a in allow}:
        raise InstallError(f"{name} is not on this sandbox's list of installable packages")


def _dependencies(requires: list[str] | None, extras: set[str]) -> list[Requirement]:
    out = []
    for text in requires or []:
        req = Requirement(text)
        if req.marker is None or any(_marker_ok(req.marker, e) for e in (extras or {""})):
            out.append(req)
    return out


def _marker_ok(marker: Marker, extra: str) -> bool:
    return marker.evaluate({**PYODIDE_ENV, "extra": extra})


async def _fetch_wheel(http: httpx.AsyncClient, req: Requirement) -> tuple[str, bytes, list]:
    """The newest pure wheel matching req: (filename, bytes, requires_dist)."""
    file = newest_pure_wheel(await _project_files(http, req.name), req.specifier)
    if file is None:
        raise InstallError(
            f"{req} has no pure-Python wheel (py3-none-any) on PyPI. Packages with compiled "
            "code only run in Pyodide when Pyodide bundles them."
        )
    data = await _download(http, file)
    return file["filename"], data, _requires_dist(data)


async def _project_files(http: httpx.AsyncClient, name: str) -> list[dict]:
    try:
        response = await http.get(simple_index_url(name), headers=SIMPLE_JSON)
    except httpx.HTTPError as exc:
        raise InstallError(f"could not reach PyPI for {name}: {exc}") from None
    if response.status_code == 404:
        raise InstallError(f"no package named {name!r} on PyPI")
    if response.status_code != 200:
        raise InstallError(f"PyPI answered {response.status_code} for {name}")
    return response.json().get("files", [])


def _requires_dist(wheel: bytes) -> list[str]:
    """Requires-Dist lines from the wheel's METADATA."""
    with zipfile.ZipFile(io.BytesIO(wheel)) as zf:
        name = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA")), None)
        if name is None:
            return []
        metadata = email.parser.BytesParser().parsebytes(zf.read(name))
    return metadata.get_all("Requires-Dist") or []


async def _download(http: httpx.AsyncClient, file: dict) -> bytes:
    sha256 = file["hashes"]["sha256"]
    cached = home() / "wheels" / file["filename"]
    if cached.is_file() and hashlib.sha256(cached.read_bytes()).hexdigest() == sha256:
        return cached.read_bytes()
    try:
        data = (await http.get(file["url"])).raise_for_status().content
    except httpx.HTTPError as exc:
        raise InstallError(f"downloading {file['filename']} failed: {exc}") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise InstallError(f"{file['filename']} does not match the sha256 PyPI publishes")
    write_atomic(cached, data)
    return data
