"""Durable runs against real Postgres servers and real worker processes, no mocks.

Every test that takes ``durable`` runs twice: on a private embedded server
(started for the session, stopped at the end) and on the test server, in a
database of the test's own (conftest.py's ``database``). Each test gets its own
Absurd queue, dropped afterwards. Worker processes run
tests/durable_worker.py; its trace log counts step executions. Leases are 1-2 s
so that take-overs are quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import absurdctl
import psycopg
import pytest
from absurd_sdk import AsyncAbsurd
from durable_worker import log_lines, make_handler

from throwaway.durable import Durable, blobs, database_url, schema, start_embedded, stop_embedded
from throwaway.durable.database import running_url
from throwaway.durable.worker import TASK_NAME
from throwaway.errors import AmbiguousRunId, BlobNotFound, DurableError, RunNotFound

WORKER = Path(__file__).with_name("durable_worker.py")
SESSION = secrets.token_hex(3)
_queues = itertools.count()


@dataclass
class Backend:
    url: str
    data: Path | None  # the embedded server's data folder


@contextlib.contextmanager
def data_folder():
    """A data folder outside pytest's temp root: another pytest session may make that root
    0700 at any time, and when we are root the server runs as another user."""
    data = Path(tempfile.mkdtemp(prefix="throwaway-durable-"))
    try:
        yield data
    finally:
        stop_embedded(data)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def embedded() -> Backend:
    with data_folder() as data:
        yield Backend(start_embedded(data), data)


@pytest.fixture
def server(database) -> Backend:
    return Backend(database, None)


@pytest.fixture(params=["embedded", "server"])
def backend(request) -> Backend:
    return request.getfixturevalue(request.param)


@pytest.fixture
async def durable(backend):
    """A client on a fresh queue of the backend; the queue is dropped afterwards."""
    d = Durable(backend.url, queue=f"test_{SESSION}_{next(_queues)}")
    try:
        async with d:
            yield d
    finally:
        async with await psycopg.AsyncConnection.connect(backend.url, autocommit=True) as conn:
            await conn.execute("select absurd.drop_queue(%s)", (d.queue,))


@pytest.fixture
def spawn_worker(durable, tmp_path):
    """Start worker processes on the test's queue (``spawn_worker(lease)``); killed at teardown."""
    procs: list[subprocess.Popen] = []

    def spawn(lease: int = 2) -> subprocess.Popen:
        err = (tmp_path / f"worker{len(procs)}.err").open("w")
        args = [sys.executable, str(WORKER), durable.url, durable.queue, str(tmp_path), str(lease)]
        procs.append(subprocess.Popen(args, stdout=err, stderr=err))
        return procs[-1]

    yield spawn
    for proc in procs:
        proc.kill()
        proc.wait()


@contextlib.asynccontextmanager
async def working(durable: Durable, logdir: Path, **kwargs):
    """An in-process worker with the traced handler, stopped on exit."""
    stop = asyncio.Event()
    kwargs.setdefault("lease_seconds", 2)
    task = asyncio.create_task(
        durable.work(make_handler(logdir), stop=stop, poll_interval=0.05, **kwargs)
    )
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task, 5)


