"""An agent's session, wired in one place: MCP servers, help, sandbox, toolbox, prompt.

`open_session(spec, describe_model)` connects the MCP servers, builds the help
index (throwaway's docs, ``help_dirs``, the servers' docs), then the sandbox with
its host functions (describe and help, the MCP tools, any others; every call made
through ``journal`` when one is given), then the `Toolbox` over that sandbox, and
the system prompt. The sandbox starts at its first use (or when the caller starts
it) and is closed with the servers when the block ends. Runs (`agent.runner`) and
the framework adapters (`throwaway.integrations`) open their sessions here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_ai.models import Model

from throwaway.agent.help import HelpIndex
from throwaway.agent.prompt import system_prompt
from throwaway.agent.tools import Toolbox, host_functions
from throwaway.mcp.tools import Approve, McpServers, ServerSpec
from throwaway.sandbox.functions import CallJournal, HostFunction, journaled
from throwaway.sandbox.sandbox import Sandbox
from throwaway.vfs.provider import MountProvider


@dataclass(frozen=True)
class SessionSpec:
    """What a session's sandbox gets."""

    mounts: Mapping[str, MountProvider] = field(default_factory=dict)
    timeout: float = 30.0  # seconds per run_python call
    memory_mb: int = 1024
    mcp: Sequence[ServerSpec | str | dict] = ()  # NAME=COMMAND|URL, or ServerSpec JSON
    tool_policy: Mapping[str, str] = field(default_factory=dict)  # "server.tool": allow|deny|ask
    help_dirs: Sequence[str | Path] = ()  # markdown docs and skills for `help`
    functions: Sequence[HostFunction] = ()  # more host functions for the code
    sandbox_options: Mapping[str, Any] = field(default_factory=dict)  # e.g. allow_install

    def servers(self) -> list[ServerSpec]:
        return [m if isinstance(m, ServerSpec) else ServerSpec.load(m) for m in self.mcp]


@dataclass(frozen=True)
class Session:
    """An open session: its sandbox, the toolbox over it, and the system prompt."""

    sandbox: Sandbox
    toolbox: Toolbox
    instructions: str


@asynccontextmanager
async def open_session(
    spec: SessionSpec,
    describe_model: Model | None,
    *,
    approve: Approve | None = None,
    journal: CallJournal | None = None,
) -> AsyncIterator[Session]:
    """A session for the block (McpError names a server that fails to start).

    ``describe_model`` answers describe (left out without one); ``approve(tool,
    arguments)`` decides calls to MCP tools whose policy is "ask"; ``journal`` wraps
    every host-function call the code makes.
    """
    servers = McpServers(spec.servers(), policy=spec.tool_policy, approve=approve)
    async with servers:
        index = HelpIndex([Path(d) for d in spec.help_dirs], texts=servers.docs())
        functions = [*host_functions(describe_model, index), *servers.functions(),
                     *spec.functions]  # fmt: skip
        if journal is not None:
            functions = [journaled(fn, journal) for fn in functions]
        sandbox = Sandbox(
            timeout=spec.timeout, memory_mb=spec.memory_mb, mounts=dict(spec.mounts),
            functions=functions, **spec.sandbox_options,
        )  # fmt: skip
        try:
            toolbox = Toolbox(sandbox, describe_model, index)
            yield Session(sandbox, toolbox, system_prompt(sandbox, index, servers.index()))
        finally:
            await sandbox.close()
