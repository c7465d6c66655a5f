"""Whatever sandboxed code prints, the run log stores it as it was, and shows it safely.

Postgres' jsonb refuses NUL characters and lone surrogates; such text is stored
wrapped (durable/storable.py) and comes back identical. An error that cannot
succeed on a retry (the database refusing the data itself) fails the run once
instead of re-running the steps' side effects. Text shown on a terminal has its
control characters made visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from test_agent_runs import write_script

from throwaway.cli.render import visible
from throwaway.durable import Durable

ODD = ["a\x00b", "\udcff", "\ud800x", "tab\tand\nnewline", "\x1b]52;c;aGk=\x1b\\ \x1b[2J"]


@pytest.fixture
async def durable(database):
    async with Durable(database) as d:
        yield d


@contextlib.asynccontextmanager
async def working(durable: Durable, handler):
    stop = asyncio.Event()
    task = asyncio.create_task(durable.work(handler, stop=stop, poll_interval=0.05))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_any_text_is_stored_losslessly(durable):
    async def handler(ctx, params):
        out = []
        for text in ODD:
            out.append(await ctx.step("print", lambda text=text: asyncio.sleep(0, text)))
        keyed = await ctx.step("keyed", lambda: asyncio.sleep(0, {"k\x00": ODD, "$text": "x"}))
        return {"texts": out, "keyed": keyed}

    run_id = await durable.start_run("odd text", {"p\x00": "\udcff"})
    async with working(durable, handler):
        record = await durable.wait(run_id, timeout=60)
    assert record.status == "completed", record.error
    assert record.attempts == 1
    assert record.result == {"texts": ODD, "keyed": {"k\x00": ODD, "$text": "x"}}
    assert [s.result for s in record.steps][: len(ODD)] == ODD
    assert record.params == {"p\x00": "\udcff"}


async def test_an_error_that_cannot_succeed_fails_the_run_once(durable):
    effects = []

    async def handler(ctx, params):
        effects.append("side effect")
        return await ctx.step("bad", lambda: asyncio.sleep(0, {"x": float("inf")}))

    run_id = await durable.start_run("refused by the database")
    async with working(durable, handler):
        record = await durable.wait(run_id, timeout=60)
    assert record.status == "failed" and record.attempts == 1
    assert effects == ["side effect"]
    assert "DataError" in record.error or "invalid" in record.error.lower()


@pytest.mark.parametrize("task", ["a\x00b", "bad \udcff"])
async def test_task_text_that_cannot_be_stored_gets_a_clear_error(durable, task):
    with pytest.raises(ValueError, match=r"the task text contains a (NUL|lone surrogate)"):
        await durable.start_run(task)
    assert await durable.list_runs() == []


def test_cli_refuses_a_nul_in_the_task_clearly(tw, tmp_path):
    model = write_script(tmp_path, [{"text": "done"}])
    result = tw.cli("run", "a\x00b", "--model", model, "--detach", check=False)
    assert result.exit_code != 0
    assert "NUL character" in result.output and "Traceback" not in result.output


@pytest.mark.e2e
def test_sandbox_output_round_trips_through_a_durable_run_and_shows_safely(tw, tmp_path):
    code = "\n".join(f"print({text!r})" for text in ODD)
    model = write_script(tmp_path, [
        {"tool_calls": [{"name": "run_python", "args": {"code": code}}]},
        {"text": "done"},
    ])  # fmt: skip
    run = tw.run_json("print odd text", "--model", model)
    assert run["status"] == "completed", run
    assert run["attempts"] == 1
    view = tw.show(run["id"])
    tool = next(s for s in view["steps"] if s["kind"] == "tool")
    for text in ODD:
        assert text in str(tool["result"])
    shown = tw.cli("show", run["id"]).output
    assert "\x1b" not in shown and "\x00" not in shown
    assert visible("\x1b]52;c;aGk=") in shown
    assert json.loads(tw.cli("show", run["id"], "--json").output)["id"] == run["id"]
