"""A lone worker brings a dead embedded Postgres back.

With no THROWAWAY_DATABASE_URL the worker uses the embedded server; when that
server dies (killed, stopped, a reboot of its data folder's owner...), the
worker starts it again instead of retrying "database unreachable" forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from throwaway.durable import Durable, start_embedded, stop_embedded
from throwaway.durable.database import running_url


@pytest.fixture
def embedded_only(monkeypatch):
    data = Path(tempfile.mkdtemp(prefix="throwaway-revive-"))
    monkeypatch.delenv("THROWAWAY_DATABASE_URL", raising=False)
    monkeypatch.setenv("THROWAWAY_DATA", str(data))
    try:
        yield data
    finally:
        stop_embedded(data)
        shutil.rmtree(data, ignore_errors=True)


async def test_a_lone_worker_restarts_a_stopped_embedded_postgres(embedded_only):
    start_embedded(embedded_only)
    async with Durable() as durable:
        assert durable.embedded == embedded_only

        async def handler(ctx, params):
            return await ctx.step("answer", lambda: asyncio.sleep(0, "42"))

        stop = asyncio.Event()
        worker = asyncio.create_task(durable.work(handler, stop=stop, poll_interval=0.05))
        try:
            await asyncio.sleep(0.5)
            await asyncio.to_thread(stop_embedded, embedded_only)
            deadline = time.monotonic() + 60
            while running_url(embedded_only) is None:  # nobody but the worker can start it
                assert time.monotonic() < deadline, "the worker never restarted the server"
                await asyncio.sleep(0.1)
            run_id = await durable.start_run("after the restart")
            record = await durable.wait(run_id, timeout=60)
            assert record.status == "completed" and record.result == "42"
        finally:
            stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(worker, 10)
