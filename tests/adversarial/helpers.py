"""Attacks on the sandbox, as an attacker would write them; each must leave the host up.

Every test ends by checking that the host still works: the same sandbox (or a
fresh one, where the attack rightly ended it) runs code again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import psutil


async def still_works(sb) -> None:
    """The sandbox (restarted if it had to be) runs code."""
    r = await sb.run("6 * 7")
    assert r.result == "42", r.error


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def cpu_over(pid: int, seconds: float) -> float:
    """CPU seconds process pid uses over the next ``seconds`` (0 if it is gone)."""
    try:
        before = cpu_seconds(pid)
        await asyncio.sleep(seconds)
        return cpu_seconds(pid) - before
    except psutil.NoSuchProcess:
        return 0.0


def elapsed_since(started: float) -> float:
    return time.monotonic() - started


async def kill_sandbox(sb, seconds: float = 30) -> None:
    """SIGKILL the sandbox's Deno process from outside; wait until the sandbox sees it gone."""
    os.kill(sb.pid, signal.SIGKILL)
    deadline = time.monotonic() + seconds
    while sb.pid is not None:
        assert time.monotonic() < deadline, "the sandbox never noticed its process was killed"
        await asyncio.sleep(0.01)
