"""`throwaway doctor`: is everything throwaway needs in place, and if not, what to do.

Each check gives a :class:`Check`: what it found, and for a failure what fixes it.
Checks that need the Pyodide files are skipped while those are not whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import deno
import psycopg

from throwaway.durable.database import URL_ENV, data_dir, database_url, one_line
from throwaway.errors import ThrowawayError
from throwaway.sandbox import assets, bytecode, warmup
from throwaway.sandbox.assets import Assets
from throwaway.sandbox.sandbox import Sandbox

SETUP = "run `throwaway setup`"
NEEDS_PYODIDE = "needs the Pyodide files (above)"
REINSTALL_DENO = "reinstall it: pip install --force-reinstall deno (in throwaway's environment)"


@dataclass(frozen=True)
class Check:
    """One thing checked: ``status`` is "ok", "fail" or "skip"; ``fix`` says what to do."""

    name: str
    status: str
    detail: str
    fix: str = ""


def checks() -> Iterator[Check]:
    """Every check, in order; each is run as it is asked for."""
    pyodide = _pyodide(assets.find_assets())
    yield pyodide
    found = assets.find_assets() if pyodide.status == "ok" else None
    yield _warm(found)
    yield _deno()
    yield _sandbox(found)
    yield _database()
    yield _cache()


def _pyodide(found: Assets | None) -> Check:
    name = f"Pyodide {assets.PYODIDE_VERSION}"
    if found is None:
        return Check(name, "fail", f"not set up in {assets.home()}", SETUP)
    changed = found.changed_packages()
    if changed:
        return Check(name, "fail", f"files missing or changed: {', '.join(changed)}",
                     f"{SETUP} (it fetches them again)")  # fmt: skip
    count = len(found.available_packages())
    return Check(name, "ok", f"in {found.root}: {count} packages, each matching the lock")


def _warm(found: Assets | None) -> Check:
    name = "warm-up"
    if found is None:
        return Check(name, "skip", NEEDS_PYODIDE)
    wanted = {
        "font cache": warmup.font_cache_path(found),
        "code cache": warmup.code_cache_path(found),
        "snapshot of Python": warmup.snapshot_path(found),
        **{f"snapshot of {', '.join(p)}": warmup.snapshot_path(found, p)
           for p in warmup.preload_sets()},
    }  # fmt: skip
    missing = [what for what, path in wanted.items() if not path.is_file()]
    if bytecode.package_dir(found) != bytecode.compiled_dir(found):
        missing.append("compiled packages")
    if missing:
        return Check(name, "fail", f"not made yet: {'; '.join(missing)} (sandboxes start slower)",
                     f"{SETUP} (about a minute)")  # fmt: skip
    return Check(name, "ok", f"compiled packages, font cache and {len(wanted) - 2} snapshots")


def _deno() -> Check:
    try:
        binary = deno.find_deno_bin()
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return Check("Deno", "fail", f"does not run: {exc}", REINSTALL_DENO)
    if out.returncode != 0:
        return Check("Deno", "fail", f"{binary} --version failed: {out.stderr.strip()[-300:]}",
                     REINSTALL_DENO)  # fmt: skip
    return Check("Deno", "ok", f"{out.stdout.split()[1]} runs ({binary})")


def _sandbox(found: Assets | None) -> Check:
    if found is None:
        return Check("sandbox", "skip", NEEDS_PYODIDE)
    try:  # from the plain snapshot if there is one (none is made here)
        version, seconds = asyncio.run(_run_python(warmup.snapshot_path(found).is_file()))
    except (ThrowawayError, OSError) as exc:
        return Check("sandbox", "fail", f"did not start: {exc}",
                     f"{SETUP}; if it still fails, report the message above")  # fmt: skip
    return Check("sandbox", "ok", f"starts and runs Python {version} ({seconds:.1f} s)")


async def _run_python(snapshots: bool) -> tuple[str, float]:
    started = time.perf_counter()
    async with Sandbox(timeout=60, preload=(), snapshot=snapshots) as sandbox:
        result = await sandbox.run("import platform; platform.python_version()")
    if not result.ok:
        raise OSError(str(result.error))
    return result.result.strip("'"), time.perf_counter() - started


def _database() -> Check:
    env = os.environ.get(URL_ENV)
    where = f"${URL_ENV}" if env else f"embedded, in {data_dir() / 'postgres'}"
    if env:
        fix = (f"check ${URL_ENV} (postgresql://USER@HOST:5432/DBNAME), or unset it to use "
               "the embedded Postgres")  # fmt: skip
    else:
        fix = "see the log named above; `throwaway db stop`, then try again"
    try:
        with psycopg.connect(database_url(), connect_timeout=10) as conn:
            version = conn.execute("show server_version").fetchone()[0]
    except ThrowawayError as exc:
        return Check("database", "fail", str(exc), fix)
    except psycopg.Error as exc:
        return Check("database", "fail", f"{where}: cannot connect: {one_line(exc)}", fix)
    return Check("database", "ok", f"PostgreSQL {version} ({where}) answers")


def _cache() -> Check:
    folder = assets.home()
    name = "cache folder"
    fix = "make it writable, or point $THROWAWAY_HOME at a folder you can write"
    if folder.exists() and not folder.is_dir():
        return Check(name, "fail", f"{folder} is not a folder", fix)
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        return Check(name, "fail", f"{existing} is not writable ({exc.strerror})", fix)
    if existing != folder:
        return Check(name, "ok", f"{folder}: not made yet (setup makes it)")
    size = _size(folder)
    shown = f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"
    return Check(name, "ok", f"{folder}: writable, {shown}")


def _size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for file in files:
            with contextlib.suppress(OSError):  # removed meanwhile
                total += os.lstat(os.path.join(root, file)).st_size
    return total
