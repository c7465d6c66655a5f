"""The worker loop: claim queued runs, execute them with the handler, survive a lost database.

Each of ``concurrency`` slots has its own connection and runs one run at a time
through the Absurd SDK (``AsyncAbsurd.work_batch``), so a slow or broken
connection holds up one slot only. The SDK's own worker shares one connection
between all runs and never reconnects; this loop does:

- A lost connection (Postgres restarted, network) is retried with backoff.
  Once back, the slot gives up the run it held (``absurd.fail_run`` with no
  delay: one attempt used) so that it continues at once from its checkpoints,
  instead of waiting for its lease to expire.
- An exception from the handler is retried after ``min(2 ** (attempt - 1), 60)``
  seconds (the handler is meant to deal with expected errors itself);
  ``RunFailed`` ends the run as failed at once. Either way the run's failure
  reason is stored.
- A worker that dies holds its runs until their leases expire; the next claim
  on the queue, by any worker, fails the expired attempt and queues the run
  again with no delay (Absurd's retry strategy is left at "none" for this).
- ``stop`` set: no new claims; runs in progress finish. ``work()`` cancelled: runs
  in progress are given up at once, as above, for another worker to continue.
- ``only`` (a run id): the slots claim that run and no other (see claim.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from absurd_sdk import AsyncAbsurd, AsyncTaskContext, CancelledTask, FailedTask, SuspendTask
from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb

from throwaway.durable import storable
from throwaway.durable.claim import OneRunAbsurd
from throwaway.durable.context import RunContext
from throwaway.durable.runs import table
from throwaway.errors import RunFailed
from throwaway.retry import RUN_ATTEMPT, reconnecting

log = logging.getLogger("throwaway.durable")

#: The Absurd task name of a run.
TASK_NAME = "agent-run"

Handler = Callable[[RunContext, dict[str, Any]], Awaitable[Any]]
#: Errors that fail a run at once: trying again cannot succeed (the database refused
#: the data itself), and would only repeat the side effects of the steps since.
FINAL = (RunFailed, psycopg.DataError)


async def work(
    url: str,
    queue: str,
    handler: Handler,
    *,
    concurrency: int,
    lease_seconds: int,
    stop: asyncio.Event,
    poll_interval: float,
    revive: Callable[[], str] | None = None,
    only: str | None = None,
) -> None:
    """Run ``concurrency`` slots until ``stop`` is set and their runs are done.

    ``revive``, for the embedded Postgres: starts the server again when it is
    unreachable (it died, or was stopped) and returns its URL.
    """
    worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    slots = [
        _Slot(url, queue, handler, f"{worker}:{i}", lease_seconds, revive, only)
        for i in range(concurrency)
    ]
    tasks = [asyncio.create_task(slot.run(stop, poll_interval)) for slot in slots]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Slot:
    """One connection executing one run at a time; ``current`` is the run it holds."""

    def __init__(
        self,
        url: str,
        queue: str,
        handler: Handler,
        worker_id: str,
        lease_seconds: int,
        revive: Callable[[], str] | None = None,
        only: str | None = None,
    ) -> None:
        self.url, self.revive, self.only = url, revive, only
        self.queue = queue
        self.handler = handler
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.current: str | None = None
        self.ran = False

    async def run(self, stop: asyncio.Event, poll_interval: float) -> None:
        try:
            while not stop.is_set():
                try:
                    async with await self._connect(stop) as conn:
                        await self._release(conn, "the worker lost its database connection")
                        await self._loop(conn, stop, poll_interval)
                except psycopg.OperationalError as err:
                    log.warning("worker %s: lost the database (%s)", self.worker_id, err)
        except asyncio.CancelledError:
            if self.current:
                try:
                    async with asyncio.timeout(5):
                        async with await AsyncConnection.connect(self.url, autocommit=True) as conn:
                            await self._release(conn, "the worker was stopped")
                except Exception as err:  # its lease will expire instead
                    log.warning(
                        "worker %s: could not give up run %s: %s", self.worker_id, self.current, err
                    )
            raise

    async def _connect(self, stop: asyncio.Event) -> AsyncConnection:
        """A connection, tried again with backoff while the database is unreachable
        (the last OperationalError once ``stop`` is set)."""
        retrying = reconnecting(
            psycopg.OperationalError, stop.is_set, lambda s: _sleep_unless(stop, s), self._revive
        )

        async def connect() -> AsyncConnection:
            return await AsyncConnection.connect(self.url, autocommit=True)

        return await retrying(connect)

    async def _revive(self, err: BaseException) -> None:
        """Start the embedded server again if it is down (one process wins; the others
        find it running)."""
        log.warning("worker %s: database unreachable (%s); retrying", self.worker_id, err)
        if self.revive is None:
            return
        try:
            self.url = await asyncio.to_thread(self.revive)
        except Exception as err:
            log.warning("worker %s: could not restart the database: %s", self.worker_id, err)

    async def _loop(self, conn: AsyncConnection, stop: asyncio.Event, poll_interval: float) -> None:
        app = (
            OneRunAbsurd(conn, self.queue, self.only)
            if self.only
            else AsyncAbsurd(conn, queue_name=self.queue)
        )
        app.register_task(TASK_NAME)(lambda params, ctx: self._execute(conn, params, ctx))
        while not stop.is_set():
            self.ran = False
            try:
                await app.work_batch(self.worker_id, claim_timeout=self.lease_seconds)
            except psycopg.OperationalError:
                raise
            except Exception as err:
                if conn.broken or conn.closed:
                    raise psycopg.OperationalError("the connection was lost") from err
                log.exception(
                    "worker %s: run %s broke the worker loop", self.worker_id, self.current
                )
                await self._release(conn, "the worker loop failed")
            self.current = None
            if not self.ran:
                await _sleep_unless(stop, poll_interval)

    async def _execute(
        self, conn: AsyncConnection, params: dict[str, Any], actx: AsyncTaskContext
    ) -> Any:
        """The Absurd task handler: call ``self.handler`` and turn its errors into retries."""
        self.ran = True
        self.current = str(actx.task_id)
        cur = await conn.execute(
            sql.SQL(
                "select attempt from {r}"
                " where task_id = %s and claimed_by = %s and state = 'running'"
            ).format(r=table("r", self.queue)),
            (actx.task_id, self.worker_id),
        )
        row = await cur.fetchone()
        ctx = RunContext(
            actx,
            task=params["task"],
            attempt=row[0] if row else 1,
            lease_seconds=self.lease_seconds,
        )
        try:
            result = await self.handler(ctx, storable.load(params["params"]))
            result = json.loads(json.dumps(result))
            return storable.store(result)
        except (SuspendTask, CancelledTask, FailedTask):
            raise
        except Exception as err:
            final = isinstance(err, FINAL)
            log.log(
                logging.INFO if final else logging.WARNING,
                "run %s attempt %s: %s: %s",
                ctx.run_id,
                ctx.attempt,
                type(err).__name__,
                err,
                exc_info=not final,
            )
            await self._fail(conn, _reason(err), backoff=not final, final=final)
            raise FailedTask() from err

    async def _release(self, conn: AsyncConnection, why: str) -> None:
        """Give up the run this slot holds, if it still does, so that it is queued again now."""
        if self.current:
            try:
                await self._fail(
                    conn, {"name": "WorkerLost", "message": why}, backoff=False, final=False
                )
            finally:
                self.current = None

    async def _fail(
        self, conn: AsyncConnection, reason: dict[str, Any], *, backoff: bool, final: bool
    ) -> None:
        """Fail this slot's attempt; Absurd requeues the run unless ``final`` or out of attempts."""
        async with conn.transaction():
            cur = await conn.execute(
                sql.SQL(
                    "select run_id, attempt from {r}"
                    " where task_id = %s and claimed_by = %s and state = 'running' for update"
                ).format(r=table("r", self.queue)),
                (self.current, self.worker_id),
            )
            row = await cur.fetchone()
            if row is None:  # completed, cancelled, or already taken over after a lost lease
                return
            run_id, attempt = row
            if final:
                await conn.execute(
                    sql.SQL("update {t} set max_attempts = %s where task_id = %s").format(
                        t=table("t", self.queue)
                    ),
                    (attempt, self.current),
                )
            delay = RUN_ATTEMPT.delay(attempt) if backoff else 0
            await conn.execute(
                "select absurd.fail_run(%s, %s, %s,"
                " absurd.current_time() + make_interval(secs => %s))",
                (self.queue, run_id, Jsonb(reason), delay),
            )


def _reason(err: BaseException) -> dict[str, Any]:
    return storable.store({
        "name": type(err).__name__,
        "message": str(err),
        "traceback": "".join(traceback.format_exception(err)),
    })  # fmt: skip


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
