"""The scientific stack at once: package snapshots, precompiled packages, warm pools.

Each figure is a median of interleaved samples, side by side with the peers' way
in the same run: a fresh Deno process that runs ``loadPyodide``,
``loadPackagesFromImports(code)`` and the code (bench/peer_way.js, with the same
permissions as a sandbox). Work = a pandas DataFrame plus a saved matplotlib chart,
or a scikit-learn ``LinearRegression`` fit. Nothing is asserted.

1. ``throwaway exec`` of the work, as a user types it (a new CLI process each time);
2. a fresh ``Sandbox()`` in a long-lived process with ``keep_warm(1)``, to the result;
3. a fresh ``Sandbox()`` (no pool) fitting a LinearRegression;
4. what each part bought, each against the same code without it:
   - snapshot: ``Sandbox(preload=DEFAULT)`` vs ``Sandbox(preload=())``, both precompiled;
   - bytecode: ``Sandbox(preload=())`` with the precompiled package files vs the originals;
   - pool: ``Sandbox()`` from ``keep_warm`` vs booting ``Sandbox(preload=DEFAULT)``;
5. code that imports nothing: ``Sandbox()`` to ``run("1")`` (auto preload) vs
   ``Sandbox(preload=())``, the cost a non-pandas user pays for the feature; with
   ``--baseline REV`` also against ``Sandbox()`` of that git revision (checked out
   in a temporary worktree, run side by side);
6. memory of an idle sandbox (RSS and USS of the Deno process) per preload set.

    .venv/bin/python bench/snapshot_bench.py [--quick] [--json FILE] [--baseline REV]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import deno
import psutil

from throwaway import Sandbox
from throwaway.sandbox import bytecode, warmpool, warmup
from throwaway.sandbox.assets import ensure_assets

HERE = Path(__file__).parent
WORK = """
import pandas as pd, matplotlib.pyplot as plt
df = pd.DataFrame({"x": range(20), "y": [i * i for i in range(20)]})
summary = df.describe().loc["mean"].to_dict()
fig, ax = plt.subplots(); ax.plot(df["x"], df["y"]); fig.savefig("chart.png"); plt.close(fig)
str(summary)
"""
SKLEARN = """
import numpy as np
from sklearn.linear_model import LinearRegression
m = LinearRegression().fit(np.arange(10).reshape(-1, 1), 3 * np.arange(10) + 1)
str(round(float(m.coef_[0]), 4))
"""
notes: list[str] = []


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def peer(code: str) -> float:
    """Seconds for the peers' way: a fresh Deno process, load, import, run."""
    assets = ensure_assets(quiet=True).root
    with tempfile.NamedTemporaryFile("w", suffix=".py") as f:
        f.write(code)
        f.flush()
        cmd = [
            deno.find_deno_bin(), "run", "--quiet", "--no-prompt", "--node-modules-dir=manual",
            f"--allow-read={assets},{HERE},{f.name}", "--deny-write", "--deny-net",
            str(HERE / "peer_way.js"), str(assets), f.name,
        ]  # fmt: skip
        t0 = time.perf_counter()
        out = subprocess.run(cmd, cwd=assets, capture_output=True, text=True, timeout=300)
        took = time.perf_counter() - t0
    if out.returncode:
        notes.append(f"peer way failed: {out.stderr[-500:]}")
    return took


def cli_exec(code: str) -> float:
    """Seconds for `throwaway exec FILE`, a new CLI process."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "work.py").write_text(code)
        t0 = time.perf_counter()
        out = subprocess.run(
            [str(Path(sys.executable).parent / "throwaway"), "exec", "work.py"],
            cwd=tmp, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        took = time.perf_counter() - t0
    if out.returncode:
        notes.append(f"exec failed: {out.stderr[-500:]}")
    return took


async def sandbox_to_result(code: str, **kwargs: Any) -> float:
    """Seconds from Sandbox() to the result of code."""
    t0 = time.perf_counter()
    async with Sandbox(timeout=300, **kwargs) as sb:
        result = await sb.run(code)
        took = time.perf_counter() - t0
    if not result.ok:
        notes.append(f"sandbox run failed ({kwargs}): {result.error}")
    return took


async def originals(code: str) -> float:
    """sandbox_to_result(preload=()) with Pyodide's own package files (no .pyc)."""
    real = bytecode.package_dir
    bytecode.package_dir = lambda assets: assets.packages_dir
    try:
        return await sandbox_to_result(code, preload=())
    finally:
        bytecode.package_dir = real


async def from_pool(code: str) -> float:
    pool = warmpool.current()
    await pool.wait_full()
    return await sandbox_to_result(code)


#: Run by the baseline revision's code: seconds from Sandbox() to run("1").
BASELINE_RUN = """
import asyncio, sys, time
from throwaway import Sandbox
async def main():
    t0 = time.perf_counter()
    async with Sandbox() as sb:
        assert (await sb.run("1")).result == "1"
    print(time.perf_counter() - t0)
asyncio.run(main())
"""


