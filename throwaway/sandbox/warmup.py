"""Work done once per machine so that every sandbox starts faster.

- A Pyodide memory snapshot taken after loading the interpreter and warming up
  the pure-Python stdlib (no packages with C extensions: those break snapshots).
  Restoring it replaces a cold `loadPyodide` (see bench/sandbox_bench.py).
- matplotlib's font cache, built once in a sandbox and copied into each new one,
  so the first figure of a session does not spend seconds scanning fonts.

Both are derived from the verified runtime only (no user code runs), stored in
the read-only asset folder, and keyed by the runtime's content, so a change to
the runtime files makes new ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from pathlib import Path

from throwaway.sandbox.assets import PYODIDE_VERSION, Assets, write_atomic
from throwaway.sandbox.process import RUNTIME_DIR, SandboxProcess

#: Where Pyodide's matplotlib keeps its font list (its wheel ships a stale one).
log = logging.getLogger(__name__)
_failed: set[Path] = set()

FONT_CACHE = "/lib/python3.12/site-packages/matplotlib/fontlist.json"
#: Where a new sandbox finds ours; runner.py copies it over after loading matplotlib.
FONT_CACHE_STAGED = "/lib/throwaway/fontlist.json"


def runtime_key() -> str:
    """Changes whenever the Deno-side runtime or Pyodide changes."""
    digest = hashlib.sha256(PYODIDE_VERSION.encode())
    for name in sorted(p.name for p in RUNTIME_DIR.iterdir() if p.suffix in (".js", ".py")):
        digest.update((RUNTIME_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def snapshot_path(assets: Assets) -> Path:
    return assets.root / "warm" / f"snapshot-{runtime_key()}.bin"


def font_cache_path(assets: Assets) -> Path:
    return assets.root / "warm" / "fontlist.json"  # depends on Pyodide's matplotlib only


async def ensure_snapshot(assets: Assets, config: dict) -> Path | None:
    """The memory snapshot, made now if missing; None if it cannot be made."""
    path = snapshot_path(assets)
    if path.is_file():
        return path
    if path in _failed:
        return None
    process = SandboxProcess(assets, {**config, "makeSnapshot": True}, _no_calls)
    try:
        await process.start()
    except Exception as exc:
        log.warning("could not make a memory snapshot; starting cold: %s", exc)
    finally:
        await process.close()
    if not process.snapshot:
        _failed.add(path)  # do not pay for a failing attempt at every start
        return None
    _drop_unused_snapshots(path.parent)
    write_atomic(path, process.snapshot)
    return path


async def ensure_font_cache(assets: Assets, sandbox_factory) -> Path | None:
    """matplotlib's font list, built in a throwaway sandbox if missing."""
    path = font_cache_path(assets)
    if path.is_file():
        return path
    async with sandbox_factory() as sandbox:
        result = await sandbox.run("import matplotlib.font_manager", timeout=120)
        if not result.ok:
            return None
        data = await sandbox.read_file(FONT_CACHE)
    write_atomic(path, data)
    return path


def _drop_unused_snapshots(folder: Path) -> None:
    """Snapshots of other runtime versions, unused for a week, go."""
    for old in folder.glob("snapshot-*.bin"):
        if time.time() - old.stat().st_atime > 7 * 86400:
            old.unlink(missing_ok=True)


async def _no_calls(op: str, payload: str, blob: bytes):
    await asyncio.sleep(0)
    return {"error": "no calls while making a snapshot"}, b""
