"""throwaway as LangChain tools: ``async with ThrowawayTools() as tt:`` then
``create_agent(model, tools=tt.tools, system_prompt=tt.instructions)``.

The tools share one `CodeSession`, open inside the ``async with``: variables and
/workspace persist between calls, for as long as the block lasts (use one block per
conversation). They are async only (``ainvoke``, ``astream``; LangChain agents use those
when run with ``ainvoke``). The model sees:

- ``run_python(code)``: what the code printed and its last value as text; with images
  the code showed, the content is a list of a text block and image blocks
  (``{"type": "image", "base64": ..., "mime_type": "image/png"}``). An exception, a
  timeout or a ``MemoryError`` is a ``ToolException`` whose text (output and traceback)
  goes back to the model as the tool message, ``status="error"``.
- ``describe(path, question)``, with a ``describe_model`` (a pydantic-ai model or model
  name such as ``"openai:gpt-5"``): that model looks at a file in the sandbox.
- ``help(query)``: throwaway's docs and your ``help_dirs``.

``instructions`` (after entering) is a system prompt that tells the model what the
sandbox is: pass it to ``create_agent(..., system_prompt=tools.instructions)``.
"""

from __future__ import annotations

import base64
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic_ai.models import Model

from throwaway.agent.models import resolve_model
from throwaway.agent.session import SessionSpec
from throwaway.agent.tools import DEFINITIONS
from throwaway.integrations.session import CodeSession

__all__ = ["ThrowawayTools"]


class ThrowawayTools:
    """run_python, help and (with a ``describe_model``) describe, over one sandbox.

    Keyword arguments are `SessionSpec`'s (``mounts``, ``timeout``, ``memory_mb``,
    ``mcp``, ``help_dirs``, ``functions``, ``sandbox_options``).
    """

    def __init__(self, *, describe_model: Model | str | None = None, **options: Any):
        model = resolve_model(describe_model) if isinstance(describe_model, str) else describe_model
        self.session = CodeSession(SessionSpec(**options), model)
        self.tools = self._make_tools()

    @property
    def instructions(self) -> str:
        return self.session.instructions

    async def __aenter__(self) -> ThrowawayTools:
        await self.session.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.session.close()

    def _make_tools(self) -> list[BaseTool]:
        session = self.session

        async def run_python(code: str) -> str | list[dict]:
            outcome = await session.run_python(code)
            if outcome.failed:
                raise ToolException(outcome.text)
            if not outcome.images:
                return outcome.text
            images = [
                {
                    "type": "image",
                    "base64": base64.b64encode(png).decode(),
                    "mime_type": "image/png",
                }
                for png in outcome.images
            ]
            return [{"type": "text", "text": outcome.text}, *images]

        async def describe(path: str, question: str) -> str:
            return await session.describe(path, question)

        async def help(query: str) -> str:
            return await session.help(query)

        functions = {"run_python": run_python, "describe": describe, "help": help}
        return [
            StructuredTool.from_function(
                coroutine=functions[d.name],
                name=d.name,
                description=d.description or "",
                args_schema=d.parameters_json_schema,
                handle_tool_error=True,
            )
            for d in DEFINITIONS
            if d.name != "describe" or session.describe_model is not None
        ]
