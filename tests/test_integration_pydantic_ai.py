"""ThrowawayToolset in a real pydantic-ai Agent, driven by pydantic-ai's FunctionModel:
the model's side is a script that reads what the tools returned, as a model would."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic_ai import Agent, BinaryContent, BinaryImage
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from throwaway.integrations.pydantic_ai import ThrowawayToolset
from throwaway.vfs.localdir import LocalDir

CHART = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"


def last_parts(messages: list[ModelMessage]) -> list:
    return messages[-1].parts if isinstance(messages[-1], ModelRequest) else []


def scripted(*calls: tuple[str, dict], seen: list) -> FunctionModel:
    """A model that makes the given tool calls one per turn, records what came back, and
    then answers with everything it saw; a describe request gets a fixed answer."""
    turns = iter(calls)

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = [p for p in last_parts(messages) if isinstance(p, UserPromptPart)]
        if prompt and any(isinstance(c, BinaryContent) for c in prompt[-1].content):
            return ModelResponse(parts=[TextPart("a line chart going up then down")])
        seen.extend(p for p in last_parts(messages) if not isinstance(p, UserPromptPart))
        seen_instructions.append(info.instructions)
        tools.append(sorted(t.name for t in info.function_tools))
        name, args = next(turns, (None, None))
        if name is None:
            return ModelResponse(parts=[TextPart("done")])
        return ModelResponse(parts=[ToolCallPart(name, json.dumps(args), f"call-{len(seen)}")])

    seen_instructions: list = []
    tools: list = []
    model = FunctionModel(respond)
    model.seen_instructions, model.tools = seen_instructions, tools  # type: ignore[attr-defined]
    return model


def retried(part: object) -> bool:
    """A retry of a tool call (pydantic-ai marks a ToolReturnPart, older ones send a
    RetryPromptPart)."""
    return isinstance(part, RetryPromptPart) or getattr(part, "outcome", None) == "retried"


def returns(seen: list) -> list:
    return [p.content for p in seen if isinstance(p, ToolReturnPart) and not retried(p)]


def retries(seen: list) -> list[str]:
    return [p.content for p in seen if retried(p)]


async def test_state_persists_within_a_run_and_images_come_back_as_images(tmp_path):
    (tmp_path / "numbers.txt").write_text("20\n22\n")
    seen: list = []
    model = scripted(
        ("run_python", {"code": "total = sum(map(int, open('/mnt/data/numbers.txt')))"}),
        ("run_python", {"code": "print('total is', total)"}),
        ("run_python", {"code": CHART}),
        seen=seen,
    )
    toolset = ThrowawayToolset(mounts={"data": LocalDir(tmp_path)}, timeout=30)
    result = await Agent(model, toolsets=[toolset]).run("add the numbers up")
    assert result.output == "done"
    _, second, chart = returns(seen)
    assert second == "stdout:\ntotal is 42"
    text, image = chart
    assert "1 image(s) shown" in text
    assert isinstance(image, BinaryImage) and image.data.startswith(b"\x89PNG")
    assert "- /mnt/data: " in model.seen_instructions[0]
    assert "(read-only)" in model.seen_instructions[0]
    assert model.tools[0] == ["describe", "help", "run_python"]


async def test_an_error_is_a_retry_with_the_traceback_and_the_sandbox_goes_on():
    seen: list = []
    model = scripted(
        ("run_python", {"code": "kept = 1\nprint('before')\n1 / 0"}),
        ("run_python", {"code": "kept + 1"}),
        seen=seen,
    )
    await Agent(model, toolsets=[ThrowawayToolset()]).run("divide")
    [retry] = retries(seen)
    assert "stdout:\nbefore" in retry
    assert "ZeroDivisionError: division by zero" in retry
    assert returns(seen) == ["value of the last expression:\n2"]


async def test_each_agent_run_gets_its_own_sandbox():
    toolset = ThrowawayToolset()
    first_seen: list = []
    agent = Agent(scripted(("run_python", {"code": "secret = 'run one'"}), seen=first_seen),
                  toolsets=[toolset])  # fmt: skip
    async with agent:  # enters the toolset itself: no sandbox for it until a call needs one
        assert toolset._session is None
        await agent.run("one")
        assert toolset._session is None
    second_seen: list = []
    await Agent(scripted(("run_python", {"code": "secret"}), seen=second_seen),
                toolsets=[toolset]).run("two")  # fmt: skip
    [retry] = retries(second_seen)
    assert "NameError" in retry


async def test_too_many_failures_in_a_row_end_the_run():
    seen: list = []
    model = scripted(*[("run_python", {"code": "1 / 0"})] * 5, seen=seen)
    agent = Agent(model, toolsets=[ThrowawayToolset(max_retries=2)])
    try:
        await agent.run("keep failing")
    except Exception as exc:  # pydantic-ai's UnexpectedModelBehavior
        assert "exceeded max retries count of 2" in str(exc)
    else:
        raise AssertionError("the run should have ended")


async def test_describe_asks_the_runs_model_and_help_searches_the_docs(tmp_path):
    (tmp_path / "howto.md").write_text("# Frobnicate\nTo frobnicate a widget, call frob().\n")
    seen: list = []
    model = scripted(
        ("run_python", {"code": "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\n"
                                "plt.savefig('chart.png')"}),
        ("describe", {"path": "chart.png", "question": "What is this?"}),
        ("help", {"query": "frobnicate widget"}),
        ("run_python", {"code": "from throwaway_tools import help\nhelp('frobnicate')"}),
        seen=seen,
    )  # fmt: skip
    toolset = ThrowawayToolset(help_dirs=[tmp_path])
    await Agent(model, toolsets=[toolset]).run("look at the chart")
    _, described, helped, from_code = returns(seen)
    assert described == "a line chart going up then down"
    assert "call frob()" in helped
    assert "call frob()" in from_code


async def test_without_describe_the_model_gets_two_tools():
    seen: list = []
    model = scripted(seen=seen)
    await Agent(model, toolsets=[ThrowawayToolset(describe=False)]).run("hi")
    assert model.tools == [["help", "run_python"]]


async def test_code_calls_mcp_tools_the_instructions_list():
    seen: list = []
    model = scripted(("run_python", {"code": "from tools import calc\ncalc.add(a=2, b=40)"}),
                     seen=seen)  # fmt: skip
    calc = f"calc={sys.executable} {Path(__file__).parent / 'mcp_calc.py'}"
    await Agent(model, toolsets=[ThrowawayToolset(mcp=[calc])]).run("add")
    assert returns(seen) == ["value of the last expression:\n42"]
    assert "calc.add: Add two integers." in model.seen_instructions[0]
