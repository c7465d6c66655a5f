"""Package files rewritten once with their bytecode: used when whole, and only then."""

from __future__ import annotations

import json

from throwaway.sandbox import bytecode
from throwaway.sandbox.assets import Assets, find_assets


def _fake_assets(tmp_path) -> Assets:
    """An asset folder sharing the real lock and package list, with its own compiled/."""
    real = find_assets()
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "pyodide").symlink_to(real.core_dir)
    (tmp_path / "complete.json").symlink_to(real.root / "complete.json")
    (tmp_path / "compiled").mkdir()
    return Assets(tmp_path)


def test_the_compiled_set_is_used_only_when_it_matches_the_lock(tmp_path):
    assets = _fake_assets(tmp_path)
    done = assets.root / "compiled" / "complete.json"
    assert bytecode.package_dir(assets) == assets.packages_dir  # not made yet
    sources = bytecode._sources(assets)
    done.write_text(json.dumps(sources))
    assert bytecode.package_dir(assets) == assets.root / "compiled"
    name = next(iter(sources))
    done.write_text(json.dumps({**sources, name: "0" * 64}))  # made from another build
    assert bytecode.package_dir(assets) == assets.packages_dir
    done.write_text("{not json")
    assert bytecode.package_dir(assets) == assets.packages_dir


def test_setup_leaves_a_whole_compiled_set():
    assets = find_assets()
    assert bytecode.package_dir(assets) == bytecode.compiled_dir(assets)
    for name in bytecode._sources(assets):
        assert (bytecode.compiled_dir(assets) / name).is_file()


async def test_imported_modules_come_from_bytecode_and_keep_their_source(fresh_sandbox):
    sb = await fresh_sandbox(preload=(), timeout=120)
    code = """
import os, traceback, dateutil.parser
ok = os.path.exists(dateutil.parser.__cached__) and dateutil.parser.__spec__.has_location
try:
    dateutil.parser.parse("not a date at all")
except Exception as exc:
    text = "".join(traceback.format_exception(exc))
ok, "dateutil/parser/_parser.py" in text, "raise ParserError" in text
"""
    result = await sb.run(code)
    assert result.error is None
    assert result.result == "(True, True, True)"
