"""Durable-layer benchmarks, against "durable step overhead ≤ 2 ms" in DESIGN.md.

For each database, the embedded Postgres (a fresh one in a temporary folder,
stopped at the end) and the server at ``$THROWAWAY_BENCH_SERVER_URL`` (default
postgresql://postgres@127.0.0.1:5432/test; skipped if unreachable):

1. baseline: a ``SELECT 1`` round trip on one connection;
2. durable step: ``await ctx.step("s", noop)`` inside a run, first execution
   (the checkpoint is looked up, then written);
3. replayed step: the same steps when the run is executed again (``resume``
   after ``RunFailed``): the stored results come back from memory;
4. take-over: a worker process is killed with SIGKILL in the middle of a step
   while a second worker process polls the queue (default poll interval,
   0.25 s); the time from the kill to the second worker starting that step
   again, and how much of it was the dead worker's remaining lease.

Figures are medians (p90 too); nothing is asserted. Run from the project root:

    .venv/bin/python bench/durable_bench.py [--steps 500] [--kills 3] [--lease 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from throwaway.durable import Durable, RunContext, start_embedded, stop_embedded
from throwaway.errors import RunFailed

SERVER_URL = os.environ.get(
    "THROWAWAY_BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def pct(samples: list[float], q: float) -> float:
    return (
        statistics.quantiles(samples, n=100, method="inclusive")[q - 1]
        if len(samples) > 1
        else samples[0]
    )


def summary(samples: list[float]) -> dict[str, float]:
    return {"n": len(samples), "median": statistics.median(samples), "p90": pct(samples, 90)}


async def bench_select1(url: str, n: int) -> dict[str, float]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        times = []
        for _ in range(n + 50):
            t0 = time.perf_counter()
            await conn.execute("select 1")
            times.append((time.perf_counter() - t0) * 1e3)
    return summary(times[50:])


async def bench_steps(durable: Durable, n: int) -> tuple[dict[str, float], dict[str, float]]:
    """Per-step times of ``n`` trivial steps: first execution, then replay."""
    first: list[float] = []
    replay: list[float] = []

    async def noop() -> int:
        return 1

    async def handler(ctx: RunContext, params: dict[str, Any]) -> int:
        times = first if ctx.attempt == 1 else replay
        for _ in range(n):
            t0 = time.perf_counter()
            await ctx.step("s", noop)
            times.append((time.perf_counter() - t0) * 1e3)
        if ctx.attempt == 1:
            raise RunFailed("once more, to time the replay")
        return n

    stop = asyncio.Event()
    worker = asyncio.create_task(durable.work(handler, stop=stop, poll_interval=0.01))
    run_id = await durable.start_run("bench steps")
    await durable.wait(run_id, timeout=300, poll_interval=0.05)
    await durable.resume(run_id)
    record = await durable.wait(run_id, timeout=300, poll_interval=0.05)
    stop.set()
    await worker
    assert record.status == "completed", record
    return summary(first), summary(replay)


async def bench_takeover(durable: Durable, kills: int, lease: int) -> dict[str, Any]:
    """SIGKILL a worker mid-step; time until an idle second worker starts the step again."""
    takeovers, remaining = [], []
    with tempfile.TemporaryDirectory() as tmp:
        logdir = Path(tmp)
        for i in range(kills):
            hold = logdir / "hold"
            hold.touch()
            run_id = await durable.start_run(f"takeover {i}", {"hold": str(hold)})
            first = spawn_worker(durable, lease)
            starts = await logged_starts(logdir, run_id, 1)
            second = spawn_worker(durable, lease)
            await asyncio.sleep(1.0)  # the second worker is up and polling
            expires = await lease_end(durable, run_id)
            first.send_signal(signal.SIGKILL)
            killed = time.time()
            first.wait()
            hold.unlink()
            starts = await logged_starts(logdir, run_id, 2)
            takeovers.append((starts[1] - killed) * 1e3)
            remaining.append((expires - killed) * 1e3)
            await durable.wait(run_id, timeout=60)
            second.kill()
            second.wait()
    return {
        "takeover_ms": summary(takeovers),
        "lease_left_ms": summary(remaining),
        "beyond_lease_ms": summary([t - r for t, r in zip(takeovers, remaining, strict=True)]),
    }


def spawn_worker(durable: Durable, lease: int) -> subprocess.Popen:
    args = [sys.executable, __file__, "--worker", durable.url, durable.queue, str(lease)]
    return subprocess.Popen(args, stderr=subprocess.DEVNULL)


async def lease_end(durable: Durable, run_id: str) -> float:
    """When the lease of the run's current attempt ends (Unix time)."""
    async with await psycopg.AsyncConnection.connect(durable.url) as conn:
        cur = await conn.execute(
            f'select extract(epoch from claim_expires_at) from absurd."r_{durable.queue}"'
            " where task_id = %s and state = 'running'",
            (run_id,),
        )
        return float((await cur.fetchone())[0])


