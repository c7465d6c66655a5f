"""``Durable``: start runs, work on them, look at them, cancel and resume them; blobs.

Everything is async. The client keeps one connection for its own calls and
reconnects (once per call) when it finds it broken, e.g. after Postgres
restarted; ``work()`` opens a connection per slot (see worker.py).

Attempts: each execution of a run is an attempt, and a run that has used
``max_attempts`` (default 10) without finishing ends ``failed``. What uses one:
a worker crash or lost lease, a lost database connection, an exception from the
handler (retried after 1, 2, 4, … 60 s). Ten lets a run survive nine of those;
``resume()`` gives a failed or cancelled run ``max_attempts`` more.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from absurd_sdk import AsyncAbsurd
from psycopg import AsyncConnection

from throwaway.durable import blobs, runs, storable
from throwaway.durable.database import (
    URL_ENV,
    data_dir,
    database_url,
    one_line,
    start_embedded,
)
from throwaway.durable.runs import RunRecord, Status
from throwaway.durable.schema import ensure_schema
from throwaway.durable.worker import TASK_NAME, Handler, work
from throwaway.errors import DurableError, InvalidTask

T = TypeVar("T")

DEFAULT_QUEUE = "throwaway"
DEFAULT_MAX_ATTEMPTS = 10


class Durable:
    """Durable runs on one Absurd queue of one Postgres database.

    ``async with Durable(url) as durable:`` connects to ``url`` (default
    ``database_url()``: $THROWAWAY_DATABASE_URL or the embedded server) and installs
    the schema and queue if they are missing.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        queue: str = DEFAULT_QUEUE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self.url = url
        #: The data folder of the embedded server we use, if we do (known once connected).
        self.embedded: Path | None = None
        self.queue = queue
        self.max_attempts = max_attempts
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> Durable:
        if self.url is None:
            self.embedded = None if os.environ.get(URL_ENV) else data_dir()
            self.url = await asyncio.to_thread(database_url)
        conn = await _connect(self.url)
        try:
            await ensure_schema(conn, self.queue)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Close the client's connection (workers started by ``work()`` have their own)."""
        if self._conn is not None:
            await self._conn.close()

    async def start_run(self, task: str, params: dict[str, Any] | None = None) -> str:
        """Queue a run of ``task`` (the handler gets ``params``); its run id.

        InvalidTask (a ValueError) for a task text with a NUL character or a lone
        surrogate: text that no database column can hold, and no model can read.
        """
        if not isinstance(task, str) or (bad := storable.UNSTORABLE.search(task)):
            where = f" at character {bad.start() + 1}" if isinstance(task, str) else ""
            raise InvalidTask(
                f"the task text contains {_named(bad.group()) if bad else 'no text'}{where}, "
                "which a run cannot store; remove it and try again"
            )
        payload = {"task": task, "params": storable.store(params or {})}
        key = uuid.uuid4().hex  # makes the one retry after a reconnect safe

        async def spawn(conn: AsyncConnection) -> str:
            app = AsyncAbsurd(conn, queue_name=self.queue)
            spawned = await app.spawn(
                TASK_NAME,
                payload,
                queue=self.queue,
                max_attempts=self.max_attempts,
                idempotency_key=key,
            )
            return str(spawned["task_id"])

        return await self._call(spawn)

    async def work(
        self,
        handler: Handler,
        *,
        concurrency: int = 1,
        lease_seconds: int = 60,
        stop: asyncio.Event | None = None,
        poll_interval: float = 0.25,
        only: str | None = None,
    ) -> None:
        """Execute queued runs with ``await handler(ctx, params)`` until ``stop`` is set.

        ``concurrency`` runs at a time. A run whose worker went silent for
        ``lease_seconds`` is taken over by another worker (steps renew the lease
        while they run). Returns once ``stop`` is set and the runs in progress
        are done; cancelling it instead gives those runs up for others at once.
        The handler's return value (JSON) becomes the run's ``result``. ``only`` (a run
        id): work on that run alone, leaving the rest of the queue to other workers.
        """
        await work(
            self.url,
            self.queue,
            handler,
            concurrency=concurrency,
            lease_seconds=lease_seconds,
            stop=stop or asyncio.Event(),
            poll_interval=poll_interval,
            revive=self.embedded and (lambda: start_embedded(self.embedded)),
            only=only,
        )

    async def get_run(self, run_id: str) -> RunRecord:
        """The run with its steps. ``run_id`` may be the start of an id, as with git's hashes:
        RunNotFound if no run's id starts with it, AmbiguousRunId if several do."""
        return await self._call(lambda conn: runs.get_run(conn, self.queue, run_id))

    async def resolve(self, run_id: str) -> str:
        """The whole id of the one run whose id starts with ``run_id`` (checked to exist)."""
        return str(await self._call(lambda conn: runs.resolve(conn, self.queue, run_id)))

    async def list_runs(self, limit: int = 20, status: Status | None = None) -> list[RunRecord]:
        """The newest runs first (only those with ``status``, if given), without their steps."""
        return await self._call(lambda conn: runs.list_runs(conn, self.queue, limit, status))

    async def wait(
        self, run_id: str, timeout: float | None = None, poll_interval: float = 0.2
    ) -> RunRecord:
        """Wait until the run is completed, failed or cancelled; TimeoutError after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (record := await self.get_run(run_id)).done:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} is still {record.status} after {timeout} s")
            await asyncio.sleep(poll_interval)
        return record

    async def cancel(self, run_id: str) -> Status:
        """Cancel the run (an id or its start); the status it had: ``queued`` (it will never
        start), ``running`` (its worker stops it at its next step, within a second or so) or
        ``cancelled`` (nothing to do). A completed or failed run cannot be cancelled:
        DurableError."""
        return await self._call(lambda conn: runs.cancel(conn, self.queue, run_id))

    async def resume(self, run_id: str) -> None:
        """Queue a failed or cancelled run (an id or its start) again; it continues from its
        stored steps."""
        await self._call(lambda conn: runs.requeue(conn, self.queue, run_id, self.max_attempts))

    async def put_blob(self, data: bytes) -> str:
        """Store ``data`` once, content-addressed; its sha256 (hex)."""
        return await self._call(lambda conn: blobs.put_blob(conn, data))

    async def get_blob(self, sha: str) -> bytes:
        """The bytes stored under ``sha``; BlobNotFound if there are none."""
        return await self._call(lambda conn: blobs.get_blob(conn, sha))

    async def _call(self, op: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``op(conn)``, reconnecting and trying once more if the connection turns out broken."""
        if self._conn is None:
            raise DurableError("use Durable in `async with Durable(...) as durable:`")
        if self._conn.broken or self._conn.closed:
            self._conn = await _connect(self.url)
        try:
            return await op(self._conn)
        except psycopg.OperationalError:
            if not self._conn.broken:
                raise
        self._conn = await _connect(self.url)
        return await op(self._conn)


def _named(char: str) -> str:
    return "a NUL character (\\x00)" if char == "\0" else f"a lone surrogate (\\u{ord(char):04x})"


async def _connect(url: str) -> AsyncConnection:
    try:
        return await AsyncConnection.connect(url, autocommit=True)
    except psycopg.OperationalError as err:
        hint = f"; check ${URL_ENV}" if os.environ.get(URL_ENV) else ""
        raise DurableError(f"cannot connect to the database: {one_line(err)}{hint}") from err
