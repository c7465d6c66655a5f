"""MCP servers' tools as Python functions inside the sandbox: ``from tools import time``.

The host connects to each configured server (a stdio command or a streamable
HTTP URL), lists its tools, and turns each into a HostFunction in the module
``tools.<server>``: a plain blocking function with typed keyword parameters,
rendered from the tool's JSON Schema by pydantic-ai's ``FunctionSignature``
(enums as ``Literal``, objects and ``$ref`` as TypedDicts, descriptions in the
docstring), so ``help(time.get_current_time)`` reads like any function's help.
It returns the tool's structured content, unwrapped where the server wrapped a
plain value in ``{"result": ...}`` (MCP SDKs do that for ``-> int``), or else
its text, parsed as JSON when it is JSON. A tool error becomes ``ToolError``
with the server's text as it is. Two tools whose names map to one Python name
keep both: the later one gets a ``_2`` suffix and says so in its docstring.

Environment: a stdio server gets throwaway's own environment (as if started
from your shell) plus the ``env`` of its config entry; an HTTP server gets the
entry's ``headers`` on every request. A server that fails to start is reported
with the last lines it wrote to stderr.

Policy: each tool (``server.tool``, or ``server.*``) is ``allow``ed (default),
``deny``ed (calling it raises), or needs approval (``ask``: the ``approve``
callback decides each call; without one, the call is refused).
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import difflib
import json
import keyword
import os
import re
import shlex
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from typing import Any

from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from pydantic_ai.function_signature import FunctionSignature, TypeSignature

from throwaway.errors import McpError
from throwaway.sandbox.functions import HostFunction, HostToolError

PACKAGE = "tools"
Approve = Callable[[str, dict], Awaitable[bool]]
STDERR_LINES = 20  # of a server's stderr, kept to explain a failed start
#: Names a server's module defines besides its tools (see `_module_preamble`).
RESERVED = frozenset({"ToolError", "_call", "Any", "Literal", "NotRequired", "TypedDict"})


@dataclass(frozen=True)
class ServerSpec:
    """``NAME=COMMAND ARGS...`` (stdio) or ``NAME=http(s)://...`` (streamable HTTP), with
    the ``env`` (stdio) or ``headers`` (HTTP) of a config file's entry."""

    name: str
    command: list[str] = field(default_factory=list)
    url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None

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

    @classmethod
    def from_entry(cls, name: str, entry: object) -> ServerSpec:
        """One ``mcpServers`` entry: ``{command, args, env, cwd}`` or ``{url, headers}``."""
        cls.parse(f"{name}=x")  # checks the name
        if not isinstance(entry, dict) or not isinstance(entry.get("args", []), list):
            raise ValueError(f"MCP server {name!r}: the entry must be an object, args a list")
        spec = cls(
            name,
            command=[] if entry.get("url") else [entry.get("command"), *entry.get("args", [])],
            url=entry.get("url"),
            env=entry.get("env") or {},
            headers=entry.get("headers") or {},
            cwd=entry.get("cwd"),
        )
        spec._check()
        return spec

    @classmethod
    def load(cls, value: str | dict) -> ServerSpec:
        """A spec from `to_json` or from ``NAME=COMMAND|URL`` text (a run's parameters)."""
        return cls.parse(value) if isinstance(value, str) else cls.from_entry(value["name"], value)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["command"], out["args"] = (self.command or [""])[0], self.command[1:]
        return out

    def _check(self) -> None:
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"MCP server {self.name!r}: url must be http(s)://...")
        if not self.url and (
            not self.command[0] or not all(isinstance(a, str) for a in self.command)
        ):
            raise ValueError(f"MCP server {self.name!r}: give a command (and args) or a url")
        if not _str_map(self.env) or not _str_map(self.headers):
            raise ValueError(f"MCP server {self.name!r}: env and headers map strings to strings")


