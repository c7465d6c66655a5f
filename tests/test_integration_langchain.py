"""ThrowawayTools in a real LangChain agent (`create_agent`, on LangGraph), driven by
LangChain's own fake chat model: no network, no API key."""

from __future__ import annotations

import base64
from itertools import count

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from pydantic_ai.messages import ModelResponse, TextPart
from pydantic_ai.models.function import FunctionModel

from throwaway.integrations.langchain import ThrowawayTools

CHART = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"
ids = count()


class ToolCallingFake(GenericFakeChatModel):
    """GenericFakeChatModel answers with its scripted messages; agents also bind tools."""

    def bind_tools(self, tools, **kwargs):
        return self


def calls(*steps: tuple[str, dict]) -> ToolCallingFake:
    """A model that makes one tool call per turn, then says it is done."""
    messages = [
        AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call-{next(ids)}"}])
        for name, args in steps
    ]
    return ToolCallingFake(messages=iter([*messages, AIMessage("done")]))


async def tool_messages(tools: ThrowawayTools, *steps: tuple[str, dict]) -> list[ToolMessage]:
    agent = create_agent(calls(*steps), tools=tools.tools, system_prompt=tools.instructions)
    state = await agent.ainvoke({"messages": [("user", "go")]})
    assert state["messages"][-1].content == "done"
    return [m for m in state["messages"] if isinstance(m, ToolMessage)]


async def test_an_agent_runs_code_keeps_state_and_gets_images():
    async with ThrowawayTools(timeout=30) as tools:
        kept, shown, chart = await tool_messages(
            tools,
            ("run_python", {"code": "x = 21"}),
            ("run_python", {"code": "print(x * 2)"}),
            ("run_python", {"code": CHART}),
        )
    assert kept.status == "success"
    assert shown.content == "stdout:\n42"
    text, image = chart.content
    assert "1 image(s) shown" in text["text"]
    assert image["type"] == "image" and image["mime_type"] == "image/png"
    assert base64.b64decode(image["base64"]).startswith(b"\x89PNG")


async def test_an_error_goes_back_to_the_model_as_an_error_message():
    async with ThrowawayTools() as tools:
        failed, after = await tool_messages(
            tools,
            ("run_python", {"code": "kept = 1\n1 / 0"}),
            ("run_python", {"code": "kept + 1"}),
        )
    assert failed.status == "error"
    assert "ZeroDivisionError: division by zero" in failed.content
    assert after.content == "value of the last expression:\n2"


async def test_each_block_is_its_own_sandbox_and_tools_need_one():
    async with ThrowawayTools() as tools:
        await tool_messages(tools, ("run_python", {"code": "secret = 1"}))
    async with ThrowawayTools() as other:
        [missing] = await tool_messages(other, ("run_python", {"code": "secret"}))
    assert missing.status == "error" and "NameError" in missing.content
    with pytest.raises(RuntimeError, match="not started"):
        await ThrowawayTools().tools[0].ainvoke({"code": "1"})


async def test_describe_uses_the_given_model_and_help_the_docs(tmp_path):
    (tmp_path / "howto.md").write_text("# Frobnicate\nTo frobnicate a widget, call frob().\n")

    def look(messages, info) -> ModelResponse:
        prompt = str(messages[-1].parts[-1].content)
        return ModelResponse(parts=[TextPart("it says hello" if "hello there" in prompt else "?")])

    async with ThrowawayTools(describe_model=FunctionModel(look), help_dirs=[tmp_path]) as tools:
        names = [tool.name for tool in tools.tools]
        _, described, helped = await tool_messages(
            tools,
            ("run_python", {"code": "open('a.txt', 'w').write('hello there')"}),
            ("describe", {"path": "a.txt", "question": "what is it?"}),
            ("help", {"query": "frobnicate widget"}),
        )
    assert names == ["run_python", "describe", "help"]
    assert described.content == "it says hello"
    assert "call frob()" in helped.content
    async with ThrowawayTools() as plain:
        assert [tool.name for tool in plain.tools] == ["run_python", "help"]
