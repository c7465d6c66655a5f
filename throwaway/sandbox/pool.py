"""SandboxPool: sandboxes started ahead of time, so a new session gets one at once.

    async with SandboxPool(size=2, timeout=30) as pool:
        sb = await pool.acquire()      # started, never used; yours alone
        ...
        await sb.close()

Each sandbox is handed out once and never returned: a used interpreter carries
state, so it is not reused for another session. The pool refills in the
background, one sandbox at a time (starting Pyodide is CPU-heavy).
"""

from __future__ import annotations

import asyncio

from throwaway.sandbox.sandbox import Sandbox
from throwaway.sandbox.warmpool import cancelled


class SandboxPool:
    """A warm pool of `size` started sandboxes, all made with `sandbox_kwargs`."""

    def __init__(self, size: int = 2, **sandbox_kwargs):
        if size < 1:
            raise ValueError("a pool needs a size of at least 1")
        self.size, self.sandbox_kwargs = size, sandbox_kwargs
        self._ready: asyncio.Queue[Sandbox] = asyncio.Queue()
        self._wanted = asyncio.Event()
        self._filler: asyncio.Task | None = None

    async def start(self) -> SandboxPool:
        """Start the refill task; returns at once (see `wait_full`)."""
        if self._filler is None:
            self._filler = asyncio.create_task(self._fill())
            self._wanted.set()
        return self

    async def wait_full(self) -> None:
        """Wait until `size` sandboxes are ready."""
        while self._ready.qsize() < self.size:
            await asyncio.sleep(0.05)
            if self._filler and self._filler.done():
                self._filler.result()  # re-raise a start failure

    async def acquire(self) -> Sandbox:
        """A started, never-used sandbox; the caller owns (and closes) it."""
        await self.start()
        sandbox = await self._ready.get()
        self._wanted.set()
        return sandbox

    async def _fill(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            while self._ready.qsize() < self.size:
                self._ready.put_nowait(await Sandbox(**self.sandbox_kwargs).start())

    async def close(self) -> None:
        """Stop refilling and close every unused sandbox."""
        self._filler = await cancelled(self._filler)
        while not self._ready.empty():
            await self._ready.get_nowait().close()

    async def __aenter__(self) -> SandboxPool:
        return await self.start()

    async def __aexit__(self, *exc_info) -> None:
        await self.close()
