"""Booted sandbox processes kept ready for the sessions of a long-lived process.

    await throwaway.keep_warm(size=2)      # once, in a worker, a server, a notebook
    async with Sandbox() as sb: ...        # takes a booted process: no boot to wait for

A booted process has Pyodide restored from a memory snapshot, with the preload
packages imported, but no session yet: no mounts, host functions or files.
`Sandbox.start` takes one whose boot matches its own (memory cap and snapshot)
and configures it, which takes milliseconds. A process serves one session and is
never handed out again; the pool boots a replacement in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from throwaway.sandbox import warmup
from throwaway.sandbox.assets import ensure_assets
from throwaway.sandbox.process import SandboxProcess, boot_config

log = logging.getLogger(__name__)
#: Seconds between handing out a process and booting its replacement: the session
#: that took it gets the CPU for its first run (a boot takes about a core-second).
REFILL_DELAY = 2.0


class WarmPool:
    """`size` booted processes for one boot configuration, refilled in the background."""

    def __init__(
        self, size: int = 1, *, memory_mb: int = 1024, preload: Iterable[str] | None = None
    ):
        if size < 1:
            raise ValueError("a warm pool needs a size of at least 1")
        self.size, self.memory_mb = size, memory_mb
        self.preload = tuple(sorted(warmup.default_preload() if preload is None else preload))
        self.packages = self.preload  # what the booted processes have imported
        self.snapshot: Path | None = None  # what the processes boot from, once started
        self._ready: list[SandboxProcess] = []
        self._handed_out = 0
        self._wanted = asyncio.Event()
        self._filler: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> WarmPool:
        """Make the snapshot if needed and start filling (returns before the pool is full)."""
        if self._filler is None:
            assets = await asyncio.to_thread(ensure_assets, True)
            path = await warmup.ensure_snapshot(assets, self.preload)
            if path is None or not warmup.fits(path, self.memory_mb):
                self.packages = ()
                path = await warmup.ensure_snapshot(assets)
            if path is None:
                raise RuntimeError("no memory snapshot could be made for the warm pool")
            self.snapshot = path
            self._loop = asyncio.get_running_loop()
            self._filler = asyncio.create_task(self._fill(assets, path))
            self._wanted.set()
        return self

    def take(self, memory_mb: int) -> SandboxProcess | None:
        """A booted process with this memory cap (fixed at boot), if one is ready."""
        if memory_mb != self.memory_mb or asyncio.get_running_loop() is not self._loop:
            return None
        while self._ready:
            process = self._ready.pop(0)
            self._handed_out += 1
            self._wanted.set()
            if process.alive:
                return process
        return None

    def pids(self) -> set[int]:
        """Process ids of the booted processes waiting for a session."""
        return {p.proc.pid for p in self._ready if p.alive}

    async def wait_full(self) -> None:
        """Wait until `size` processes are booted."""
        while len(self._ready) < self.size:
            if self._filler is None or self._filler.done():
                raise RuntimeError("the warm pool stopped filling")
            await asyncio.sleep(0.05)

    async def _fill(self, assets, path: Path) -> None:
        config = boot_config(assets, self.memory_mb, path)
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            if len(self._ready) < self.size and self._handed_out:
                await asyncio.sleep(REFILL_DELAY)
            while len(self._ready) < self.size:
                process = SandboxProcess(assets, config)
                try:
                    await process.start()
                except Exception as exc:  # keep serving: sessions boot their own meanwhile
                    log.warning("the warm pool could not boot a sandbox: %s", exc)
                    await asyncio.sleep(5)
                    continue
                self._ready.append(process)

    async def close(self) -> None:
        """Stop refilling and end every process not taken."""
        self._filler = await cancelled(self._filler)
        while self._ready:
            await self._ready.pop().close()


async def cancelled(task: asyncio.Task | None) -> None:
    """Cancel a background task and wait until it has stopped; None, for the caller to keep."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


_pool: WarmPool | None = None


async def keep_warm(
    size: int = 1, *, memory_mb: int = 1024, preload: Iterable[str] | None = None
) -> WarmPool:
    """Keep `size` booted sandboxes ready for this process's `Sandbox()` sessions.

    Sandboxes with this memory cap take a booted process instead of starting one.
    Calling it again replaces the pool. Each idle process holds its memory
    (see the README's figures): size it by how many sessions start at once.
    """
    global _pool
    await stop_warm()
    _pool = await WarmPool(size, memory_mb=memory_mb, preload=preload).start()
    return _pool


async def stop_warm() -> None:
    """End the process-wide pool, if any."""
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        await pool.close()


def current() -> WarmPool | None:
    """The process-wide pool, if `keep_warm` started one."""
    return _pool


@contextlib.asynccontextmanager
async def warm_sandboxes(size: int, **pool_options) -> AsyncIterator[WarmPool | None]:
    """`keep_warm(size)` for the duration of a block (none for size 0); a pool that
    cannot start is logged and the block goes on without one."""
    if size:
        try:
            await keep_warm(size, **pool_options)
        except Exception as exc:
            log.warning("no warm sandboxes: %s", exc)
    try:
        yield current()
    finally:
        if size:
            await stop_warm()