async def until_logged(logdir: Path, run_id: str, line: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while line not in log_lines(logdir, run_id):
        assert time.monotonic() < deadline, f"{line!r} never logged for {run_id}"
        await asyncio.sleep(0.02)


async def until_status(durable: Durable, run_id: str, status: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (await durable.get_run(run_id)).status != status:
        assert time.monotonic() < deadline, f"{run_id} never became {status}"
        await asyncio.sleep(0.05)


def executions(logdir: Path, run_id: str) -> dict[str, int]:
    """How often each log line appears: {"start 0": 1, "end 0": 1, …}."""
    lines = log_lines(logdir, run_id)
    return {line: lines.count(line) for line in lines}


# --- records and statuses ---------------------------------------------------------------


async def test_a_run_goes_from_queued_to_completed_with_its_steps_in_order(durable, tmp_path):
    run_id = await durable.start_run("add things", {"steps": 3})
    queued = await durable.get_run(run_id)
    assert (queued.status, queued.task, queued.params) == ("queued", "add things", {"steps": 3})
    assert queued.steps == [] and queued.result is None and queued.finished_at is None

    async with working(durable, tmp_path):
        record = await durable.wait(run_id, timeout=20)

    assert record.status == "completed"
    assert record.result == {"answer": 0 + 1 + 2, "attempt": 1}
    assert [(s.name, s.result) for s in record.steps] == [("work", 0), ("work#2", 1), ("work#3", 2)]
    assert record.error is None and record.attempts == 1 and record.finished_at is not None
    assert record.as_json()["steps"][1] == {
        "name": "work#2",
        "result": 1,
        "at": record.steps[1].at.isoformat(),
        "seconds": record.steps[1].seconds,
    }
    first, second, third = record.steps
    assert record.started_at <= first.started <= first.at
    assert (second.started, third.started) == (first.at, second.at)
    assert record.seconds >= 0 and all(s.seconds >= 0 for s in record.steps)
    [listed] = await durable.list_runs()
    assert (listed.id, listed.status, listed.steps) == (run_id, "completed", None)
    assert (listed.step_count, listed.started_at) == (3, record.started_at)


async def test_a_run_is_found_by_the_start_of_its_id(durable):
    ids = [await durable.start_run(f"task {i}") for i in range(3)]
    for run_id in ids:
        shortest = next(n for n in range(1, 37) if sum(i.startswith(run_id[:n]) for i in ids) == 1)
        assert (await durable.get_run(run_id[:shortest])).id == run_id
        assert (await durable.get_run(run_id[:shortest].upper())).id == run_id
    with pytest.raises(AmbiguousRunId) as info:
        await durable.get_run(ids[0][:4])  # uuid7: the first digits are the time
    assert sorted(info.value.matches) == sorted(ids)
    assert all(i in str(info.value) for i in ids)
    with pytest.raises(RunNotFound, match="no run 'ffff'"):
        await durable.get_run("ffff")
    await durable.cancel(ids[1][:-6])
    assert (await durable.get_run(ids[1])).status == "cancelled"
    await durable.resume(ids[1][:-6])
    assert (await durable.get_run(ids[1])).status == "queued"


async def test_runs_are_listed_by_status(durable, tmp_path):
    ids = [await durable.start_run(f"task {i}") for i in range(3)]
    await durable.cancel(ids[0])
    await durable.cancel(ids[2])
    cancelled = await durable.list_runs(limit=5, status="cancelled")
    assert [r.id for r in cancelled] == [ids[2], ids[0]]
    assert [r.id for r in await durable.list_runs(limit=1, status="cancelled")] == [ids[2]]
    assert [r.id for r in await durable.list_runs(status="queued")] == [ids[1]]
    assert await durable.list_runs(status="failed") == []


async def test_runs_are_listed_newest_first(durable):
    ids = [await durable.start_run(f"task {i}") for i in range(3)]
    assert [r.id for r in await durable.list_runs(limit=2)] == ids[::-1][:2]


async def test_unknown_runs_and_wrong_resumes_are_refused(durable, tmp_path):
    for bad in ("not-a-uuid", "01a216bb-173c-7760-b00a-ce22d229b275"):
        with pytest.raises(RunNotFound):
            await durable.get_run(bad)
        with pytest.raises(RunNotFound):
            await durable.cancel(bad)
    run_id = await durable.start_run("t")
    with pytest.raises(DurableError, match="only failed or cancelled"):
        await durable.resume(run_id)


# --- steps run once ----------------------------------------------------------------------


async def test_a_step_runs_once_when_its_run_is_executed_again(durable, tmp_path):
    # The handler raises after step 0 on its first attempt; the retry replays step 0.
    run_id = await durable.start_run("t", {"steps": 2, "raise_at": 0})
    async with working(durable, tmp_path):
        record = await durable.wait(run_id, timeout=20)
    assert record.status == "completed" and record.attempts == 2
    assert record.result == {"answer": 1, "attempt": 2}
    assert executions(tmp_path, run_id) == {
        "start 0": 1,
        "end 0": 1,
        "start 1": 1,
        "end 1": 1,
        "finish": 1,
    }


async def test_heartbeats_keep_a_step_longer_than_the_lease(durable, tmp_path):
    # Two workers, a 2 s lease and a 4.5 s step: without heartbeats the second would take over.
    run_id = await durable.start_run("t", {"steps": 1, "step_seconds": 4.5})
    async with (
        working(durable, tmp_path, lease_seconds=2),
        working(durable, tmp_path, lease_seconds=2),
    ):
        record = await durable.wait(run_id, timeout=20)
    assert record.status == "completed" and record.attempts == 1
    assert executions(tmp_path, run_id)["start 0"] == 1


# --- crashes, races, restarts (real processes) ------------------------------------------------


@pytest.mark.e2e
async def test_a_killed_worker_s_run_is_finished_by_another_without_redoing_steps(
    durable, tmp_path, spawn_worker
):
    (tmp_path / "hold").touch()
    run_id = await durable.start_run("t", {"steps": 3, "hold_at": 1})
    first = spawn_worker(lease=2)
    await until_logged(tmp_path, run_id, "start 1")
    first.kill()  # SIGKILL in the middle of step 1
    first.wait()
    assert (await durable.get_run(run_id)).status == "running"  # until its lease expires
    await until_status(durable, run_id, "queued")  # lease expired: free for any worker

    (tmp_path / "hold").unlink()
    spawn_worker(lease=2)
    record = await durable.wait(run_id, timeout=30)

    assert record.status == "completed" and record.attempts == 2
    assert [s.name for s in record.steps] == ["work", "work#2", "work#3"]
    counts = executions(tmp_path, run_id)
    assert counts["start 0"] == 1 and counts["start 2"] == 1  # done steps never ran again
    assert (
        counts["start 1"] == 2 and counts["end 1"] == 1
    )  # the interrupted one ran to the end once


async def test_a_cancelled_worker_hands_its_run_over_at_once(durable, tmp_path):
    (tmp_path / "hold").touch()
    run_id = await durable.start_run("t", {"steps": 2, "hold_at": 1})
    worker = asyncio.create_task(durable.work(make_handler(tmp_path), lease_seconds=600))
    await until_logged(tmp_path, run_id, "start 1")
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker
    record = await durable.get_run(run_id)
    assert record.status == "queued"  # not held for the 600 s lease

    (tmp_path / "hold").unlink()
    async with working(durable, tmp_path):
        record = await durable.wait(run_id, timeout=20)
    assert record.status == "completed" and record.attempts == 2
    assert executions(tmp_path, run_id)["start 0"] == 1


@pytest.mark.e2e
async def test_two_workers_racing_complete_each_run_exactly_once(durable, tmp_path, spawn_worker):
    ids = [await durable.start_run(f"t{i}", {"steps": 2, "step_seconds": 0.02}) for i in range(10)]
    spawn_worker()
    spawn_worker()
    records = [await durable.wait(run_id, timeout=30) for run_id in ids]
    assert {r.status for r in records} == {"completed"}
    assert {r.attempts for r in records} == {1}
    for run_id in ids:
        assert executions(tmp_path, run_id) == {
            "start 0": 1, "end 0": 1, "start 1": 1, "end 1": 1, "finish": 1,
        }  # fmt: skip


@pytest.mark.e2e
@pytest.mark.parametrize("backend", ["embedded"], indirect=True)  # the one ours to restart
async def test_a_run_finishes_when_postgres_restarts_in_the_middle(
    durable, backend, tmp_path, spawn_worker
):
    (tmp_path / "hold").touch()
    run_id = await durable.start_run("t", {"steps": 3, "hold_at": 1})
    spawn_worker(lease=2)
    await until_logged(tmp_path, run_id, "start 1")

    assert stop_embedded(backend.data)
    await asyncio.sleep(0.5)
    assert start_embedded(backend.data) == backend.url
    (tmp_path / "hold").unlink()

    record = await durable.wait(run_id, timeout=30)
    assert record.status == "completed"
    counts = executions(tmp_path, run_id)
    assert counts["start 0"] == 1 and counts["start 2"] == 1 and counts["finish"] == 1


async def test_a_worker_on_one_run_leaves_the_older_runs_of_the_queue_alone(durable, tmp_path):
    older = await durable.start_run("t")
    mine = await durable.start_run("t")
    async with working(durable, tmp_path, only=mine):
        assert (await durable.wait(mine, timeout=20)).status == "completed"
    assert (await durable.get_run(older)).status == "queued"
    assert log_lines(tmp_path, older) == []


async def test_a_worker_on_one_run_takes_it_over_once_its_lease_expired(
    durable, tmp_path, spawn_worker
):
    (tmp_path / "hold").touch()
    run_id = await durable.start_run("t", {"steps": 2, "hold_at": 0})
    first = spawn_worker(1)
    await until_logged(tmp_path, run_id, "start 0")
    first.kill()  # holds the run until its lease expires
    first.wait()
    (tmp_path / "hold").unlink()
    async with working(durable, tmp_path, only=run_id):
        record = await durable.wait(run_id, timeout=20)
    assert record.status == "completed" and record.attempts == 2
    assert executions(tmp_path, run_id)["start 0"] == 2


# --- cancel, fail, resume ----------------------------------------------------------------


async def test_a_cancelled_queued_run_is_never_started(durable, tmp_path):
    cancelled = await durable.start_run("t")
    await durable.cancel(cancelled)
    other = await durable.start_run("t")
    async with working(durable, tmp_path):
        assert (await durable.wait(other, timeout=20)).status == "completed"
    record = await durable.get_run(cancelled)
    assert record.status == "cancelled" and record.finished_at is not None
    assert log_lines(tmp_path, cancelled) == []


async def test_cancel_says_what_the_run_was_and_leaves_finished_runs_alone(durable, tmp_path):
    (tmp_path / "hold").touch()
    held = await durable.start_run("t", {"hold_at": 0})
    queued = await durable.start_run("t")
    assert await durable.cancel(queued) == "queued"
    assert await durable.cancel(queued) == "cancelled"
    async with working(durable, tmp_path, lease_seconds=5):
        await until_logged(tmp_path, held, "start 0")
        assert await durable.cancel(held) == "running"
        assert (await durable.get_run(held)).status == "cancelled"
        done = await durable.start_run("t")
        assert (await durable.wait(done, timeout=20)).status == "completed"
    with pytest.raises(DurableError, match=r"has already completed.*nothing was changed"):
        await durable.cancel(done)
    assert (await durable.get_run(done)).status == "completed"


async def test_cancelling_a_running_run_stops_it_and_resume_continues_it(durable, tmp_path):
    (tmp_path / "hold").touch()
    run_id = await durable.start_run("t", {"steps": 2, "hold_at": 1})
    async with working(durable, tmp_path, lease_seconds=1):
        await until_logged(tmp_path, run_id, "start 1")
        await durable.cancel(run_id)
        assert (await durable.get_run(run_id)).status == "cancelled"
        # The held step is abandoned: the single slot is free for the next run.
        other = await durable.start_run("t")
        assert (await durable.wait(other, timeout=20)).status == "completed"
        assert "end 1" not in log_lines(tmp_path, run_id)

        (tmp_path / "hold").unlink()
        await durable.resume(run_id)
        record = await durable.wait(run_id, timeout=20)
    assert record.status == "completed" and record.result == {"answer": 1, "attempt": 2}
    counts = executions(tmp_path, run_id)
    assert counts["start 0"] == 1 and counts["start 1"] == 2


async def test_run_failed_ends_a_run_at_once_and_resume_continues_it(durable, tmp_path):
    (tmp_path / "fail").touch()
    run_id = await durable.start_run("t", {"steps": 2, "fail_at": 0})
    async with working(durable, tmp_path):
        failed = await durable.wait(run_id, timeout=20)
        assert failed.status == "failed" and failed.attempts == 1
        assert failed.error == "RunFailed: told to fail"

        (tmp_path / "fail").unlink()
        await durable.resume(run_id)
        record = await durable.wait(run_id, timeout=20)
    assert record.status == "completed" and record.error is None
    assert executions(tmp_path, run_id)["start 0"] == 1


# --- blobs ---------------------------------------------------------------------------------


async def test_blobs_round_trip_by_sha256(durable):
    data = [b"", f"workspace snapshot {SESSION}".encode(), os.urandom(3 << 20)]
    shas = [hashlib.sha256(d).hexdigest() for d in data]
    async with await psycopg.AsyncConnection.connect(durable.url, autocommit=True) as conn:
        cur = await conn.execute(
            "select sha256 from throwaway.blobs where sha256 = any(%s)", (shas,)
        )
        existed = {sha for (sha,) in await cur.fetchall()}  # on a shared server, leave those
        try:
            assert [await durable.put_blob(d) for d in data] == shas
            assert [await durable.get_blob(s) for s in shas] == data
            assert await durable.put_blob(data[1]) == shas[1]
            cur = await conn.execute(
                "select count(*) from throwaway.blobs where sha256 = %s", (shas[1],)
            )
            assert (await cur.fetchone())[0] == 1  # stored once
            with pytest.raises(BlobNotFound):
                await durable.get_blob("0" * 64)
        finally:
            mine = [sha for sha in shas if sha not in existed]
            await conn.execute("delete from throwaway.blobs where sha256 = any(%s)", (mine,))


# --- the database --------------------------------------------------------------------------


async def test_concurrent_opens_install_the_schema_once(embedded):
    name = f"race_{SESSION}"
    async with await psycopg.AsyncConnection.connect(embedded.url, autocommit=True) as admin:
        await admin.execute(f"create database {name}")
        try:
            url = embedded.url.replace("/postgres?", f"/{name}?")
            async with contextlib.AsyncExitStack() as stack:
                opening = (stack.enter_async_context(Durable(url, queue="q")) for _ in range(4))
                clients = await asyncio.gather(*opening)
                run_id = await clients[0].start_run("t")
                assert await applied_migrations(url) == ["m001_initial"]
                assert (await clients[3].get_run(run_id)).status == "queued"
        finally:
            await admin.execute(f"drop database {name} with (force)")


#: What throwaway installed before migrations existed: Absurd's schema, the blob table, a queue.
SCHEMA_BEFORE_MIGRATIONS = """
create schema if not exists throwaway;
create table if not exists throwaway.blobs (
    sha256 text primary key,
    data bytea not null,
    size bigint not null,
    created_at timestamptz not null default now()
);
select absurd.create_queue('throwaway');
"""


async def applied_migrations(url: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("select name from throwaway.migrations order by applied_at, name")
        return [name for (name,) in await cur.fetchall()]


async def test_an_empty_database_gets_every_migration_once(database):
    async with Durable(database) as durable:
        run_id = await durable.start_run("t")
    async with Durable(database) as durable:
        assert (await durable.get_run(run_id)).status == "queued"
    assert await applied_migrations(database) == [m.__name__ for m in schema.MIGRATIONS]


async def test_a_database_made_before_migrations_is_adopted_with_its_data(database):
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        await conn.execute(absurdctl.BUNDLED_SCHEMA_SQL)
        await conn.execute(SCHEMA_BEFORE_MIGRATIONS)
    async with await psycopg.AsyncConnection.connect(database) as conn:
        app = AsyncAbsurd(conn, queue_name="throwaway")
        spawned = await app.spawn(TASK_NAME, {"task": "old", "params": {}}, queue="throwaway")
        old_blob = await blobs.put_blob(conn, b"kept")
        await conn.commit()

    async with Durable(database) as durable:
        assert (await durable.get_run(str(spawned["task_id"]))).task == "old"
        assert await durable.get_blob(old_blob) == b"kept"
    assert await applied_migrations(database) == ["m001_initial"]


async def test_a_new_migration_is_applied_once_on_the_next_open(database, monkeypatch):
    async with Durable(database):
        pass
    calls = []

    async def m002_notes(conn: psycopg.AsyncConnection) -> None:
        calls.append(1)
        await conn.execute("create table throwaway.notes (text text)")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, m002_notes])
    for _ in range(2):
        async with Durable(database):
            pass
    assert calls == [1]
    assert await applied_migrations(database) == ["m001_initial", "m002_notes"]


@pytest.mark.e2e
def test_processes_share_one_embedded_server_that_outlives_them():
    code = "import sys, pathlib; from throwaway.durable import start_embedded;"
    code += " print(start_embedded(pathlib.Path(sys.argv[1])))"
    with data_folder() as data:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(data)], stdout=subprocess.PIPE, text=True
            )
            for _ in range(3)
        ]
        urls = {proc.communicate(timeout=60)[0].strip() for proc in procs}
        assert len(urls) == 1 and running_url(data) in urls  # one server, still up
        pid = (data / "postgres" / "postmaster.pid").read_text().split()[0]
        assert start_embedded(data) in urls
        assert (data / "postgres" / "postmaster.pid").read_text().split()[0] == pid
        assert stop_embedded(data)
        assert running_url(data) is None
        assert not stop_embedded(data)


def test_the_url_comes_from_the_environment_or_the_embedded_server(monkeypatch, embedded):
    monkeypatch.setenv("THROWAWAY_DATABASE_URL", "postgresql://db.example/throwaway")
    assert database_url() == "postgresql://db.example/throwaway"
    monkeypatch.delenv("THROWAWAY_DATABASE_URL")
    monkeypatch.setenv("THROWAWAY_DATA", str(embedded.data))
    assert database_url() == embedded.url
