"""One sandbox with its describe and help, as the framework adapters' tools use it.

A `CodeSession` is what one agent run works in: an agent session
(`throwaway.agent.session.open_session`: a `Sandbox` whose variables and /workspace
persist between calls, the MCP servers its code may call with ``from tools import
NAME``, and the `Toolbox` that answers ``describe`` with a pydantic-ai model and
``help`` from throwaway's docs plus ``help_dirs``). The same describe and help are
callable from the sandboxed code. `run_python` gives the text throwaway's own agent
shows (`ExecResult.text`) and the images apart.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from pydantic_ai.models import Model

from throwaway.agent.session import Session, SessionSpec, open_session


@dataclass(frozen=True)
class RunOutcome:
    """run_python's answer: the text for the model, the PNGs shown, and whether it failed."""

    text: str
    images: list[bytes]
    failed: bool


class CodeSession:
    """A sandbox, its MCP servers and its describe/help, open between `start` and `close`."""

    def __init__(self, spec: SessionSpec, describe_model: Model | None = None):
        self.spec = spec
        self.describe_model = describe_model
        self._stack: AsyncExitStack | None = None
        self._session: Session | None = None

    async def start(self) -> CodeSession:
        """Start the MCP servers (McpError names one that fails); the sandbox starts lazily."""
        stack = AsyncExitStack()
        self._session = await stack.enter_async_context(
            open_session(self.spec, self.describe_model)
        )
        self._stack = stack
        return self

    async def close(self) -> None:
        if self._stack is not None:
            stack, self._stack, self._session = self._stack, None, None
            await stack.aclose()

    async def __aenter__(self) -> CodeSession:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def instructions(self) -> str:
        return self._session.instructions if self._session else ""

    @property
    def _open(self) -> Session:
        if self._session is None:
            raise RuntimeError("the code session is not started (use it in `async with`)")
        return self._session

    async def run_python(self, code: str) -> RunOutcome:
        result = await self._open.sandbox.run(code)
        return RunOutcome(result.text(), list(result.images), failed=result.error is not None)

    async def describe(self, path: str, question: str) -> str:
        return await self._open.toolbox.describe(path, question)

    async def help(self, query: str) -> str:
        return await self._open.toolbox.help(query)
