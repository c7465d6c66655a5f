"""A run handler that leaves a trace, and a worker process around it, for the durable tests.

    python tests/durable_worker.py URL QUEUE LOGDIR LEASE_SECONDS

The handler runs ``params["steps"]`` steps, all named ``work`` (so ``work``,
``work#2``, …). Step i appends ``start i`` and ``end i`` to ``LOGDIR/<run id>.log``,
so the log counts executions; the handler appends ``finish`` before it returns.
Knobs in ``params``: ``hold_at`` (step i waits while ``LOGDIR/hold`` exists),
``step_seconds`` (each step sleeps), ``raise_at`` (RuntimeError after step i, first
attempt only), ``fail_at`` (RunFailed after step i while ``LOGDIR/fail`` exists).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from throwaway.durable import Durable, RunContext
from throwaway.errors import RunFailed


def log_lines(logdir: Path, run_id: str) -> list[str]:
    """The trace of a run so far."""
    path = logdir / f"{run_id}.log"
    return path.read_text().splitlines() if path.exists() else []


def make_handler(logdir: Path):
    """The traced handler, writing under ``logdir``."""

    async def handler(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
        log = logdir / f"{ctx.run_id}.log"
        total = 0
        for i in range(params.get("steps", 1)):

            async def step(i: int = i) -> int:
                _append(log, f"start {i}")
                while i == params.get("hold_at") and (logdir / "hold").exists():
                    await asyncio.sleep(0.02)
                await asyncio.sleep(params.get("step_seconds", 0))
                _append(log, f"end {i}")
                return i

            total += await ctx.step("work", step)
            if params.get("raise_at") == i and ctx.attempt == 1:
                raise RuntimeError("boom")
            if params.get("fail_at") == i and (logdir / "fail").exists():
                raise RunFailed("told to fail")
        _append(log, "finish")
        return {"answer": total, "attempt": ctx.attempt}

    return handler


def _append(path: Path, line: str) -> None:
    with path.open("a") as f:
        f.write(line + "\n")


async def main(url: str, queue: str, logdir: Path, lease: int) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Durable(url, queue=queue) as durable:
        await durable.work(make_handler(logdir), lease_seconds=lease, stop=stop, poll_interval=0.05)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(message)s")
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])))