async def drop_queue(url: str, queue: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("select absurd.drop_queue(%s)", (queue,))


async def logged_starts(logdir: Path, run_id: str, count: int) -> list[float]:
    """Wait until step 1 of the run has started ``count`` times; the wall-clock start times."""
    path = logdir / f"{run_id}.log"
    deadline = time.monotonic() + 120
    while True:
        starts = [float(t) for t in path.read_text().split()] if path.exists() else []
        if len(starts) >= count:
            return starts
        if time.monotonic() > deadline:
            raise TimeoutError(f"step 1 of {run_id} started {len(starts)} times, not {count}")
        await asyncio.sleep(0.005)


async def takeover_handler(ctx: RunContext, params: dict[str, Any]) -> str:
    """Step 0 is instant; step 1 logs its start time and waits while ``params["hold"]`` exists."""

    async def zero() -> int:
        return 0

    async def one() -> int:
        with open(Path(params["hold"]).parent / f"{ctx.run_id}.log", "a") as f:
            f.write(f"{time.time()}\n")
        while os.path.exists(params["hold"]):
            await asyncio.sleep(0.01)
        return 1

    await ctx.step("zero", zero)
    await ctx.step("one", one)
    return "done"


async def worker_main(url: str, queue: str, lease: int) -> None:
    async with Durable(url, queue=queue) as durable:
        await durable.work(takeover_handler, lease_seconds=lease)


async def bench_database(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    queue = f"bench_{os.getpid()}"
    try:
        async with Durable(url, queue=queue) as durable:
            select1 = await bench_select1(url, args.steps)
            first, replay = await bench_steps(durable, args.steps)
            takeover = await bench_takeover(durable, args.kills, args.lease)
    finally:
        await drop_queue(url, queue)
    return {
        "database": name,
        "select1_ms": select1,
        "step_ms": first,
        "replay_ms": replay,
        **takeover,
    }


def print_table(results: list[dict[str, Any]], lease: int) -> None:
    rows = [
        ("SELECT 1 round trip (baseline)", "select1_ms", "ms"),
        ("durable step, first execution", "step_ms", "ms"),
        ("durable step, replayed", "replay_ms", "ms"),
        (f"take-over after SIGKILL (lease {lease} s)", "takeover_ms", "s"),
        ("  of which the dead worker's lease", "lease_left_ms", "s"),
        ("  beyond the lease (poll + claim)", "beyond_lease_ms", "s"),
    ]
    head = f"{'figure':<42} {'database':<10} {'n':>5} {'median':>10} {'p90':>10}"
    print(head, "-" * len(head), sep="\n")
    for label, key, unit in rows:
        for res in results:
            s = res[key]
            scale = 1e-3 if unit == "s" else 1
            med, p90 = s["median"] * scale, s["p90"] * scale
            name = res["database"]
            print(f"{label:<42} {name:<10} {s['n']:>5} {med:>8.3f} {unit} {p90:>8.3f} {unit}")
    for res in results:
        ratio = res["step_ms"]["median"] / res["select1_ms"]["median"]
        print(f"{res['database']}: a durable step costs {ratio:.1f} SELECT 1 round trips")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, default=500, help="trivial steps (and SELECT 1s) timed"
    )
    parser.add_argument("--kills", type=int, default=3, help="take-overs timed per database")
    parser.add_argument("--lease", type=int, default=2, help="lease seconds in the take-over test")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as data:
        url = await asyncio.to_thread(start_embedded, Path(data))
        try:
            results.append(await bench_database("embedded", url, args))
        finally:
            stop_embedded(Path(data))
    try:
        psycopg.connect(SERVER_URL, connect_timeout=3).close()
    except psycopg.OperationalError as err:
        print(f"skipping the server at {SERVER_URL}: {err}", file=sys.stderr)
    else:
        results.append(await bench_database("server", SERVER_URL, args))

    print_table(results, args.lease)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        asyncio.run(worker_main(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        asyncio.run(main())
