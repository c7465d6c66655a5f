"""One sandbox with its describe and help, as the framework adapters' tools use it.

A `CodeSession` is what one agent run works in: a `Sandbox` (variables and
/workspace persist between calls), the MCP servers its code may call
(``from tools import NAME``), and the `Toolbox` that answers ``describe`` (with a
pydantic-ai model) and ``help`` (throwaway's docs plus ``help_dirs``). The same
describe and help are callable from the sandboxed code. `run_python` gives the
text throwaway's own agent shows (`format_result`) and the images apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_ai.models import Model

from throwaway.agent.help import HelpIndex
from throwaway.agent.prompt import system_prompt
from throwaway.agent.tools import Toolbox, format_result
from throwaway.mcp.tools import McpServers, ServerSpec
from throwaway.sandbox.functions import HostFunction
from throwaway.sandbox.sandbox import Sandbox
from throwaway.vfs.provider import MountProvider


@dataclass(frozen=True)
class SessionOptions:
    """What every session of one adapter gets (the adapters' keyword arguments)."""

    mounts: Mapping[str, MountProvider] = field(default_factory=dict)
    timeout: float = 30.0  # seconds per run_python call
    memory_mb: int = 1024
    mcp: Iterable[ServerSpec | str] = ()  # MCP servers for the code: NAME=COMMAND|URL
    help_dirs: Iterable[str | Path] = ()  # markdown docs and skills for `help`
    functions: Iterable[HostFunction] = ()  # more host functions for the code
    sandbox_options: Mapping[str, Any] = field(default_factory=dict)  # e.g. allow_install

    def specs(self) -> list[ServerSpec]:
        return [s if isinstance(s, ServerSpec) else ServerSpec.parse(s) for s in self.mcp]


@dataclass(frozen=True)
class RunOutcome:
    """run_python's answer: the text for the model, the PNGs shown, and whether it failed."""

    text: str
    images: list[bytes]
    failed: bool


class CodeSession:
    """A sandbox, its MCP servers and its describe/help, open between `start` and `close`."""

    def __init__(self, options: SessionOptions, describe_model: Model | None = None):
        self.options = options
        self.describe_model = describe_model
        self._stack: AsyncExitStack | None = None
        self.toolbox: Toolbox | None = None
        self.instructions = ""

    async def start(self) -> CodeSession:
        """Start the MCP servers (McpError names one that fails); the sandbox starts lazily."""
        options, stack = self.options, AsyncExitStack()
        try:
            servers = await stack.enter_async_context(McpServers(options.specs()))
            index = HelpIndex([Path(d) for d in options.help_dirs], texts=servers.docs())
            toolbox = Toolbox(None, self.describe_model, index)  # type: ignore[arg-type]
            own = toolbox.sandbox_functions()
            own = [f for f in own if self.describe_model or f.name == "help"]
            toolbox.sandbox = Sandbox(
                timeout=options.timeout, memory_mb=options.memory_mb, mounts=dict(options.mounts),
                functions=[*own, *servers.functions(), *options.functions],
                **options.sandbox_options,
            )  # fmt: skip
            stack.push_async_callback(toolbox.sandbox.close)
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self.toolbox = stack, toolbox
        self.instructions = system_prompt(toolbox.sandbox, index, servers.index())
        return self

    async def close(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()

    async def __aenter__(self) -> CodeSession:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def _tools(self) -> Toolbox:
        if self.toolbox is None:
            raise RuntimeError("the code session is not started (use it in `async with`)")
        return self.toolbox

    async def run_python(self, code: str) -> RunOutcome:
        result = await self._tools.sandbox.run(code)
        text = format_result(result, [])
        if result.images:
            text += f"\n\n({len(result.images)} image(s) shown, attached)"
        return RunOutcome(text, list(result.images), failed=result.error is not None)

    async def describe(self, path: str, question: str) -> str:
        if self.describe_model is None:
            return "describe: no model is set up to look at files"
        return await self._tools.describe(path, question)

    def help(self, query: str) -> str:
        return self._tools.help_index.answer(query)