def baseline(tree: Path) -> float:
    """Seconds for Sandbox() to run("1") with the code of another revision."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", BASELINE_RUN], env=env, capture_output=True, text=True, timeout=300
    )
    if out.returncode:
        notes.append(f"baseline failed: {out.stderr[-500:]}")
        return float("nan")
    return float(out.stdout.strip().splitlines()[-1])


def current() -> float:
    """The same, with this tree's code, in a new process like the baseline's."""
    return baseline(HERE.parent)


async def idle_memory(preload: tuple[str, ...]) -> dict[str, float]:
    async with Sandbox(preload=preload) as sb:
        await sb.run("1")
        await asyncio.sleep(1)
        info = psutil.Process(sb.pid).memory_full_info()
    return {"rss_mib": info.rss / 2**20, "uss_mib": info.uss / 2**20}


async def compare(n: int, cases: dict[str, Any]) -> dict[str, list[float]]:
    """Interleaved samples of each case: name -> seconds."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(n):
        for name, case in cases.items():
            took = case()
            samples[name].append(await took if asyncio.iscoroutine(took) else took)
    return samples


def row(label: str, ours: list[float], base: list[float], base_label: str) -> dict[str, Any]:
    o, b = median(ours), median(base)
    print(f"{label:<58} {o * 1e3:8.0f} ms  vs {base_label} {b * 1e3:8.0f} ms  = {b / o:5.1f}x")
    return {"ours_s": ours, "base_s": base, "speedup": b / o}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 samples instead of 3")
    parser.add_argument("--json", metavar="FILE", type=Path)
    parser.add_argument("--baseline", metavar="REV", help="a git revision to compare start-up with")
    args = parser.parse_args()
    n = 2 if args.quick else 3
    load = [os.getloadavg()[0]]
    assets = ensure_assets(quiet=True)
    for packages in ((), *warmup.preload_sets()):  # untimed: make what is missing
        await warmup.ensure_snapshot(assets, packages)
    default = warmup.default_preload()
    res: dict[str, Any] = {}
    print("running: exec, pool, scikit-learn ...", file=sys.stderr, flush=True)
    await warmpool.keep_warm(1)
    try:
        s = await compare(n, {
            "exec": lambda: cli_exec(WORK), "peer": lambda: peer(WORK),
            "pool": lambda: from_pool(WORK),
            "boot": lambda: sandbox_to_result(WORK, preload=default),
        })  # fmt: skip
    finally:
        await warmpool.stop_warm()
    k = await compare(
        n, {"sandbox": lambda: sandbox_to_result(SKLEARN), "peer": lambda: peer(SKLEARN)}
    )
    print("running: the parts separately, code importing nothing ...", file=sys.stderr, flush=True)
    p = await compare(n, {
        "snapshot": lambda: sandbox_to_result(WORK, preload=default),
        "no_snapshot": lambda: sandbox_to_result(WORK, preload=()),
        "originals": lambda: originals(WORK),
    })  # fmt: skip
    one = await compare(n + 2, {
        "auto": lambda: sandbox_to_result("1"), "none": lambda: sandbox_to_result("1", preload=()),
    })  # fmt: skip
    if args.baseline:
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp) / "tree"
            git = ["git", "-C", str(HERE.parent)]
            subprocess.run(
                [*git, "worktree", "add", "-q", "--detach", str(tree), args.baseline], check=True
            )
            try:
                baseline(tree)  # untimed: that revision makes its own snapshot the first time
                b = await compare(n + 2, {"now": current, "then": lambda: baseline(tree)})
            finally:
                subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=True)
    print()
    res["exec"] = row("throwaway exec: DataFrame + chart", s["exec"], s["peer"], "peers")
    res["pool"] = row(
        "fresh Sandbox() in a process with keep_warm(1)", s["pool"], s["peer"], "peers"
    )
    res["sklearn"] = row("fresh Sandbox(): LinearRegression fit", k["sandbox"], k["peer"], "peers")
    res["part_snapshot"] = row(
        "part 1, snapshot: preload vs import (both .pyc)", p["snapshot"], p["no_snapshot"], "import"
    )
    res["part_bytecode"] = row(
        "part 2, bytecode: .pyc package files vs originals",
        p["no_snapshot"],
        p["originals"],
        "orig.",
    )
    res["part_pool"] = row(
        "part 3, pool: keep_warm vs booting the snapshot", s["pool"], s["boot"], "boot"
    )
    res["import_nothing"] = row(
        "code importing nothing: Sandbox() vs preload=()", one["auto"], one["none"], "none"
    )
    if args.baseline:
        res["baseline"] = row(
            f"code importing nothing, new process: now vs {args.baseline}",
            b["now"],
            b["then"],
            "then",
        )
    res["memory"] = {}
    for packages in ((), *warmup.preload_sets()):
        res["memory"][",".join(packages) or "-"] = mem = await idle_memory(packages)
        label = ", ".join(packages) or "no packages"
        rss, uss = mem["rss_mib"], mem["uss_mib"]
        print(f"idle sandbox, {label:<52} RSS {rss:5.0f} MiB  USS {uss:5.0f} MiB")
    load.append(os.getloadavg()[0])
    if max(load) > (os.cpu_count() or 1):
        notes.append(f"1-min load average {load} exceeds the core count: timings are inflated")
    for note in notes:
        print(f"note: {note}")
    if args.json:
        args.json.write_text(json.dumps({**res, "notes": notes, "loadavg": load}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
