"""Memory snapshots with packages imported: restored right, keyed right, refused cleanly.

A sandbox with ``preload`` boots from a snapshot taken after importing the packages
(runtime/snapshot.js); a snapshot that cannot be used (too big for the memory cap,
tampered, truncated) is skipped and the packages import the ordinary way.
"""

from __future__ import annotations

import json
import logging
import struct

import psutil
import pytest

from throwaway.mounts import LocalDir
from throwaway.sandbox import warmpool, warmup
from throwaway.sandbox.assets import Assets, find_assets

PRELOAD = warmup.DEFAULT_PRELOAD
#: Exercises what a restore must get right: C extensions, their function tables,
#: matplotlib's fonts and mathtext, the garbage collector, and later package loads.
CHECK = """
import gc, io, sys
import numpy as np, pandas as pd, matplotlib.pyplot as plt
from PIL import Image
out = []
csv = "d,g,v\\n2024-01-01,a,1\\n2024-01-02,b,2\\n2024-01-03,a,3\\n"
df = pd.read_csv(io.StringIO(csv), parse_dates=["d"])
out.append(df.groupby("g")["v"].sum().to_dict())
out.append(df["d"].dt.day_name().tolist())
out.append(df["g"].str.upper().tolist())
out.append(round(float(np.linalg.det(np.array([[2.0, 1], [1, 3]]))), 6))
out.append(round(float(np.abs(np.fft.fft(np.arange(8))).sum()), 3))
fig, ax = plt.subplots(); ax.bar(["x", "y"], [1, 2]); ax.set_xlabel("label $x^2$")
buf = io.BytesIO(); fig.savefig(buf, format="png"); plt.close(fig)
out.append(Image.open(io.BytesIO(buf.getvalue())).size)
gc.collect()
wanted = ("numpy", "pandas", "matplotlib.pyplot", "PIL.Image")
out.append(sorted(m for m in wanted if m in sys.modules))
out
"""
IMPORTED = (
    "import sys; [m in sys.modules for m in ('numpy', 'pandas', 'matplotlib.pyplot', 'PIL.Image')]"
)


@pytest.fixture
def no_failures(monkeypatch):
    """A fresh record of failed snapshots, so a test's tampering does not leak."""
    monkeypatch.setattr(warmup, "_failed", set())


async def test_a_preloaded_sandbox_starts_with_the_packages_imported(fresh_sandbox):
    sb = await fresh_sandbox(preload=PRELOAD)
    assert sb.packages == PRELOAD
    assert sb.snapshot_file == str(warmup.snapshot_path(find_assets(), PRELOAD))
    assert (await sb.run(IMPORTED)).result == "[True, True, True, True]"


async def test_restored_packages_compute_what_imported_ones_do(fresh_sandbox):
    restored = await (await fresh_sandbox(preload=PRELOAD, timeout=120)).run(CHECK)
    imported = await (await fresh_sandbox(preload=(), timeout=120)).run(CHECK)
    assert restored.error is None and imported.error is None
    assert restored.result == imported.result
    assert "'Monday', 'Tuesday', 'Wednesday'" in restored.result


async def test_packages_outside_the_snapshot_still_load_after_a_restore(fresh_sandbox):
    sb = await fresh_sandbox(preload=PRELOAD, timeout=120)
    code = (
        "import numpy as np, scipy.optimize\n"
        "round(float(scipy.optimize.minimize_scalar(lambda x: (x - 2) ** 2).x), 4)"
    )
    result = await sb.run(code)
    assert result.error is None and result.result == "2.0"


async def test_figures_are_captured_with_the_sandbox_backend_after_a_restore(fresh_sandbox):
    sb = await fresh_sandbox(preload=PRELOAD)
    result = await sb.run(
        "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2]); plt.show()\nplt.get_backend()"
    )
    assert result.error is None
    assert result.result == "'module://_throwaway_backend'"
    assert len(result.images) == 1 and result.images[0].startswith(b"\x89PNG")


async def test_every_restored_sandbox_draws_its_own_random_numbers(fresh_sandbox):
    code = "import random, numpy; (random.random(), float(numpy.random.rand()))"
    first = await (await fresh_sandbox(preload=PRELOAD)).run(code)
    second = await (await fresh_sandbox(preload=PRELOAD)).run(code)
    assert first.error is None and second.error is None
    assert first.result != second.result


