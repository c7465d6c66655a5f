"""throwaway as a pydantic-ai toolset: ``Agent(model, toolsets=[ThrowawayToolset()])``.

Each agent run gets a sandbox of its own (`for_run` copies the toolset; the copy
opens a `CodeSession` when the run enters it and closes it when the run ends), so
variables and /workspace persist between the run's calls and never reach another
run. The model sees:

- ``run_python(code)``: what the code printed and its last value as text, the images
  it showed as ``BinaryImage``. An exception, a timeout or a ``MemoryError`` is a
  retry (``ModelRetry``) carrying the output and the traceback, so the model can fix
  its code; ``max_retries`` failed calls in a row end the run, as pydantic-ai does.
- ``describe(path, question)``: the run's own model looks at a file in the sandbox
  (an image, a PDF, text); left out with ``describe=False`` or for a model that
  cannot take images.
- ``help(query)``: throwaway's docs and your ``help_dirs``.

The toolset's instructions tell the model what the sandbox is (no network, the
mounts, the limits, the MCP tools its code can call).
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic_ai import BinaryImage, ModelRetry, RunContext
from pydantic_ai.models import Model
from pydantic_ai.toolsets import AbstractToolset
from pydantic_ai.toolsets.abstract import ToolsetTool

from throwaway.agent.session import SessionSpec
from throwaway.agent.tools import DEFINITIONS, TOOLS
from throwaway.integrations.session import CodeSession

__all__ = ["ThrowawayToolset"]


class ThrowawayToolset(AbstractToolset[Any]):
    """run_python, describe and help for a pydantic-ai agent, one sandbox per agent run.

    Keyword arguments are `SessionSpec`'s (``mounts``, ``timeout``, ``memory_mb``,
    ``mcp``, ``help_dirs``, ``functions``, ``sandbox_options``), plus ``describe``,
    ``max_retries`` (failed runs of code in a row before the run gives up) and ``id``.
    """

    def __init__(
        self,
        *,
        describe: bool = True,
        max_retries: int = 3,
        id: str | None = None,
        **options: Any,
    ):
        self.spec = SessionSpec(**options)
        self.describe, self.max_retries, self._id = describe, max_retries, id
        self._session: CodeSession | None = None
        self._entered = 0
        self._model: Model | None = None  # the run's, set by for_run
        self._run_copy = False  # a run's own copy opens its session on entering

    @property
    def id(self) -> str | None:
        return self._id

    async def for_run(self, ctx: RunContext[Any]) -> ThrowawayToolset:
        """A copy with a session of its own, made for this run (its model answers describe)."""
        run = copy.copy(self)
        run._session, run._entered, run._run_copy = None, 0, True
        run.describe = self.describe and ctx.model.profile.get("supports_image_input", True)
        run._model = ctx.model
        return run

    async def __aenter__(self) -> ThrowawayToolset:
        """A run's copy opens its session now; the toolset itself (entered by ``async with
        agent:``, or used on its own) only at its first tool call."""
        if self._entered == 0 and self._run_copy:
            await self._open()
        self._entered += 1
        return self

    async def _open(self) -> CodeSession:
        model = self._model if self.describe else None
        self._session = await CodeSession(self.spec, model).start()
        return self._session

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        self._entered -= 1
        if self._entered == 0 and self._session is not None:
            session, self._session = self._session, None
            await session.close()
        return None

    async def get_instructions(self, ctx: RunContext[Any]) -> str | None:
        return self._session.instructions if self._session else None

    async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
        names = {"run_python", "help"} | ({"describe"} if self.describe else set())
        return {
            d.name: ToolsetTool(
                toolset=self,
                tool_def=d,
                max_retries=self.max_retries,
                args_validator=TOOLS[d.name].function_schema.validator,
            )
            for d in DEFINITIONS
            if d.name in names
        }

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        session = self._session or await self._first_use()
        if name == "describe":
            return await session.describe(tool_args["path"], tool_args["question"])
        if name == "help":
            return await session.help(tool_args["query"])
        outcome = await session.run_python(tool_args["code"])
        if outcome.failed:
            raise ModelRetry(outcome.text)
        if not outcome.images:
            return outcome.text
        return [outcome.text, *(BinaryImage(png, media_type="image/png") for png in outcome.images)]

    async def _first_use(self) -> CodeSession:
        if not self._entered:
            raise RuntimeError("ThrowawayToolset is not entered: use it in an agent run")
        return await self._open()
