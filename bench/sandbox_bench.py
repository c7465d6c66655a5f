"""Sandbox benchmarks, against the "Performance targets" in DESIGN.md.

Measures (medians, with p90/p99 where useful; nothing is asserted):

1. cold start: ``Sandbox()`` to the first ``run("1")`` returning, fresh sandbox each time;
2. warm pool: ``await pool.acquire()`` plus the first ``run("1")``, from a full
   ``SandboxPool(size=2)`` each time;
3. round trip of ``1+1`` in a warm sandbox (after 20 warm-up runs), next to a
   host-side ``await asyncio.sleep(0)`` loop as the floor of the event loop;
4. memory: RSS of the Deno process (and any children) once started, and after
   ``import numpy, pandas``;
5. restart after a hard timeout: ``sum(range(10**12))`` with ``timeout=1``, then
   the time until the next ``run("1")`` returns.

Cold start is also measured with ``Sandbox(snapshot=False)`` when that option exists.

Run from the project root (the Pyodide assets must be set up: ``throwaway setup``):

    .venv/bin/python bench/sandbox_bench.py [--quick] [--json FILE]

``--quick`` takes fewer samples (2 sandboxes, 200 round trips instead of 5 and 1000).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from throwaway.sandbox import ExecResult, Sandbox, SandboxPool

WARMUP_RUNS = 20
HARD_TIMEOUT_CODE = "sum(range(10**12))"

#: Targets from DESIGN.md, printed next to the figures.
TARGETS = {
    "cold": "≤ 400 ms (from a memory snapshot)",
    "pool": "≤ 50 ms (from the warm pool)",
    "rtt": "≤ 1 ms p50",
    "rss": "≤ 150 MiB RSS (idle)",
}

notes: list[str] = []  # anything that looked wrong, printed after the table


def pct(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    s = sorted(samples)
    k = (len(s) - 1) * q / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(samples: list[float], *qs: float) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(samples), "median": pct(samples, 50)}
    out.update({f"p{q:g}": pct(samples, q) for q in qs})
    out.update(min=min(samples), max=max(samples), samples=samples)
    return out


def check(result: ExecResult, what: str, expect: str | None = "1") -> None:
    """Note (never assert) a run that did not give the expected value."""
    if not result.ok or result.result != expect:
        notes.append(f"{what}: got {result.result!r}, error {result.error}")


def ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1e3


def rss_mib(pid: int) -> float:
    """VmRSS of a process plus its descendants, in MiB."""
    total_kib = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total_kib / 1024


def deno_pid(sb: Sandbox) -> int:
    if sb.pid is None:
        raise RuntimeError("the sandbox has no Deno process")
    return sb.pid


async def bench_cold(n: int, **kwargs: Any) -> dict[str, Any]:
    total, start = [], []
    for i in range(n):
        t0 = time.perf_counter()
        sb = Sandbox(**kwargs)
        await sb.start()
        start.append(ms_since(t0))
        check(await sb.run("1"), f'cold #{i} run("1")')
        total.append(ms_since(t0))
        await sb.close()
    return {"total_ms": summary(total, 90), "start_ms": summary(start, 90)}


async def bench_pool(n: int) -> dict[str, Any]:
    times, acquire = [], []
    async with SandboxPool(size=2) as pool:
        for i in range(n):
            await pool.wait_full()
            t0 = time.perf_counter()
            sb = await pool.acquire()
            acquire.append(ms_since(t0))
            check(await sb.run("1"), f'pool #{i} run("1")')
            times.append(ms_since(t0))
            await sb.close()
    return {"acquire_run_ms": summary(times, 90), "acquire_ms": summary(acquire, 90)}


async def bench_round_trip(runs: int) -> dict[str, Any]:
    async with Sandbox() as sb:
        for _ in range(WARMUP_RUNS):
            await sb.run("1+1")
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            r = await sb.run("1+1")
            times.append(ms_since(t0))
            if r.result != "2":
                notes.append(f"round trip: unexpected result {r.result!r}, error {r.error}")
                break
    floor = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await asyncio.sleep(0)
        floor.append(ms_since(t0))
    return {
        "run_ms": summary(times, 90, 99),
        "sleep0_ms": {k: v for k, v in summary(floor, 90, 99).items() if k != "samples"},
    }


async def bench_memory() -> dict[str, Any]:
    async with Sandbox() as sb:
        idle = rss_mib(deno_pid(sb))
        r = await sb.run("import numpy, pandas")
        check(r, "memory: import numpy, pandas", expect=None)
        loaded = rss_mib(deno_pid(sb))
    return {"idle_mib": idle, "numpy_pandas_mib": loaded, "import_ms": r.duration_ms}


async def bench_restart(n: int) -> dict[str, Any]:
    timed_out, restart = [], []
    async with Sandbox() as sb:
        check(await sb.run("1"), 'restart: first run("1")')
        pid = deno_pid(sb)
        rss_before = rss_mib(pid)
        for i in range(n):
            t0 = time.perf_counter()
            r = await sb.run(HARD_TIMEOUT_CODE, timeout=1)
            timed_out.append(ms_since(t0))
            if r.error is None or r.error.type != "TimeoutError" or not r.restarted:
                notes.append(
                    f"restart #{i}: expected a hard timeout, got {r.error} ({r.restarted=})"
                )
            t1 = time.perf_counter()
            check(await sb.run("1"), f'restart #{i} run("1")')
            restart.append(ms_since(t1))
        same_process = deno_pid(sb) == pid
        rss_after = rss_mib(deno_pid(sb))
    return {
        "timed_out_run_ms": summary(timed_out, 90),
        "restart_ms": summary(restart, 90),
        "same_deno_process": same_process,
        "rss_before_mib": rss_before,
        "rss_after_mib": rss_after,
    }


def print_table(res: dict[str, Any]) -> None:
    def f(x: float, unit: str = "ms") -> str:
        return f"{x:,.3f} {unit}" if x < 10 else f"{x:,.1f} {unit}"

    cold, pool, rtt = res["cold_start"], res["warm_pool"], res["round_trip"]
    mem, rs = res["memory"], res["restart"]
    rows = [
        ("cold start: Sandbox() → run('1')", cold["total_ms"], TARGETS["cold"]),
        ("  of which start()", cold["start_ms"], ""),
    ]
    if nosnap := res.get("cold_start_no_snapshot"):
        rows.append(("  same, Sandbox(snapshot=False)", nosnap["total_ms"], ""))
    rows += [
        ("warm pool: acquire() + run('1')", pool["acquire_run_ms"], TARGETS["pool"]),
        ("  of which acquire()", pool["acquire_ms"], ""),
        ("round trip run('1+1'), warm", rtt["run_ms"], TARGETS["rtt"]),
        ("  floor: asyncio.sleep(0)", rtt["sleep0_ms"], ""),
        ("hard timeout run (timeout=1)", rs["timed_out_run_ms"], ""),
        ("restart: next run('1')", rs["restart_ms"], ""),
    ]
    head = f"{'figure':<36} {'n':>5} {'median':>11} {'p90':>11} {'p99':>11}  target"
    print(head, "-" * len(head), sep="\n")
    for name, s, target in rows:
        p99 = f(s["p99"]) if "p99" in s else ""
        line = f"{name:<36} {s['n']:>5} {f(s['median']):>11} {f(s['p90']):>11} {p99:>11}"
        print(f"{line}  {target}".rstrip())
    mem_rows = [
        ("RSS idle (after start)", mem["idle_mib"], TARGETS["rss"]),
        ("RSS after import numpy, pandas", mem["numpy_pandas_mib"], ""),
        ("RSS before hard timeouts", rs["rss_before_mib"], ""),
        (f"RSS after {rs['restart_ms']['n']} hard timeouts", rs["rss_after_mib"], ""),
    ]
    for name, mib, target in mem_rows:
        print(f"{name:<36} {1:>5} {f(mib, 'MiB'):>11} {'':>11} {'':>11}  {target}".rstrip())
    print(f"\nfirst start of the run (untimed above): {res['meta']['first_start_ms']:,.0f} ms")
    print(f"import numpy, pandas took {mem['import_ms']:,.0f} ms (first import, local wheels)")
    print(f"restarts stayed in the same Deno process: {rs['same_deno_process']}")
    print(f"1-min load average before/after: {res['meta']['loadavg_1m']}")
    if notes:
        print("\nnotes:", *(f"  - {n}" for n in notes), sep="\n")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write figures as JSON")
    args = parser.parse_args()
    n, runs = (2, 200) if args.quick else (5, 1000)
    load_before = os.getloadavg()[0]

    res: dict[str, Any] = {
        "meta": {
            "quick": args.quick,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
    }
    # Untimed: the first start may verify assets or build the memory snapshot.
    t0 = time.perf_counter()
    await (await Sandbox().start()).close()
    res["meta"]["first_start_ms"] = ms_since(t0)
    steps = [
        ("cold_start", lambda: bench_cold(n)),
        ("warm_pool", lambda: bench_pool(n)),
        ("round_trip", lambda: bench_round_trip(runs)),
        ("memory", bench_memory),
        ("restart", lambda: bench_restart(n)),
    ]
    if "snapshot" in inspect.signature(Sandbox).parameters:
        steps.insert(1, ("cold_start_no_snapshot", lambda: bench_cold(n, snapshot=False)))
    for key, step in steps:
        print(f"running {key} ...", file=sys.stderr, flush=True)
        res[key] = await step()
    load = res["meta"]["loadavg_1m"] = [load_before, os.getloadavg()[0]]
    if max(load) > (os.cpu_count() or 1):
        notes.append(f"1-min load average {load} exceeds the core count: timings are inflated")
    res["targets"], res["notes"] = TARGETS, notes
    print_table(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
