"""SandboxPool: sandboxes started ahead of time, so a new session gets one at once.

    async with SandboxPool(size=2, timeout=30) as pool:   # once the first one is ready
        sb = await pool.acquire()      # started, never used; yours alone
        ...
        await sb.close()

Each sandbox is handed out once and never returned: a used interpreter carries
state, so it is not reused for another session. The pool refills in the
background, one sandbox at a time (starting Pyodide is CPU-heavy). When a
sandbox fails to start, filling stops and whoever waits for one gets the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from throwaway.sandbox.sandbox import Sandbox
from throwaway.sandbox.warmpool import cancelled


class SandboxPool:
    """A warm pool of `size` started sandboxes, all made with `sandbox_kwargs`."""

    def __init__(self, size: int = 2, **sandbox_kwargs):
        if size < 1:
            raise ValueError("a pool needs a size of at least 1")
        self.size, self.sandbox_kwargs = size, sandbox_kwargs
        self._ready: list[Sandbox] = []
        self._changed = asyncio.Condition()  # notified when a sandbox is ready or filling failed
        self._failure: Exception | None = None  # why filling stopped
        self._wanted = asyncio.Event()
        self._filler: asyncio.Task | None = None

    @property
    def ready(self) -> int:
        """How many started sandboxes wait to be handed out."""
        return len(self._ready)

    async def start(self) -> SandboxPool:
        """Start filling and wait until the first sandbox is ready.

        Raises the error a sandbox failed to start with; the next call tries again.
        """
        if self._filler is None or self._filler.done():  # not started, or stopped by an error
            self._failure = None
            self._filler = asyncio.create_task(self._fill())
            self._wanted.set()
        await self._until(lambda: bool(self._ready))
        return self

    async def wait_full(self) -> None:
        """Wait until `size` sandboxes are ready (raises as `start` does)."""
        await self.start()
        await self._until(lambda: len(self._ready) >= self.size)

    async def acquire(self) -> Sandbox:
        """A started, never-used sandbox; the caller owns (and closes) it.

        Raises the error a sandbox failed to start with, if none is ready.
        """
        await self.start()
        sandbox = self._ready.pop(0)
        self._wanted.set()
        return sandbox

    async def _until(self, enough: Callable[[], bool]) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: enough() or self._failure is not None)
        if not enough():
            raise self._failure

    async def _fill(self) -> None:
        try:
            while True:
                await self._wanted.wait()
                self._wanted.clear()
                while len(self._ready) < self.size:
                    self._ready.append(await Sandbox(**self.sandbox_kwargs).start())
                    await self._notify()
        except Exception as exc:  # handed to whoever waits, at once
            self._failure = exc
            await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def close(self) -> None:
        """Stop refilling and close every unused sandbox."""
        self._filler = await cancelled(self._filler)
        while self._ready:
            await self._ready.pop().close()

    async def __aenter__(self) -> SandboxPool:
        return await self.start()

    async def __aexit__(self, *exc_info) -> None:
        await self.close()
