"""The agent loop with the scripted model: tools, caps, journaled replay, workspace restore.

Tests of the loop alone use `FakeSandbox` (no Deno); those of the sandbox path a real one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from provider_server import ProviderServer, openai_error, openai_text

from throwaway import Sandbox
from throwaway.agent.help import HelpIndex
from throwaway.agent.loop import Agent, MemoryJournal
from throwaway.agent.models import resolve_model
from throwaway.agent.prompt import system_prompt
from throwaway.agent.scripted import ScriptedModel, parse_script
from throwaway.agent.tools import DEFINITIONS, IMAGES, Toolbox
from throwaway.errors import RunFailed
from throwaway.sandbox.result import ExecResult


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


class NoMounts:
    def describe(self) -> dict:
        return {}


@dataclass
class FakeSandbox:
    """What the loop needs of a sandbox, in memory: each run returns the next of ``results``."""

    results: list[ExecResult] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    timeout: float = 20.0
    mounts: NoMounts = field(default_factory=NoMounts)

    async def run(self, code: str) -> ExecResult:
        return self.results.pop(0)

    async def read_file(self, path: str) -> bytes:
        return self.files[path]

    async def write_file(self, path: str, data: bytes | str) -> None:
        self.files[path] = data.encode() if isinstance(data, str) else data

    async def snapshot_workspace(self) -> bytes:
        return json.dumps({k: v.decode("latin-1") for k, v in self.files.items()}).encode()

    async def restore_workspace(self, snapshot: bytes) -> None:
        self.files = {k: v.encode("latin-1") for k, v in json.loads(snapshot).items()}


async def run_loop(turns, sandbox, journal=None, model=None, **toolbox_args):
    """The loop over ``sandbox`` (started by the caller): (answer, events, journal)."""
    model = model or ScriptedModel(parse_script(turns))
    toolbox = Toolbox(sandbox, model, HelpIndex(), **toolbox_args)
    events = []
    agent = Agent(model, toolbox, journal or MemoryJournal(), on_event=events.append)
    answer = await agent.run("task", system_prompt(sandbox, toolbox.help_index))
    return answer, events, agent.journal


async def run(turns, journal=None):
    """The loop over a real sandbox of its own."""
    async with Sandbox(timeout=20) as sandbox:
        return await run_loop(turns, sandbox, journal)


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
    answer, events, _ = await run_loop(turns, FakeSandbox())
    results = [e for e in events if e["kind"] == "tool"]
    assert answer == "ok"
    assert [r["ok"] for r in results] == [False, False, False]
    assert "no tool 'shell'" in results[0]["result"]
    assert "'code': Field required" in results[2]["result"]  # pydantic's reasons, for the model
    assert "'source': Extra inputs are not permitted" in results[2]["result"]


async def test_long_output_is_cut_for_the_model_and_saved_whole():
    sandbox = FakeSandbox([ExecResult(stdout="y" * 50_000)])
    _, events, _ = await run_loop([code("print('y' * 50_000)"), {"text": "done"}], sandbox,
                                  result_limit=5000)  # fmt: skip
    result = next(e for e in events if e["kind"] == "tool")["result"]
    assert len(result) < 6000
    saved = result.split("the whole text is in ")[1].split(",")[0]
    assert len(sandbox.files[saved]) > 50_000


async def test_images_shown_are_saved_under_the_call_and_named_to_the_model():
    sandbox = FakeSandbox([ExecResult(images=[b"\x89PNG one", b"\x89PNG two"])])
    _, events, _ = await run_loop([code("plt.show()"), {"text": "done"}], sandbox)
    result = next(e for e in events if e["kind"] == "tool")["result"]
    paths = [f"{IMAGES}/call-0-0-1.png", f"{IMAGES}/call-0-0-2.png"]
    assert result == "images shown (describe them to see them): " + ", ".join(paths)
    assert [sandbox.files[p] for p in paths] == [b"\x89PNG one", b"\x89PNG two"]


async def test_help_finds_the_shipped_docs():
    turns = [{"tool_calls": [{"name": "help", "args": {"query": "read an excel spreadsheet"}}]},
             {"text": "ok"}]  # fmt: skip
    _, events, _ = await run_loop(turns, FakeSandbox())
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
    model = ScriptedModel(parse_script([code("1")] * 3))
    sandbox = FakeSandbox([ExecResult(result="1")] * 3)
    agent = Agent(model, Toolbox(sandbox, model, HelpIndex()), MemoryJournal(), max_turns=2)
    with pytest.raises(RunFailed, match="no final answer"):
        await agent.run("task", "instructions")


async def test_a_rate_limited_request_waits_as_long_as_the_provider_asked(monkeypatch):
    with ProviderServer() as server:
        for _ in range(3):  # the first try and the SDK's two retries
            server.reply(429, openai_error("slow down", "rate_limit_exceeded"),
                         {"retry-after-ms": "20"})  # fmt: skip
        server.reply(200, openai_text("after the wait"))
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-local-test")
        model = resolve_model("openai:gpt-test")
        answer, events, _ = await run_loop([], FakeSandbox(), model=model)
    assert answer == "after the wait"
    assert len(server.requests) == 4
    [retry] = [e for e in events if e["kind"] == "retry"]
    assert retry["delay"] == 0.02 and "Rate limited" in retry["reason"]


def test_the_tools_the_model_sees_come_from_the_toolbox_signatures():
    by_name = {d.name: d for d in DEFINITIONS}
    assert list(by_name) == ["run_python", "describe", "help"]
    assert by_name["describe"].parameters_json_schema == {
        "type": "object",
        "properties": {
            "path": {"type": "string", "minLength": 1, "description": "e.g. /workspace/chart.png"},
            "question": {"type": "string", "description": "what you want to know"},
        },
        "required": ["path", "question"],
        "additionalProperties": False,
    }
    assert by_name["help"].description == (
        "Search the docs and skills for how to do something in this sandbox."
    )
    assert by_name["run_python"].description.startswith("Run Python code in the sandbox and get")
    assert all(d.return_schema is None for d in DEFINITIONS)


async def test_describe_reads_the_file_from_the_sandbox_and_names_its_kind():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (7).to_bytes(4, "big") + (5).to_bytes(4, "big")
    sandbox = FakeSandbox(files={"/workspace/chart.png": png})
    turns = [{"tool_calls": [{"name": "describe",
                              "args": {"path": "chart.png", "question": "Colour?"}}]},
             {"text": "done"}]  # fmt: skip
    _, events, _ = await run_loop(turns, sandbox)
    result = next(e for e in events if e["kind"] == "tool")["result"]
    assert result.startswith("[scripted describe] An image (image/png, 7×5 pixels")
    assert result.endswith("Question: Colour?")