def _str_map(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


class StderrTail:
    """The last lines a server wrote to stderr: a pipe drained by a thread, so memory stays
    bounded however much the server writes. ``file`` is the server's stderr."""

    def __init__(self, lines: int = STDERR_LINES):
        read_fd, write_fd = os.pipe()
        self.file = os.fdopen(write_fd, "w")
        self._lines: deque[str] = deque(maxlen=lines)
        self._thread = threading.Thread(target=self._drain, args=(read_fd,), daemon=True)
        self._thread.start()

    def _drain(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as pipe:
            while chunk := pipe.readline(1000):
                self._lines.append(chunk.decode("utf-8", "replace").rstrip())

    def close(self, wait: float = 1.0) -> str:
        """Stop listening (once the server has exited too) and return the tail."""
        self.file.close()
        self._thread.join(wait)
        return "\n".join(line for line in self._lines if line)


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
        self._functions: dict[str, list[HostFunction]] = {}

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
        tails: list[StderrTail] = []
        starting: ServerSpec | None = None  # the server being connected to, if any
        tail: StderrTail | None = None
        try:
            async with AsyncExitStack() as stack:
                stack.callback(lambda: [t.close(0) for t in tails])
                for starting in self.specs:
                    tail = StderrTail() if not starting.url else None
                    tails += [tail] if tail else []
                    session = await self._connect(stack, starting, tail)
                    self.tools[starting.name] = await _list_tools(session)
                    self._sessions[starting.name] = session
                starting = None
                problems = policy_problems(self.policy, self.tools)
                if not problems:
                    ready.set_result(None)
                    await self._closing.wait()
            if problems:  # raised once the connections are closed
                raise McpError("--tool-policy: " + "; ".join(problems))
        except Exception as exc:  # the transports are closed by now: the stderr tail is whole
            if not ready.done():
                ready.set_exception(
                    McpError(_start_error(starting, exc, tail)) if starting else exc
                )
        finally:
            self._sessions.clear()

    async def _connect(
        self, stack: AsyncExitStack, spec: ServerSpec, tail: StderrTail | None
    ) -> ClientSession:
        if spec.url:
            client = await stack.enter_async_context(create_mcp_http_client(headers=spec.headers))
            streams = await stack.enter_async_context(
                streamable_http_client(spec.url, http_client=client)
            )
        else:
            params = StdioServerParameters(
                command=spec.command[0], args=spec.command[1:],
                env={**os.environ, **spec.env}, cwd=spec.cwd,
            )  # fmt: skip
            assert tail is not None
            streams = await stack.enter_async_context(stdio_client(params, errlog=tail.file))
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
        return [fn for server in self.tools for fn in self._server_functions(server)]

    def index(self, limit: int = 60) -> str:
        """A short listing for the system prompt: one line per tool, at most ``limit``."""
        lines = []
        for server, tools in self.tools.items():
            lines.append(f"- tools.{server} ({len(tools)} tools; help('{server}') for details):")
            lines += [
                f"  - {server}.{fn.name}: {_first_line(tool)}"
                + ("" if fn.name == _python_name(tool.name) else f" (MCP tool {tool.name!r})")
                for fn, tool in zip(self._server_functions(server), tools, strict=True)
            ]
        if len(lines) > limit:
            lines = [*lines[:limit], f"  ... {len(lines) - limit} more: use help(<server name>)"]
        return "\n".join(lines)

    def docs(self) -> dict[str, str]:
        """Markdown per server (for `help`): the Python stub of every tool."""
        out = {}
        for server in self.tools:
            functions = self._server_functions(server)
            parts = [f"# MCP server {server}: tools.{server}\n`from tools import {server}`\n"]
            if types_code := functions[0].preamble.partition(_TYPES_START)[2].strip():
                parts.append(f"## Types\n```python\n{types_code}\n```\n")
            for fn in functions:
                parts.append(f"## {server}.{fn.name}\n```python\n{fn.source}\n```\n")
            out[f"mcp-{server}.md"] = "\n".join(parts)
        return out

    def _server_functions(self, server: str) -> list[HostFunction]:
        if server not in self._functions:
            self._functions[server] = _render_module(server, self.tools[server], self._runner)
        return self._functions[server]

    def _runner(self, server: str, tool: types.Tool) -> Callable:
        """The host side of one tool: checks the policy, calls (the stub has given the
        arguments their schema names)."""
        name, unwrap = tool.name, _wrapped(tool.output_schema)

        async def run(args: list, kwargs: dict) -> Any:
            if args:
                raise TypeError(f"{server}.{name}: pass arguments by name")
            await self._check_policy(server, name, kwargs)
            result = await self.call_tool(server, name, kwargs)
            return _result_value(server, name, result, unwrap=unwrap)

        return run

    async def _check_policy(self, server: str, tool: str, args: dict) -> None:
        rule = self.policy.get(f"{server}.{tool}") or self.policy.get(f"{server}.*") or "allow"
        if rule == "deny":
            raise PermissionError(f"{server}.{tool} is denied by this run's tool policy")
        if rule == "ask" and not (self.approve and await self.approve(f"{server}.{tool}", args)):
            raise PermissionError(f"{server}.{tool} needs approval, and it was not given")


def _start_error(spec: ServerSpec, exc: Exception, tail: StderrTail | None) -> str:
    """One line on why ``spec`` did not start (the innermost error, not the task group's),
    then the last lines the server wrote to stderr."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    where = spec.url or shlex.join(spec.command)
    message = f"MCP server {spec.name!r} ({where}) failed to start: {type(exc).__name__}: {exc}"
    stderr = tail.close() if tail else ""
    if stderr:
        message += "; its stderr ended with:\n" + "\n".join(
            f"  {line}" for line in stderr.splitlines()
        )
    return message


def policy_problems(policy: Mapping[str, str], tools: Mapping[str, list[types.Tool]]) -> list[str]:
    """What is wrong with the names in a tool policy (``server.tool`` or ``server.*``), given
    each server's tools, with the close matches: a typo must not leave a tool allowed."""
    problems = []
    for key in policy:
        server, _, tool = key.partition(".")
        if server not in tools:
            known = ", ".join(tools) or "none"
            problems.append(f"{key!r}: no MCP server {server!r} in this run{_close(server, tools)}"
                            f" (servers: {known})")  # fmt: skip
            continue
        names = [t.name for t in tools[server]]
        if tool != "*" and tool not in names:
            hint = _close(tool, names, prefix=f"{server}.") or f" (its tools: {', '.join(names)})"
            problems.append(f"{key!r}: server {server!r} has no tool {tool!r}{hint}")
    return problems


def _close(word: str, choices, prefix: str = "") -> str:
    matches = difflib.get_close_matches(word, list(choices), n=3)
    return f"; did you mean {' or '.join(prefix + m for m in matches)}?" if matches else ""


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


# ---- stubs -----------------------------------------------------------------------------

_TYPES_START = "# types the tools take and return\n"


def _render_module(server: str, tools: list[types.Tool], runner: Callable) -> list[HostFunction]:
    """The HostFunctions of one server's module: typed stubs rendered from the schemas.

    The TypedDicts every stub needs are defined once, in the first stub's preamble. A
    schema the renderer cannot take gives that tool an untyped stub (``**arguments``);
    a module that would not parse gives every tool one.
    """
    names = _unique_names(tools)
    signatures = [_signature(name, tool) for name, tool in zip(names, tools, strict=True)]
    typed = [sig for sig in signatures if sig is not None]
    conflicts = FunctionSignature.get_conflicting_type_names(typed)
    _quote_forward_references(FunctionSignature.collect_unique_referenced_types(typed))
    preamble = "\n\nfrom typing import Any, Literal, NotRequired, TypedDict  # noqa: F401\n\n"
    preamble += _TYPES_START + "\n\n".join(
        FunctionSignature.render_type_definitions(typed, conflicts)
    )
    sources = [
        _stub(f"{PACKAGE}.{server}.{name}", name, tool, sig, conflicts)
        for name, tool, sig in zip(names, tools, signatures, strict=True)
    ]
    try:
        ast.parse("\n".join([preamble, *sources]))
    except SyntaxError:
        sources = [
            _stub(f"{PACKAGE}.{server}.{name}", name, tool, None, conflicts)
            for name, tool in zip(names, tools, strict=True)
        ]
        preamble = preamble.partition(_TYPES_START)[0]
    return [
        HostFunction(
            f"{PACKAGE}.{server}",
            name,
            source.splitlines()[0][len(f"def {name}") : -1],
            _doc(tool, name),
            runner(server, tool),
            preamble=preamble if i == 0 else "",
            source=source,
        )
        for i, (name, tool, source) in enumerate(zip(names, tools, sources, strict=True))
    ]


def _signature(name: str, tool: types.Tool) -> FunctionSignature | None:
    """The typed signature, or None for a schema that gives no typed parameters."""
    if not isinstance((tool.input_schema or {}).get("properties", {}), dict):
        return None
    try:
        return FunctionSignature.from_schema(
            name=name,
            parameters_schema=_clean_schema(tool.input_schema or {"type": "object"}),
            return_schema=_clean_schema(_return_schema(tool.output_schema)),
        )
    except Exception:  # a schema the renderer cannot read: an untyped stub
        return None


def _stub(
    key: str,
    name: str,
    tool: types.Tool,
    sig: FunctionSignature | None,
    conflicts: frozenset[str],
) -> str:
    """The stub's source: typed from ``sig``, else taking ``**arguments`` as they are."""
    doc = _doc(tool, name)
    if sig is None:
        call = f"return _call({key!r}, [], arguments)"
        return f"def {name}(**arguments: Any) -> Any:\n    {doc!r}\n    {call}"
    keywords = {p.name: prop for prop, p in sig.params.items()}
    required = set((tool.input_schema or {}).get("required") or [])
    body = _stub_body(key, keywords, required)
    return sig.render(body, description=doc, conflicting_type_names=conflicts)


_UNSAFE_NAMES = RESERVED | set(dir(builtins)) | set(keyword.kwlist)


def _safe_name(name: object) -> bool:
    return isinstance(name, str) and name.isidentifier() and name not in _UNSAFE_NAMES


def _clean_schema(schema: object, defs: frozenset[str] | None = None) -> Any:
    """A JSON Schema the renderer can take whole: what it could not (a ``$ref`` outside
    the schema's own ``$defs``, a part that is not a schema, a type name Python cannot
    use or that would hide a builtin) becomes "any"."""
    if schema is None or isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict):
        return {}
    if defs is None:
        own = schema.get("$defs")
        defs = frozenset(k for k in own if _safe_name(k)) if isinstance(own, dict) else frozenset()
    ref = schema.get("$ref")
    if ref is not None and not (isinstance(ref, str) and ref.removeprefix("#/$defs/") in defs):
        return {}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs"):
            if isinstance(value, dict):
                out[key] = {k: _clean_schema(v, defs) for k, v in value.items()
                            if key == "properties" or k in defs}  # fmt: skip
        elif key in ("items", "additionalProperties"):
            out[key] = [_clean_schema(v, defs) for v in value] if isinstance(value, list) else (
                _clean_schema(value, defs)
            )  # fmt: skip
        elif key in ("anyOf", "oneOf", "allOf"):
            if isinstance(value, list) and value:
                out[key] = [_clean_schema(v, defs) for v in value]
        elif key == "title":
            if _safe_name(value):
                out[key] = value
        elif key == "required":
            if isinstance(value, list):
                out[key] = [v for v in value if isinstance(v, str)]
        else:
            out[key] = value
    return out


def _unique_names(tools: list[types.Tool]) -> list[str]:
    """One Python name per tool; a name already taken gets a number (``get_time_2``)."""
    taken, names = set(RESERVED), []
    for tool in tools:
        name = base = _python_name(tool.name)
        number = 2
        while name in taken:
            name, number = f"{base}_{number}", number + 1
        taken.add(name)
        names.append(name)
    return names


def _doc(tool: types.Tool, name: str) -> str:
    doc = (tool.description or "").strip() or f"The MCP tool {tool.name!r}."
    if name != _python_name(tool.name):
        doc += (
            f"\n\n(The MCP tool {tool.name!r}: named {name} because another tool of this "
            f"server already has the Python name {_python_name(tool.name)}.)"
        )
    return doc


def _stub_body(key: str, keywords: dict[str, str], required: set[str]) -> str:
    """The stub's one statement: optional arguments left at None are not sent, so the
    server's own defaults apply."""
    sent = ", ".join(f"{prop!r}: {ident}" for ident, prop in keywords.items() if prop in required)
    left = ", ".join(
        f"{prop!r}: {ident}" for ident, prop in keywords.items() if prop not in required
    )
    optional = f"**{{k: v for k, v in {{{left}}}.items() if v is not None}}" if left else ""
    return f"return _call({key!r}, [], {{{', '.join(p for p in (sent, optional) if p)}}})"


def _return_schema(schema: dict | None) -> dict | None:
    """The schema of what the stub returns: a wrapped value's own (see `_wrapped`)."""
    if not _wrapped(schema):
        return schema
    assert schema is not None
    inner = dict(schema["properties"]["result"])
    if "$defs" in schema:
        inner["$defs"] = schema["$defs"]
    return inner


def _wrapped(schema: dict | None) -> bool:
    """An output schema of one required property ``result``: how MCP SDKs wrap a plain
    value (``-> int``) as structured content (fastmcp marks it ``x-fastmcp-wrap-result``)."""
    if not isinstance(schema, dict):
        return False
    props = schema.get("properties")
    return (
        isinstance(props, dict)
        and list(props) == ["result"]
        and (schema.get("required") == ["result"] or schema.get("x-fastmcp-wrap-result") is True)
    )


@dataclass
class _Quoted:
    """A field type that names a TypedDict defined further down (or its own class): written
    as a string, a forward reference, since a class body is evaluated when it is defined."""

    expr: Any

    def __str__(self) -> str:
        return repr(str(self.expr))


def _quote_forward_references(definitions: list[TypeSignature]) -> None:
    """Quote the field types that name a type not yet defined, in rendering order."""
    defined: set[int] = set()
    for definition in definitions:
        for f in definition.fields.values():
            if any(id(t) not in defined for t in _named_types(f.type)):
                f.type = _Quoted(f.type)  # type: ignore[assignment]
        defined.add(id(definition))


def _named_types(expr: object) -> list[TypeSignature]:
    if isinstance(expr, TypeSignature):
        return [expr]
    children = getattr(expr, "args", None) or getattr(expr, "members", None) or []
    return [t for child in children for t in _named_types(child)]


def _result_value(
    server: str, tool: str, result: types.CallToolResult, *, unwrap: bool = False
) -> Any:
    """Structured content (``unwrap``: its ``result``); else one text (parsed when JSON);
    else a list of the parts, images as ``{"image": base64, "mime_type": ...}``."""
    texts = [c.text for c in result.content if isinstance(c, types.TextContent)]
    if result.is_error:
        raise HostToolError("\n".join(texts) or f"{server}.{tool} failed and gave no message")
    structured = result.structured_content
    if structured is not None:
        return structured.get("result") if unwrap else structured
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
    """Servers from an MCP client's config (Claude Desktop's, Cursor's, ...):
    ``{"mcpServers": {name: {command, args, env, cwd} | {url, headers}}}``."""
    try:
        with open(path) as f:
            servers = json.load(f).get("mcpServers", {})
        return [ServerSpec.from_entry(name, entry) for name, entry in servers.items()]
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise McpError(f"cannot read MCP config {path}: {exc}") from exc
