"""What a run handler gets: named checkpointed steps and lease heartbeats.

A step's name is its cache key. The first time a name is used in a run its
function runs and its JSON result is stored; when the run is executed again
(after a crash, a lost lease, an error) the stored result is returned and the
function is not called. Absurd numbers repeats of a name (``model``,
``model#2``, ``model#3``, …), so a handler that calls ``step("model", …)`` once per
turn gets an append-only log, as long as it makes its calls in the same order
each time it is executed.

Leases: a worker holds a run for ``lease_seconds`` after claiming it, and every
stored step extends that. While a step's function runs, the context renews the
lease in the background every second (every third of ``lease_seconds`` if that is
shorter); ``heartbeat()`` renews it by hand (for long work outside steps). If
renewing shows that the run was cancelled or that the lease was lost to another
worker, the step's function is cancelled and the handler is stopped: a cancelled
run stops within about a second, in the middle of a step.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

from absurd_sdk import AsyncTaskContext

from throwaway.durable import storable

T = TypeVar("T")

#: Seconds between lease renewals while a step runs: how soon a cancel is noticed.
CHECK_EVERY = 1.0


class RunContext:
    """The handle a run handler gets: ``await ctx.step(name, fn)``, ``await ctx.heartbeat()``.

    ``run_id`` is the run's id, ``task`` its task text, ``attempt`` counts
    executions of this run from 1 (above 1, earlier executions were lost: steps
    come back from the log, in-memory state does not).
    """

    def __init__(
        self, absurd_ctx: AsyncTaskContext, *, task: str, attempt: int, lease_seconds: int
    ) -> None:
        self._ctx = absurd_ctx
        self._lease_seconds = lease_seconds
        self.run_id: str = str(absurd_ctx.task_id)
        self.task = task
        self.attempt = attempt

    async def step(self, name: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn()`` once as the step ``name`` and return its result, or the stored result.

        The result must be JSON-serialisable; what comes back is always the JSON
        round trip (a tuple comes back as a list, also the first time), so the
        first execution and a replay see the same value. Any text is kept as it
        was, NUL characters and lone surrogates included (see storable.py).
        """
        handle = await self._ctx.begin_step(name)
        if handle.done:
            return storable.load(handle.state)
        value = json.loads(json.dumps(await self._with_heartbeat(fn())))
        await self._ctx.complete_step(handle, storable.store(value))
        return value

    async def heartbeat(self) -> None:
        """Extend this worker's lease on the run to ``lease_seconds`` from now."""
        await self._ctx.heartbeat(self._lease_seconds)

    async def keep_lease(self, work: Awaitable[T]) -> T:
        """Await ``work`` (long work outside a step, such as starting a sandbox) while
        renewing the lease, as steps do."""
        return await self._with_heartbeat(work)

    async def _with_heartbeat(self, work: Awaitable[T]) -> T:
        """Await ``work`` while renewing the lease; a failed renewal cancels ``work`` and raises."""
        task = asyncio.ensure_future(work)
        every = max(min(self._lease_seconds / 3, CHECK_EVERY), 0.2)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=every)
                if done:
                    return task.result()
                await self.heartbeat()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
