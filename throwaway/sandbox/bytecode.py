"""Package files with their bytecode compiled once, at setup.

Pyodide's wheels ship no ``.pyc`` and Pyodide never writes any, so every sandbox
compiled every module it imported: ~4 s of the ~6 s that ``import pandas`` took.
Here each verified package file is rewritten once, inside a sandbox (Python 3.12
compiles for Python 3.12), with an unchecked-hash ``.pyc`` beside each ``.py``
and without compression, so a sandbox that loads it neither compiles nor
inflates. The sources stay (tracebacks and ``inspect`` need them).

The rewritten files live in ``compiled/`` of the read-only asset folder, one
per package file of the lock, and are used as Pyodide's package folder once the
set is whole (``complete.json``, naming the sha256 of each source file, is
written last). Pyodide reads local package files without an integrity check;
these are derived from checked files by our own code only, like the snapshots.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from throwaway.atomicfile import write_atomic
from throwaway.sandbox.assets import Assets

log = logging.getLogger(__name__)

#: Runs in the sandbox: rewrite /tmp/in.whl as /tmp/out.whl with bytecode beside each module.
COMPILE = """
import importlib._bootstrap_external as bootstrap, importlib.util, posixpath, zipfile
count = 0
with zipfile.ZipFile("/tmp/in.whl") as src, zipfile.ZipFile("/tmp/out.whl", "w") as out:
    for info in src.infolist():
        data = src.read(info)
        out.writestr(info.filename, data, compress_type=zipfile.ZIP_STORED)
        if not info.filename.endswith(".py"):
            continue
        try:
            code = compile(data, info.filename, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            continue  # test data and templates that are not Python: imported by nobody
        pyc = bootstrap._code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False)
        folder, name = posixpath.split(info.filename)
        out.writestr(posixpath.join(folder, "__pycache__", importlib.util.cache_from_source(name)
                     .rsplit("/", 1)[-1]), pyc, compress_type=zipfile.ZIP_STORED)
        count += 1
count
"""


def compiled_dir(assets: Assets) -> Path:
    return assets.root / "compiled"


def package_dir(assets: Assets) -> Path:
    """Where sandboxes load package files from: the compiled set if it is whole and
    matches the lock, else the verified originals."""
    folder = compiled_dir(assets)
    try:
        done = json.loads((folder / "complete.json").read_text())
    except (OSError, ValueError):
        return assets.packages_dir
    return folder if done == _sources(assets) else assets.packages_dir


async def ensure_compiled(assets: Assets, sandbox_factory) -> Path:
    """Rewrite every package file with its bytecode (once); returns the folder to use."""
    folder = compiled_dir(assets)
    if package_dir(assets) == folder:
        return folder
    sources = _sources(assets)
    async with sandbox_factory() as sandbox:
        for name in sources:
            target = folder / name
            original = assets.packages_dir / name
            if not name.endswith(".whl"):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(original, target)  # shared libraries: nothing to compile
                continue
            await sandbox.write_file("/tmp/in.whl", original.read_bytes())
            result = await sandbox.run(COMPILE, timeout=600)
            if not result.ok:
                log.warning("could not compile %s: %s", name, result.error)
                return assets.packages_dir
            write_atomic(target, await sandbox.read_file("/tmp/out.whl"))
    write_atomic(folder / "complete.json", json.dumps(sources, sort_keys=True).encode())
    return folder


def _sources(assets: Assets) -> dict[str, str]:
    """file name -> sha256 of every package file set up."""
    lock = assets.lock["packages"]
    return {lock[n]["file_name"]: lock[n]["sha256"] for n in sorted(assets.available_packages())}
