"""Work done once per machine so that every sandbox starts faster.

- Memory snapshots (runtime/snapshot.js): the interpreter after warming up the
  pure-Python stdlib, and, for a set of packages (by default numpy, pandas,
  matplotlib with its Agg backend and fonts, and PIL), after importing them.
  Restoring one replaces a cold `loadPyodide` and the package imports, which
  take seconds (see bench/snapshot_bench.py).
- matplotlib's font cache, built once in a sandbox and copied into each new one,
  so the first figure of a session does not spend seconds scanning fonts.

All are derived from the verified runtime only (no user code runs), stored in
the read-only asset folder, and keyed by everything they depend on: the
runtime's files, each package's sha256 in the lock, the font cache, and the
imports. A snapshot that fails to restore is not used again by this process;
the sandbox starts from the plain one instead.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import hashlib
import logging
import os
import struct
import time
from collections.abc import Iterable
from pathlib import Path

from throwaway.atomicfile import write_atomic
from throwaway.sandbox import bytecode
from throwaway.sandbox.assets import PYODIDE_VERSION, Assets, closure
from throwaway.sandbox.process import (
    RUNTIME_DIR,
    SandboxProcess,
    boot_config,
    code_cache_path,
    runtime_modules,
)

log = logging.getLogger(__name__)
_failed: set[Path] = set()

FONT_CACHE = "/lib/python3.12/site-packages/matplotlib/fontlist.json"
#: Where a new sandbox finds ours; runner.py copies it over after loading matplotlib.
FONT_CACHE_STAGED = "/lib/throwaway/fontlist.json"

#: The packages a sandbox gets already imported when its code needs any of them,
#: smallest set first: the data stack, then with scipy and scikit-learn (a bigger
#: heap: ~0.8 GB per sandbox instead of ~0.5, so only for code that imports them).
#: ``$THROWAWAY_PRELOAD`` ("numpy,pandas", or "" for none) names the only set.
DEFAULT_PRELOAD = ("matplotlib", "numpy", "pandas", "pillow")
SCIENCE_PRELOAD = (*DEFAULT_PRELOAD, "scikit-learn", "scipy")
#: What importing a package means for its snapshot (default: its top module).
IMPORTS = {
    "matplotlib": "import matplotlib, matplotlib.pyplot",
    "pillow": "import PIL.Image",
    "scipy": "import scipy.linalg, scipy.optimize, scipy.stats",
    "scikit-learn": "import sklearn.linear_model, sklearn.model_selection",
}
#: Work done before the snapshot, so that the first real use is quick too
#: (needed packages, code): pandas' plotting, for one, is a big import of its own.
WARM_UP = (
    ({"pandas"}, "import io, pandas\n"
     "pandas.read_csv(io.StringIO('a,b\\n1,x\\n2,y')).groupby('b').sum()"),
    ({"matplotlib"}, "import io, matplotlib.pyplot as plt\n"
     "fig, ax = plt.subplots(); ax.plot([1, 2], [1, 4]); ax.set_title('warm $x^2$')\n"
     "fig.savefig(io.BytesIO(), format='png'); plt.close('all')"),
    ({"pandas", "matplotlib"}, "import io, pandas, matplotlib.pyplot as plt\n"
     "pandas.DataFrame({'x': [1, 2], 'y': [3, 4]}).plot(x='x', y='y')\n"
     "plt.savefig(io.BytesIO(), format='png'); plt.close('all')"),
)  # fmt: skip
#: Run right after a restore: a snapshot that restores wrong fails here, at boot.
CHECKS = {
    "numpy": "import numpy; assert numpy.add(1, 2) == 3",
    "pandas": "import pandas; assert pandas.Series([1, 2]).sum() == 3",
}
HEADER = struct.Struct("<8sIQQ")
HEAP_HEADROOM = 32 << 20


def preload_sets() -> tuple[tuple[str, ...], ...]:
    """The configured preload sets, smallest first (``$THROWAWAY_PRELOAD`` names one)."""
    env = os.environ.get("THROWAWAY_PRELOAD")
    if env is None:
        return (DEFAULT_PRELOAD, SCIENCE_PRELOAD)
    names = tuple(sorted({name.strip() for name in env.split(",") if name.strip()}))
    return (names,) if names else ()


def default_preload() -> tuple[str, ...]:
    """The smallest configured preload set: what warm pools keep ready."""
    return next(iter(preload_sets()), ())


def preload_for(code: str, lock: dict) -> tuple[str, ...] | None:
    """The smallest preload set with every preloadable package the code imports, or
    None if it imports none of them."""
    sets = preload_sets()
    offered = {name for names in sets for name in names}
    needed = imported_packages(code, lock) & offered
    if not needed:
        return None
    return next((names for names in sets if needed <= set(names)), sets[-1])


@functools.cache
def runtime_key() -> str:
    """Changes whenever the Deno-side runtime or Pyodide changes."""
    digest = hashlib.sha256(PYODIDE_VERSION.encode())
    for name in sorted(p.name for p in RUNTIME_DIR.iterdir() if p.suffix in (".js", ".py")):
        digest.update((RUNTIME_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def snapshot_path(assets: Assets, packages: Iterable[str] = ()) -> Path:
    """Where the snapshot of this package set lives; its name is its key."""
    packages = sorted(set(packages))
    digest = hashlib.sha256(runtime_key().encode())
    if packages:
        lock = assets.lock["packages"]
        for name in closure(assets.lock, packages):
            digest.update(f"{name}={lock[name]['sha256']};".encode())
        digest.update(_snapshot_code(assets, packages).encode())
        fonts = font_cache_path(assets)
        digest.update(fonts.read_bytes() if fonts.is_file() else b"")
        digest.update(bytecode.package_dir(assets).name.encode())  # with .pyc files or not
    return assets.root / "warm" / f"snapshot-{digest.hexdigest()[:16]}.bin"


def font_cache_path(assets: Assets) -> Path:
    return assets.root / "warm" / "fontlist.json"  # depends on Pyodide's matplotlib only


def heap_size(path: Path) -> int:
    """Bytes of wasm memory a snapshot restores into (read from its header)."""
    with path.open("rb") as f:
        magic, _meta, heap, _files = HEADER.unpack(f.read(HEADER.size))
    if magic != b"TWSNAP01":
        raise ValueError(f"{path} is not a throwaway snapshot")
    return heap


def fits(path: Path, memory_mb: int) -> bool:
    """Whether a sandbox capped at memory_mb can restore this snapshot and still work."""
    return heap_size(path) + HEAP_HEADROOM <= memory_mb << 20


def imported_packages(code: str, lock: dict) -> set[str]:
    """The lock's packages whose modules the code imports (anywhere in it)."""
    by_module = {m: name for name, info in lock.items() for m in info.get("imports", [])}
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        else:
            continue
        found.update(by_module[n.split(".")[0]] for n in names if n.split(".")[0] in by_module)
    return found


