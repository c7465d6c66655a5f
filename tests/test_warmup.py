"""Work done once per machine: the memory snapshot and matplotlib's font cache."""

from __future__ import annotations

from throwaway import Sandbox
from throwaway.sandbox import process, warmup
from throwaway.sandbox.assets import find_assets


async def test_a_started_sandbox_leaves_a_snapshot_that_the_next_one_restores(fresh_sandbox):
    sb = await fresh_sandbox()
    path = warmup.snapshot_path(find_assets())
    assert path.is_file()
    assert sb.snapshot_file == str(path)
    result = await sb.run("import json, sys; 'json' in sys.modules, 6 * 7")
    assert result.result == "(True, 42)"


async def test_a_sandbox_without_the_snapshot_starts_cold_and_works(fresh_sandbox):
    sb = await fresh_sandbox(snapshot=False)
    assert sb.snapshot_file is None
    assert (await sb.run("6 * 7")).result == "42"


async def test_the_font_cache_spares_the_first_figure_a_font_scan(sandbox):
    assert await warmup.ensure_font_cache(find_assets(), lambda: Sandbox(timeout=120))
    result = await sandbox.run("import matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.show()")
    assert result.error is None
    assert "building the font cache" not in result.stderr
    assert len(result.images) == 1


async def test_pyodides_script_boots_from_the_code_cache_made_with_the_snapshot(fresh_sandbox):
    cache = process.code_cache_path(find_assets())
    sb = await fresh_sandbox(preload=())
    assert cache.is_file() and cache.stat().st_size > 100_000
    assert (await sb.run("6 * 7")).result == "42"


async def test_a_code_cache_that_does_not_match_is_ignored(fresh_sandbox, monkeypatch, tmp_path):
    bad = tmp_path / "bad.v8cache"
    bad.write_bytes(b"\x00garbage" * 1000)
    monkeypatch.setattr(process, "code_cache_path", lambda assets: bad)
    sb = await fresh_sandbox(preload=())
    assert (await sb.run("6 * 7")).result == "42"