async def test_a_snapshot_bigger_than_the_memory_cap_is_skipped(fresh_sandbox):
    sb = await fresh_sandbox(preload=PRELOAD, memory_mb=128)
    assert sb.packages == ()
    result = await sb.run("import numpy; int(numpy.arange(4).sum())")
    assert result.error is None and result.result == "6"


def _tampered(path, tmp_path, change) -> object:
    """A copy of the snapshot at path with its metadata changed by change(meta)."""
    data = path.read_bytes()
    magic, meta_len, heap_len, files_len = warmup.HEADER.unpack_from(data)
    meta = json.loads(data[warmup.HEADER.size : warmup.HEADER.size + meta_len])
    change(meta)
    new_meta = json.dumps(meta).encode()
    header = warmup.HEADER.pack(magic, len(new_meta), heap_len, files_len)
    out = tmp_path / "tampered.bin"
    out.write_bytes(header + new_meta + data[warmup.HEADER.size + meta_len :])
    return out


@pytest.mark.parametrize(
    "damage",
    [
        lambda meta: meta.update(tableStart=meta["tableStart"] - 7),  # bases that no longer fit
        lambda meta: meta["slots"].append([meta["tableLen"] - 1, "nope.so", "missing"]),
        lambda meta: meta.update(check="import numpy; assert numpy.add(1, 2) == 4"),
    ],
    ids=["table-layout", "unknown-symbol", "failed-check"],
)
async def test_a_snapshot_that_does_not_restore_falls_back_to_the_plain_one(
    fresh_sandbox, monkeypatch, tmp_path, caplog, no_failures, damage
):
    real = warmup.snapshot_path(find_assets(), PRELOAD)
    bad = _tampered(real, tmp_path, damage)
    plain = warmup.snapshot_path
    monkeypatch.setattr(warmup, "snapshot_path", lambda a, p=(): bad if p else plain(a, p))
    with caplog.at_level(logging.WARNING, logger="throwaway.sandbox.warmup"):
        sb = await fresh_sandbox(preload=PRELOAD)
    assert sb.packages == ()
    assert any(
        "did not restore" in r.getMessage() and str(bad) in r.getMessage() for r in caplog.records
    )
    assert (await sb.run("import pandas; int(pandas.Series([1, 2]).sum())")).result == "3"
    # this process does not try it again
    assert await warmup.ensure_snapshot(find_assets(), PRELOAD) is None


async def test_a_truncated_snapshot_falls_back_to_the_plain_one(
    fresh_sandbox, monkeypatch, tmp_path, no_failures
):
    real = warmup.snapshot_path(find_assets(), PRELOAD)
    bad = tmp_path / "truncated.bin"
    bad.write_bytes(real.read_bytes()[: 50 << 20])
    plain = warmup.snapshot_path
    monkeypatch.setattr(warmup, "snapshot_path", lambda a, p=(): bad if p else plain(a, p))
    sb = await fresh_sandbox(preload=PRELOAD)
    assert sb.packages == ()
    assert (await sb.run("6 * 7")).result == "42"


def test_the_key_covers_the_package_set_the_lock_and_the_runtime():
    assets = find_assets()
    key = warmup.snapshot_path(assets, ["pandas", "numpy"])
    assert key == warmup.snapshot_path(assets, ["numpy", "pandas", "numpy"])
    assert key != warmup.snapshot_path(assets, ["numpy"])
    assert key != warmup.snapshot_path(assets, ())
    changed = Assets(assets.root)
    lock = json.loads(json.dumps(assets.lock))
    lock["packages"]["numpy"]["sha256"] = "0" * 64  # a different numpy build
    changed.__dict__["lock"] = lock
    assert warmup.snapshot_path(changed, ["pandas", "numpy"]) != key
    assert warmup.snapshot_path(changed, ["matplotlib"]) != warmup.snapshot_path(
        assets, ["matplotlib"]
    )


