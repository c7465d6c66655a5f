"""MCP servers' tools as Python functions inside the sandbox: ``from tools import time``.

The host connects to each configured server (a stdio command or a streamable
HTTP URL), lists its tools, and turns each into a HostFunction in the module
``tools.<server>``: a plain blocking function whose parameters come from the
tool's JSON Schema (required ones first, optional ones with their defaults),
whose docstring is the tool's description, and which returns the tool's
structured content (typed with a TypedDict when the tool has an output schema)
or else its text, parsed as JSON when it is JSON. A tool error becomes
``ToolError`` with the server's message.

Policy: each tool (``server.tool``, or ``server.*``) is ``allow``ed (default),
``deny``ed (calling it raises), or needs approval (``ask``: the ``approve``
callback decides each call; without one, the call is refused).
"""

from __future__ import annotations

import asyncio
import json
import keyword
import os
import re
import shlex
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from throwaway.errors import ThrowawayError
from throwaway.sandbox.functions import HostFunction, literal

PACKAGE = "tools"
Approve = Callable[[str, dict], Awaitable[bool]]


class McpError(ThrowawayError):
    """An MCP server could not be started, reached or listed."""


@dataclass(frozen=True)
class ServerSpec:
    """``NAME=COMMAND ARGS...`` (stdio) or ``NAME=http(s)://...`` (streamable HTTP)."""

    name: str
    command: list[str] = field(default_factory=list)
    url: str | None = None

    @classmethod
    def parse(cls, text: str) -> ServerSpec:
        name, sep, target = text.partition("=")
        if not sep or not name.isidentifier() or keyword.iskeyword(name) or not target.strip():
            raise ValueError(
                f"{text!r} is not NAME=COMMAND or NAME=URL; e.g. time=uvx mcp-server-time "
                "or docs=http://127.0.0.1:8000/mcp (NAME must be a Python identifier)"
            )
        if target.startswith(("http://", "https://")):
            return cls(name, url=target)
        return cls(name, command=shlex.split(target))


class McpServers:
    """Connections to MCP servers, open between `start` and `close`."""

    def __init__(
        self,
        specs: list[ServerSpec],
        *,
        policy: Mapping[str, str] | None = None,
        approve: Approve | None = None,
    ):
        self.specs, self.policy, self.approve = specs, dict(policy or {}), approve
        self.tools: dict[str, list[types.Tool]] = {}
        self._sessions: dict[str, ClientSession] = {}
        self._owner: asyncio.Task | None = None

    async def start(self) -> McpServers:
        """Connect to every server and list its tools; McpError names one that fails.

        The connections live in a task of their own, so that `close` may come
        from any task (MCP's transports must be closed where they were opened).
        """
        ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self._closing = asyncio.Event()
        self._owner = asyncio.create_task(self._hold(ready))
        await ready
        return self

    async def _hold(self, ready: asyncio.Future) -> None:
        try:
            async with AsyncExitStack() as stack:
                for spec in self.specs:
                    try:
                        session = await self._connect(stack, spec)
                        self.tools[spec.name] = await _list_tools(session)
                    except Exception as exc:
                        raise McpError(f"MCP server {spec.name!r} failed to start: {exc}") from exc
                    self._sessions[spec.name] = session
                ready.set_result(None)
                await self._closing.wait()
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
        finally:
            self._sessions.clear()

    async def _connect(self, stack: AsyncExitStack, spec: ServerSpec) -> ClientSession:
        if spec.url:
            streams = await stack.enter_async_context(streamable_http_client(spec.url))
        else:
            params = StdioServerParameters(command=spec.command[0], args=spec.command[1:])
            errlog = stack.enter_context(open(os.devnull, "w"))  # noqa: SIM115
            streams = await stack.enter_async_context(stdio_client(params, errlog=errlog))
        session = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
        await session.initialize()
        return session

    async def close(self) -> None:
        if self._owner is not None:
            self._closing.set()
            await self._owner
            self._owner = None

    async def __aenter__(self) -> McpServers:
        return await self.start()

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def call_tool(self, server: str, tool: str, arguments: dict) -> types.CallToolResult:
        """Call a tool directly from the host (no policy check)."""
        return await self._sessions[server].call_tool(tool, arguments)

    def functions(self) -> list[HostFunction]:
        """One HostFunction per tool, in ``tools.<server>``."""
        return [
            self._function(server, tool) for server, tools in self.tools.items() for tool in tools
        ]

    def index(self, limit: int = 60) -> str:
        """A short listing for the system prompt: one line per tool, at most ``limit``."""
        lines = []
        for server, tools in self.tools.items():
            lines.append(f"- tools.{server} ({len(tools)} tools; help('{server}') for details):")
            lines += [f"  - {server}.{_python_name(t.name)}: {_first_line(t)}" for t in tools]
        if len(lines) > limit:
            lines = [*lines[:limit], f"  ... {len(lines) - limit} more: use help(<server name>)"]
        return "\n".join(lines)

    def docs(self) -> dict[str, str]:
        """Markdown per server (for `help`): every tool's signature and description."""
        out = {}
        for server, tools in self.tools.items():
            parts = [f"# MCP server {server}: tools.{server}\n`from tools import {server}`\n"]
            for fn in (self._function(server, t) for t in tools):
                parts.append(f"## {server}.{fn.name}{fn.signature}\n{fn.doc}\n")
            out[f"mcp-{server}.md"] = "\n".join(parts)
        return out

    def _function(self, server: str, tool: types.Tool) -> HostFunction:
        name = _python_name(tool.name)
        signature, keywords, doc = _from_schema(tool)
        preamble, returns = _result_type(name, tool.output_schema)

        async def run(args: list, kwargs: dict) -> Any:
            if args:
                raise TypeError(f"{server}.{name}: pass arguments by name")
            await self._check_policy(server, tool.name, kwargs)
            return _result_value(server, tool.name, await self.call_tool(server, tool.name, kwargs))

        return HostFunction(
            f"{PACKAGE}.{server}", name, signature + returns, doc, run, "", keywords, preamble
        )

    async def _check_policy(self, server: str, tool: str, args: dict) -> None:
        rule = self.policy.get(f"{server}.{tool}") or self.policy.get(f"{server}.*") or "allow"
        if rule == "deny":
            raise PermissionError(f"{server}.{tool} is denied by this run's tool policy")
        if rule == "ask" and not (self.approve and await self.approve(f"{server}.{tool}", args)):
            raise PermissionError(f"{server}.{tool} needs approval, and it was not given")