def mark_failed(path: Path, reason: str) -> None:
    """Do not use this snapshot again in this process."""
    _failed.add(path)
    log.warning("the memory snapshot %s did not restore; starting without it: %s", path, reason)


async def ensure_snapshot(assets: Assets, packages: Iterable[str] = ()) -> Path | None:
    """The memory snapshot of this package set, made now if missing; None if it cannot be."""
    packages = sorted(set(packages))
    path = snapshot_path(assets, packages)
    if path in _failed:
        return None
    if path.is_file() and (packages or code_cache_path(assets).is_file()):
        return path
    if packages:
        log.warning("making a memory snapshot with %s (once per machine)", ", ".join(packages))
    make = {
        "packages": packages,
        "imports": _snapshot_code(assets, packages),
        "check": "\n".join(CHECKS[p] for p in packages if p in CHECKS),
        "fontCache": str(font_cache_path(assets)) if font_cache_path(assets).is_file() else "",
        "modules": runtime_modules(),
    }
    config = {**boot_config(assets, memory_mb=2048), "makeSnapshot": make}
    process = SandboxProcess(assets, config, _no_calls)
    try:
        await process.start()
    except Exception as exc:
        log.warning("could not make a memory snapshot of %s: %s", packages or "Python", exc)
    finally:
        await process.close()
    if not process.snapshot:
        _failed.add(path)  # do not pay for a failing attempt at every start
        return None
    _drop_unused_snapshots(path.parent)
    if process.code_cache and not packages:
        write_atomic(code_cache_path(assets), process.code_cache)
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


def _snapshot_code(assets: Assets, packages: list[str]) -> str:
    lock = assets.lock["packages"]
    imports = [IMPORTS.get(name) or f"import {lock[name]['imports'][0]}" for name in packages]
    warm = [code for needs, code in WARM_UP if needs <= set(packages)]
    return "\n".join([*imports, *warm])


def _drop_unused_snapshots(folder: Path) -> None:
    """Snapshots and code caches unused for a week (other runtime, Deno or package
    versions) go."""
    for old in [*folder.glob("snapshot-*.bin"), *folder.glob("pyodide.asm-*.v8cache")]:
        if time.time() - old.stat().st_atime > 7 * 86400:
            old.unlink(missing_ok=True)


async def _no_calls(op: str, payload: str, blob: bytes):
    await asyncio.sleep(0)
    return {"error": "no calls while making a snapshot"}, b""