def test_a_file_that_is_not_a_snapshot_is_refused(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(struct.pack("<8sIQQ", b"NOTSNAP!", 0, 0, 0))
    with pytest.raises(ValueError, match="not a throwaway snapshot"):
        warmup.heap_size(path)


def test_the_preload_set_is_chosen_by_what_the_code_imports():
    lock = find_assets().lock["packages"]
    science = warmup.SCIENCE_PRELOAD
    assert warmup.preload_for("import pandas as pd", lock) == PRELOAD
    assert warmup.preload_for("from PIL import Image", lock) == PRELOAD
    assert warmup.preload_for("def f():\n    import matplotlib.pyplot as plt", lock) == PRELOAD
    assert warmup.preload_for("import numpy\nfrom sklearn import svm", lock) == science
    assert warmup.preload_for("import scipy.stats", lock) == science
    assert warmup.preload_for("import json\nprint('import pandas')", lock) is None
    assert warmup.preload_for("import pyarrow", lock) is None  # in no preload set
    assert warmup.preload_for("from . import numpy", lock) is None
    assert warmup.preload_for("import pandas as", lock) is None  # not Python: no guess


def test_the_preload_sets_can_be_configured(monkeypatch):
    lock = find_assets().lock["packages"]
    monkeypatch.setenv("THROWAWAY_PRELOAD", "pandas, numpy")
    assert warmup.preload_sets() == (("numpy", "pandas"),)
    assert warmup.preload_for("import matplotlib, pandas", lock) == ("numpy", "pandas")
    monkeypatch.setenv("THROWAWAY_PRELOAD", "")
    assert warmup.preload_sets() == () and warmup.default_preload() == ()
    assert warmup.preload_for("import pandas", lock) is None


async def test_by_default_the_packages_come_only_for_code_that_imports_them(
    fresh_sandbox, tmp_path
):
    plain = await fresh_sandbox()
    assert (await plain.run("6 * 7")).result == "42"
    assert plain.packages == ()
    (tmp_path / "x.txt").write_text("from the mount")
    sb = await fresh_sandbox(mounts={"data": LocalDir(tmp_path)})
    await sb.write_file("data.csv", "a,b\n1,2\n3,4\n")
    first = sb.pid
    code = (
        "import pandas as pd\nd = pd.read_csv('data.csv')\n"
        "(int(d['b'].sum()), open('/mnt/data/x.txt').read())"
    )
    result = await sb.run(code)
    assert result.error is None and not result.restarted
    assert result.result == "(6, 'from the mount')"
    assert sb.packages == PRELOAD and sb.pid != first
    science = await fresh_sandbox(timeout=60)
    code = (
        "from sklearn.linear_model import LinearRegression\n"
        "round(float(LinearRegression().fit([[0], [1]], [1, 3]).coef_[0]), 6)"
    )
    result = await science.run(code)
    assert result.error is None and result.result == "2.0"
    assert science.packages == warmup.SCIENCE_PRELOAD
    later = await fresh_sandbox()
    await later.run("x = 1")
    assert (await later.run("import numpy; x + int(numpy.ones(2).sum())")).result == "3"
    assert later.packages == ()  # the interpreter already had state: it stays


async def test_a_warm_pool_hands_booted_processes_to_new_sandboxes(fresh_sandbox, tmp_path):
    pool = await warmpool.keep_warm(1, memory_mb=1024, preload=PRELOAD)
    try:
        await pool.wait_full()
        waiting = pool.pids()
        (tmp_path / "in.txt").write_text("hello")
        sb = await fresh_sandbox(
            mounts={"data": LocalDir(tmp_path)}, functions={"double": lambda x: 2 * x}
        )
        assert sb.pid in waiting and sb.packages == PRELOAD
        code = (
            "from throwaway_tools import double\nimport numpy\n"
            "(double(21), open('/mnt/data/in.txt').read())"
        )
        assert (await sb.run(code)).result == "(42, 'hello')"
        await pool.wait_full()  # refilled with a new process
        assert pool.pids() and pool.pids().isdisjoint(waiting)
        other = await fresh_sandbox(memory_mb=512)  # another boot: not from this pool
        assert other.pid not in pool.pids() and len(pool.pids()) == 1
    finally:
        await warmpool.stop_warm()


async def test_start_for_known_code_boots_straight_into_its_preload_set(fresh_sandbox):
    sb = await fresh_sandbox()
    await sb.close()
    await sb.start(for_code="import pandas as pd\npd.__name__")
    booted = sb.pid
    assert sb.packages == PRELOAD
    result = await sb.run("import pandas as pd\npd.__name__")
    assert result.result == "'pandas'" and sb.pid == booted  # no second boot


async def test_warm_sandboxes_lasts_for_its_block_and_size_0_is_none():
    async with warmpool.warm_sandboxes(0) as none:
        assert none is None and warmpool.current() is None
    async with warmpool.warm_sandboxes(1, memory_mb=512) as pool:
        assert warmpool.current() is pool and pool.memory_mb == 512
        await pool.wait_full()
        (pid,) = pool.pids()
    assert warmpool.current() is None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
