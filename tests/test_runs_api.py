"""The Python API for runs, ``throwaway.Runs``, on a real Postgres with real sandboxes.

Each test gets a fresh database on the Postgres server (127.0.0.1:5432, or
THROWAWAY_TEST_SERVER_URL); models are the scripted model (``scripted:FILE``).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner
from test_agent_runs import fresh_database

import throwaway
from throwaway.cli import main

WRITE = "open('/mnt/out/hello.txt', 'w').write('hi')\nprint(6 * 7)"
SCRIPT = [
    {"tool_calls": [{"name": "run_python", "args": {"code": WRITE}}]},
    {"text": "It is 42."},
]


@pytest.fixture
def url():
    with fresh_database() as url:
        yield url


@pytest.fixture
def model(tmp_path) -> str:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(SCRIPT))
    return f"scripted:{path}"


def cli(url: str, *args: str) -> dict:
    """A `throwaway` command on ``url`` (in a thread: it calls asyncio.run); its JSON output."""
    env = {"THROWAWAY_DATABASE_URL": url, "THROWAWAY_MODEL": None}
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(CliRunner().invoke, main, list(args), env=env).result()
    assert result.exit_code == 0, f"throwaway {args}: {result.output}{result.exception!r}"
    return json.loads(result.stdout)


async def test_a_run_started_and_awaited_is_worked_on_in_this_process(url, model, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    async with throwaway.Runs(url) as runs:
        run = await runs.start("what is six times seven?", model=model, mounts=[f"out={out}:rw"])
        assert run.status == "queued" and run.answer is None
        assert await run.wait() is run
        assert (run.status, run.answer, run.error) == ("completed", "It is 42.", None)
        assert run.task == "what is six times seven?"
        assert [s["kind"] for s in run.steps] == ["model", "tool", "model"]
        assert run.steps[1]["ok"] and "42" in run.steps[1]["result"]
        assert (out / "hello.txt").read_text() == "hi"

        again = await runs.get(run.id)
        assert again.as_json() == run.as_json() and again.answer == "It is 42."
        assert [(r.id, r.status) for r in await runs.list()] == [(run.id, "completed")]
        mounts = again.record.params["mounts"]
    assert mounts == [{"name": "out", "source": str(out), "writable": True}]
    shown = cli(url, "show", run.id, "--json")
    assert shown.pop("files") == []  # show also lists the workspace files; this run left none
    assert shown == run.as_json()


async def test_detached_runs_wait_for_another_worker(url, model):
    async with throwaway.Runs(url, detach=True) as queue_only:
        run = await queue_only.start("six times seven?", model=model)
        with pytest.raises(TimeoutError, match="still queued"):
            await run.wait(timeout=0)  # nobody works on it
        async with throwaway.Runs(url) as worker:
            await (await worker.get(run.id)).wait()
        assert (await run.refresh()).answer == "It is 42."
        assert (await run.wait(timeout=0)).status == "completed"


async def test_a_cancelled_run_ends_and_resumes_to_completion(url, model):
    async with throwaway.Runs(url, detach=True) as runs:
        run = await runs.start("six times seven?", model=model)
        await run.cancel()
        assert run.status == "cancelled"
        assert (await run.wait()).status == "cancelled"
        resumed = await runs.resume(run.id)
        assert resumed.status == "queued"
    async with throwaway.Runs(url) as runs:
        assert (await (await runs.get(run.id)).wait()).answer == "It is 42."


async def test_bad_input_gets_a_clear_error_before_anything_is_queued(url, model, tmp_path):
    async with throwaway.Runs(url) as runs:
        with pytest.raises(throwaway.ModelConfigError, match="provider:model"):
            await runs.start("t", model="no-such-model")
        with pytest.raises(ValueError, match="is not a folder"):
            await runs.start("t", model=model, mounts=["data=./does-not-exist"])
        with pytest.raises(ValueError, match="its own NAME"):
            await runs.start("t", model=model, mounts=[f"a={tmp_path}", f"a={tmp_path}:rw"])
        with pytest.raises(throwaway.InvalidTask, match="NUL"):
            await runs.start("a\0b", model=model)
        with pytest.raises(throwaway.RunNotFound):
            await runs.get("00000000-0000-0000-0000-000000000000")
        assert await runs.list() == []


async def test_a_durable_client_connects_only_in_async_with(url):
    durable = throwaway.Runs(url).durable
    with pytest.raises(throwaway.DurableError, match="async with"):
        await durable.list_runs()
    async with durable:
        assert await durable.list_runs() == []


def test_run_detach_json_prints_the_queued_run_as_show_json_does(url, model):
    queued = cli(url, "run", "six times seven?", "--model", model, "--detach", "--json")
    assert queued["status"] == "queued" and queued["answer"] is None
    assert queued["steps"] == [] and queued["task"] == "six times seven?"
    assert queued == cli(url, "show", queued["id"], "--json")


async def test_a_wait_that_times_out_gives_the_run_up_for_the_next_wait(url, model):
    async with throwaway.Runs(url) as runs:
        run = await runs.start("six times seven?", model=model)
        with pytest.raises(TimeoutError):
            await run.wait(timeout=0)  # its worker is stopped at once, the run given up
        assert (await run.refresh()).status == "queued"
        assert (await run.wait()).answer == "It is 42."
