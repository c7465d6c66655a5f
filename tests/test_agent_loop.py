"""The agent loop with the scripted model: tools, caps, journaled replay, workspace restore."""

from __future__ import annotations

import json

import pytest

from throwaway import Sandbox
from throwaway.agent.help import HelpIndex
from throwaway.agent.loop import Agent, MemoryJournal
from throwaway.agent.scripted import ScriptedModel, parse_script
from throwaway.agent.tools import Toolbox
from throwaway.errors import RunFailed


def code(src: str) -> dict:
    return {"tool_calls": [{"name": "run_python", "args": {"code": src}}]}


class ReplayJournal(MemoryJournal):
    """A journal that already holds another run's steps: what a resumed run sees."""

    def __init__(self, done: MemoryJournal, keep: int):
        super().__init__(blobs=dict(done.blobs))
        self.log = dict(done.steps[:keep])
        self.executed: list[str] = []

    async def step(self, name, fn):
        self._names[name] += 1
        count = self._names[name]
        key = name if count == 1 else f"{name}#{count}"
        if key in self.log:
            return self.log[key]
        self.executed.append(key)
        value = json.loads(json.dumps(await fn()))
        self.steps.append((key, value))
        return value


async def run(turns, journal=None, sandbox=None, **toolbox_args):
    model = ScriptedModel(parse_script(turns))
    own = sandbox is None
    sandbox = sandbox or Sandbox(timeout=20)
    index = HelpIndex()
    events = []
    try:
        await sandbox.start()
        toolbox = Toolbox(sandbox, model, index, **toolbox_args)
        agent = Agent(model, toolbox, journal or MemoryJournal(), on_event=events.append)
        answer = await agent.run("task")
    finally:
        if own:
            await sandbox.close()
    return answer, events, agent.journal


async def test_the_loop_runs_code_and_returns_the_final_text():
    answer, events, journal = await run([code("x = 6 * 7\nprint(x)"), {"text": "42"}])
    assert answer == "42"
    assert [name for name, _ in journal.steps] == ["model", "tool:call-0-0", "model#2"]
    tool = next(e for e in events if e["kind"] == "tool")
    assert tool["ok"] and "42" in tool["result"]


async def test_unknown_tools_and_bad_arguments_go_back_to_the_model():
    turns = [{"tool_calls": [{"name": "shell", "args": {"cmd": "ls"}},
                             {"name": "run_python", "args": "{not json"},
                             {"name": "run_python", "args": {"source": "1"}}]},
             {"text": "ok"}]  # fmt: skip
    answer, events, _ = await run(turns)
    results = [e for e in events if e["kind"] == "tool"]
    assert answer == "ok"
    assert [r["ok"] for r in results] == [False, False, False]
    assert "no tool 'shell'" in results[0]["result"]


async def test_long_output_is_cut_for_the_model_and_saved_whole():
    sandbox = Sandbox(timeout=20)
    async with sandbox:
        _, events, _ = await run([code("print('y' * 50_000)"), {"text": "done"}],
                                 sandbox=sandbox, result_limit=5000)  # fmt: skip
        result = next(e for e in events if e["kind"] == "tool")["result"]
        assert len(result) < 6000
        saved = result.split("the whole text is in ")[1].split(",")[0]
        assert len(await sandbox.read_file(saved)) > 50_000


async def test_help_finds_the_shipped_docs():
    turns = [{"tool_calls": [{"name": "help", "args": {"query": "read an excel spreadsheet"}}]},
             {"text": "ok"}]  # fmt: skip
    _, events, _ = await run(turns)
    assert "openpyxl" in next(e for e in events if e["kind"] == "tool")["result"]


async def test_a_resumed_run_replays_finished_steps_and_restores_the_workspace():
    turns = [code("open('a.txt', 'w').write('from step 1'); n = 1"),
             code("open('b.txt', 'w').write(open('a.txt').read() + ' and 2')"),
             {"text": "done"}]  # fmt: skip
    _, _, first = await run(turns)
    # a new worker: fresh sandbox, the log up to and including the first tool step
    resumed = ReplayJournal(first, keep=2)
    answer, events, journal = await run(turns, journal=resumed)
    assert answer == "done"
    assert resumed.executed == ["model#2", "tool:call-1-0", "model#3"]
    resumed_step = [e for e in events if e["kind"] == "tool"][-1]
    assert "new interpreter" in resumed_step["result"]  # the model is told variables are gone
    final = dict(journal.steps)["tool:call-1-0"]["workspace"]
    assert final == dict(first.steps)["tool:call-1-0"]["workspace"]  # same files as uninterrupted


async def test_no_final_answer_within_the_turn_limit_fails_the_run():
    sandbox = Sandbox(timeout=20)
    model = ScriptedModel(parse_script([code("1")] * 3))
    async with sandbox:
        agent = Agent(model, Toolbox(sandbox, model, HelpIndex()), MemoryJournal(), max_turns=2)
        with pytest.raises(RunFailed, match="no final answer"):
            await agent.run("task")