async def _list_tools(session: ClientSession) -> list[types.Tool]:
    tools, cursor = [], None
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            return tools


def _python_name(name: str) -> str:
    ident = re.sub(r"\W", "_", name)
    if not ident or ident[0].isdigit() or keyword.iskeyword(ident):
        ident = f"t_{ident}"
    return ident


def _first_line(tool: types.Tool) -> str:
    text = (tool.description or tool.title or "").strip().splitlines()
    return text[0][:120] if text else "(no description)"


def _from_schema(tool: types.Tool) -> tuple[str, str, str]:
    """(signature, the stub's keyword dict code, docstring) from the input schema."""
    schema = tool.input_schema or {}
    props: dict = schema.get("properties") or {}
    required = [p for p in props if p in set(schema.get("required") or [])]
    optional = [p for p in props if p not in required]
    params, keywords, arg_docs = [], [], []
    for prop in required + optional:
        ident = _python_name(prop)
        spec = props[prop] if isinstance(props[prop], dict) else {}
        default = "" if prop in required else f"={literal(spec.get('default'))}"
        params.append(f"{ident}{default}")
        keywords.append(f"{prop!r}: {ident}")
        kind = spec.get("type", "any")
        arg_docs.append(f"    {ident} ({kind}{'' if prop in required else ', optional'}): "
                        f"{spec.get('description', '')}".rstrip())  # fmt: skip
    doc = (tool.description or "").strip() or f"The MCP tool {tool.name}."
    if arg_docs:
        doc += "\n\nArgs:\n" + "\n".join(arg_docs)
    signature = f"(*, {', '.join(params)})" if params else "()"
    # optional arguments left at None are not sent, so the server's own defaults apply
    keywords_code = (
        f"**{{k: v for k, v in {{{', '.join(keywords)}}}.items() if v is not None}}"
        if keywords
        else ""
    )
    return signature, keywords_code, doc


JSON_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool",
              "array": "list", "object": "dict", "null": "None"}  # fmt: skip


def _python_type(spec: object) -> str:
    kind = spec.get("type") if isinstance(spec, dict) else None
    kinds = kind if isinstance(kind, list) else [kind]
    names = [JSON_TYPES[k] for k in kinds if k in JSON_TYPES]
    return " | ".join(names) if names else "object"


def _result_type(name: str, schema: dict | None) -> tuple[str, str]:
    """A TypedDict for an output schema (code, return annotation), or nothing."""
    props = (schema or {}).get("properties")
    if not isinstance(props, dict) or not props:
        return "", ""
    cls = "".join(p.capitalize() for p in name.split("_")) + "Result"
    fields = "\n".join(f"    {_python_name(p)}: {_python_type(spec)}" for p, spec in props.items())
    code = f"\n\nfrom typing import TypedDict\n\n\nclass {cls}(TypedDict, total=False):\n{fields}\n"
    return code, f" -> {cls!r}"


def _result_value(server: str, tool: str, result: types.CallToolResult) -> Any:
    """Structured content; else one text (parsed when JSON); else a list of the parts,
    images as ``{"image": base64, "mime_type": ...}`` (decode and save them to look)."""
    texts = [c.text for c in result.content if isinstance(c, types.TextContent)]
    if result.is_error:
        raise RuntimeError(f"{server}.{tool}: " + (" ".join(texts) or "the tool failed"))
    if result.structured_content is not None:
        return result.structured_content
    if len(texts) == 1 and len(result.content) == 1:
        try:
            return json.loads(texts[0])
        except ValueError:
            return texts[0]
    parts = []
    for item in result.content:
        if isinstance(item, types.TextContent):
            parts.append(item.text)
        elif isinstance(item, types.ImageContent):
            parts.append({"image": item.data, "mime_type": item.mime_type})
    return parts


def load_config(path: str) -> list[ServerSpec]:
    """Servers from an MCP client's config: ``{"mcpServers": {name: {command, args} | {url}}}``."""
    try:
        with open(path) as f:
            servers = json.load(f).get("mcpServers", {})
    except (OSError, ValueError, AttributeError) as exc:
        raise McpError(f"cannot read MCP config {path}: {exc}") from exc
    specs = []
    for name, entry in servers.items():
        if "url" in entry:
            specs.append(ServerSpec.parse(f"{name}={entry['url']}"))
        else:
            ServerSpec.parse(f"{name}=x")  # checks the name
            specs.append(
                ServerSpec(name, command=[entry.get("command", ""), *entry.get("args", [])])
            )
    return specs
