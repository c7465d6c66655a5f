"""throwaway as an MCP server: each client gets its own sandbox, reached through four tools.

What a client sees (the tools' docstrings below are their descriptions):

- ``run_python(code)``: stdout, stderr and the last expression's value come back as
  text content, images the code showed (``plt.show()``, ``display(img)``) as PNG image
  content. A Python error, a timeout or a ``MemoryError`` makes the call a tool error
  (``isError``) whose text carries the traceback; the structured content holds the
  same fields for programs (``stdout``, ``stderr``, ``result``, ``error``, ...).
- ``read_file(path)``: text, an image as image content, anything else as base64 on request.
- ``write_file(path, content)``: text, or bytes sent as base64.
- ``list_files(path="/workspace")``: the names in a folder.

Sessions. A sandbox is made on a client's first call and closed when its session ends;
the limits and mounts in `ServerSettings` apply to every sandbox, and no client can reach
another's variables or ``/workspace``:

- stdio: the process serves one client, so it has one sandbox, closed when stdin closes.
- streamable HTTP with the initialize handshake (protocol versions up to 2025-11-25): one
  sandbox per ``Mcp-Session-Id``, closed when the client ends the session (HTTP DELETE)
  or after ``idle_timeout`` seconds without a call.
- the 2026-07-28 protocol over HTTP has no sessions at all: the first call makes a sandbox
  and names its handle in the result (``session: ...``); later calls that pass it as the
  ``session`` argument reach the same sandbox. Handles are unguessable, and a sandbox
  idle for ``idle_timeout`` seconds is closed.

Mount providers are shared: a writable mount is the same folder for every client.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal

import anyio
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ContentBlock, ImageContent, TextContent
from mcp.types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from throwaway.errors import ThrowawayError
from throwaway.sandbox.result import ExecResult
from throwaway.sandbox.sandbox import Sandbox
from throwaway.sandbox.warmpool import warm_sandboxes
from throwaway.vfs.provider import MountProvider

SESSION_HEADER = "mcp-session-id"
HOST = "127.0.0.1"  # never another interface: whoever reaches the port can run code
PATH = "/mcp"

SessionArg = Annotated[
    str | None,
    Field(
        description="The sandbox handle an earlier result named ('session: ...'). Needed only "
        "by clients of the 2026-07-28 protocol over HTTP, which has no sessions; "
        "otherwise leave it out."
    ),
]
Encoding = Literal["text", "base64"]


@dataclass(frozen=True)
class ServerSettings:
    """What every sandbox gets, and how many may be open at once."""

    timeout: float = 30.0  # seconds per run_python call
    memory_mb: int = 1024
    mounts: Mapping[str, MountProvider] = field(default_factory=dict)
    idle_timeout: float = 30 * 60  # HTTP only: close a sandbox unused for this long
    max_sandboxes: int = 32  # each is a Deno process with its own interpreter
    warm: int = 0  # booted sandboxes kept ready for new sessions (throwaway.sandbox.warmpool)

    def new_sandbox(self) -> Sandbox:
        return Sandbox(timeout=self.timeout, memory_mb=self.memory_mb, mounts=dict(self.mounts))


@dataclass
class _Live:
    sandbox: Sandbox
    last_used: float
    busy: int = 0


class Sandboxes:
    """The open sandboxes by session key, each made on first use.

    A sandbox starts its Deno process lazily (on its first run or file operation), so
    making one here never waits. ``clock`` is injectable for tests.
    """

    def __init__(self, settings: ServerSettings, clock: Callable[[], float] = time.monotonic):
        self._settings = settings
        self._clock = clock
        self._live: dict[str, _Live] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._live

    def __len__(self) -> int:
        return len(self._live)

    @asynccontextmanager
    async def use(self, key: str) -> AsyncIterator[Sandbox]:
        """The session's sandbox, made if it has none; ToolError when too many are open."""
        live = self._live.get(key)
        if live is None:
            if len(self._live) >= self._settings.max_sandboxes:
                raise ToolError(
                    f"{len(self._live)} sandboxes are open, the most this server allows; "
                    "end another session or try again later"
                )
            live = self._live[key] = _Live(self._settings.new_sandbox(), self._clock())
        live.busy += 1
        try:
            yield live.sandbox
        finally:
            live.busy -= 1
            live.last_used = self._clock()

    async def close(self, key: str) -> None:
        """Close the session's sandbox, if it has one (a call in progress is cut short)."""
        live = self._live.pop(key, None)
        if live is not None:
            await live.sandbox.close()

    async def close_idle(self, idle_timeout: float) -> None:
        """Close every sandbox that has not been used for ``idle_timeout`` seconds."""
        now = self._clock()
        for key, live in list(self._live.items()):
            if not live.busy and now - live.last_used > idle_timeout:
                await self.close(key)

    async def close_all(self) -> None:
        for key in list(self._live):
            await self.close(key)


class ThrowawayMCP:
    """An MCPServer with the four tools, and the sandboxes behind them.

    ``single_client=True`` (stdio) gives the whole process one sandbox; otherwise each
    HTTP session, or each handle, has its own.
    """

    def __init__(self, settings: ServerSettings | None = None, *, single_client: bool):
        self.settings = settings or ServerSettings()
        self.single_client = single_client
        self.sandboxes = Sandboxes(self.settings)
        self.server: MCPServer[Any] = MCPServer(
            "throwaway",
            instructions=_instructions(self.settings),
            lifespan=self._lifespan,
            log_level="WARNING",
        )
        for tool in (self.run_python, self.read_file, self.write_file, self.list_files):
            self.server.add_tool(tool, structured_output=False)

    # ---- tools -------------------------------------------------------------

    async def run_python(
        self,
        code: Annotated[str, Field(description="Python source to run")],
        ctx: Context,
        session: SessionArg = None,
    ) -> CallToolResult:
        """Run Python code in a sandbox (Pyodide: CPython 3.12 in WebAssembly) with no network.

        Variables, imports and files in /workspace (the working directory) persist between
        calls. You get stdout, stderr and the value of the last expression as text, and
        images the code showed (plt.show(), display(img)) as images. numpy, pandas,
        matplotlib, scipy, scikit-learn and pillow import offline. An exception, a timeout
        or running out of memory makes the call an error carrying the traceback.
        """
        async with self._sandbox(ctx, session) as (sandbox, handle):
            result = await sandbox.run(code)
        return _run_result(result, handle)

    async def read_file(
        self,
        path: Annotated[str, Field(description="absolute, or relative to /workspace")],
        ctx: Context,
        encoding: Annotated[Encoding, Field(description="'base64' for any bytes")] = "text",
        session: SessionArg = None,
    ) -> CallToolResult:
        """Read a file from the sandbox: text as text, an image (PNG, JPEG, GIF, WebP) as
        an image, anything else with encoding='base64'."""
        async with self._sandbox(ctx, session) as (sandbox, handle):
            data = await sandbox.read_file(path)
        if encoding == "base64":
            block: ContentBlock = _text(base64.b64encode(data).decode("ascii"))
        elif media_type := _image_type(data):
            block = ImageContent(type="image", data=_b64(data), mime_type=media_type)
        else:
            try:
                block = _text(data.decode("utf-8"))
            except UnicodeDecodeError:
                raise ToolError(
                    f"{path} is not UTF-8 text ({len(data):,} bytes); read it with "
                    "encoding='base64'"
                ) from None
        return _result([block], handle)

    async def write_file(
        self,
        path: Annotated[str, Field(description="absolute, or relative to /workspace")],
        content: Annotated[str, Field(description="the text, or the bytes in base64")],
        ctx: Context,
        encoding: Annotated[Encoding, Field(description="'base64' to write bytes")] = "text",
        session: SessionArg = None,
    ) -> CallToolResult:
        """Create or replace a file in the sandbox (folders must exist; /mnt/NAME only
        where that mount is writable)."""
        if encoding == "base64":
            try:
                data = base64.b64decode(content, validate=True)
            except binascii.Error as exc:
                raise ToolError(f"content is not valid base64: {exc}") from None
        else:
            data = content.encode("utf-8")
        async with self._sandbox(ctx, session) as (sandbox, handle):
            await sandbox.write_file(path, data)
        where = posixpath.normpath(posixpath.join("/workspace", path))
        return _result([_text(f"wrote {len(data):,} bytes to {where}")], handle)

    async def list_files(
        self,
        ctx: Context,
        path: Annotated[str, Field(description="a folder in the sandbox")] = "/workspace",
        session: SessionArg = None,
    ) -> CallToolResult:
        """List the names in a folder of the sandbox (/workspace, or /mnt/NAME for a mount)."""
        async with self._sandbox(ctx, session) as (sandbox, handle):
            names = await sandbox.list_files(path)
        return _result([_text("\n".join(names) or "(empty)")], handle, {"names": names})

    # ---- sessions ----------------------------------------------------------

    @asynccontextmanager
    async def _sandbox(
        self, ctx: Context, handle: str | None
    ) -> AsyncIterator[tuple[Sandbox, str | None]]:
        """This caller's sandbox, and its handle where the protocol has no sessions.

        Host-side failures (a missing file, a sandbox that cannot start) become tool
        errors with their message.
        """
        key, handle = self._session_key(ctx, handle)
        try:
            async with self.sandboxes.use(key) as sandbox:
                yield sandbox, handle
        except ThrowawayError as exc:
            raise ToolError(str(exc)) from None

    def _session_key(self, ctx: Context, handle: str | None) -> tuple[str, str | None]:
        if self.single_client:
            return "stdio", None
        # Only the handshake era has sessions; there the SDK answers 404 to an unknown
        # Mcp-Session-Id before a tool runs, so a header that reaches us is a live session.
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            session_id = (ctx.headers or {}).get(SESSION_HEADER)
            if session_id:
                return f"http:{session_id}", None
        if handle:
            if f"handle:{handle}" not in self.sandboxes:
                raise ToolError(
                    f"no open sandbox has the handle {handle!r} (sandboxes are closed after "
                    f"{self.settings.idle_timeout:g} s unused); leave `session` out to start "
                    "a new one"
                )
            return f"handle:{handle}", handle
        handle = secrets.token_urlsafe(18)
        return f"handle:{handle}", handle

    @asynccontextmanager
    async def _lifespan(self, _server: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
        """Closes idle sandboxes while serving HTTP, and every sandbox at shutdown."""
        warm = warm_sandboxes(self.settings.warm, memory_mb=self.settings.memory_mb)
        async with warm, anyio.create_task_group() as tasks:
            if not self.single_client:
                tasks.start_soon(self._close_idle_forever)
            try:
                yield {}
            finally:
                tasks.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await self.sandboxes.close_all()

    async def _close_idle_forever(self) -> None:
        while True:
            await anyio.sleep(min(60.0, self.settings.idle_timeout / 4))
            await self.sandboxes.close_idle(self.settings.idle_timeout)

    # ---- transports --------------------------------------------------------

    async def run_stdio(self) -> None:
        """Serve one client over stdin/stdout until it closes stdin."""
        await self.server.run_stdio_async()

    def http_app(self) -> ASGIApp:
        """The streamable HTTP app (at /mcp), for 127.0.0.1 only."""
        app = self.server.streamable_http_app(
            streamable_http_path=PATH,
            host=HOST,
            session_idle_timeout=self.settings.idle_timeout,
        )
        return _CloseOnDelete(app, self.sandboxes)

    async def serve_http(self, sock: socket.socket) -> None:
        """Serve streamable HTTP on a socket from `listen` until interrupted (SIGINT, SIGTERM)."""
        config = uvicorn.Config(self.http_app(), log_level="warning", lifespan="on")
        await uvicorn.Server(config).serve(sockets=[sock])


def listen(port: int) -> tuple[socket.socket, str]:
    """A listening socket on 127.0.0.1:port (0: any free port) and the endpoint's URL.

    OSError if the port is taken or not ours to bind.
    """
    sock = socket.create_server((HOST, port))
    return sock, f"http://{HOST}:{sock.getsockname()[1]}{PATH}"


class _CloseOnDelete:
    """ASGI wrapper: when a client ends its HTTP session (DELETE), close its sandbox."""

    def __init__(self, app: ASGIApp, sandboxes: Sandboxes):
        self.app, self.sandboxes = app, sandboxes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "DELETE":
            return await self.app(scope, receive, send)
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        session_id = dict(scope["headers"]).get(SESSION_HEADER.encode())
        if session_id and 200 <= status < 300:
            await self.sandboxes.close(f"http:{session_id.decode('latin-1')}")


# ---- results ---------------------------------------------------------------


def _run_result(result: ExecResult, handle: str | None) -> CallToolResult:
    """run_python's answer: labelled text blocks, then the images."""
    content: list[ContentBlock] = []
    if result.stdout:
        content.append(_text(f"stdout:\n{result.stdout}"))
    if result.stderr:
        content.append(_text(f"stderr:\n{result.stderr}"))
    if result.result is not None:
        content.append(_text(f"result:\n{result.result}"))
    error = result.error
    if error is not None:
        text = str(error)
        if error.message and error.message not in text:
            text += f"\n{error.message}"
        content.append(_text(f"error:\n{text}"))
    elif result.restarted:
        content.append(
            _text("note: the interpreter was restarted before this run; earlier variables are gone")
        )
    content += [
        ImageContent(type="image", data=_b64(png), mime_type="image/png") for png in result.images
    ]
    if not content:
        content.append(_text("(no output: print what you want to see)"))
    structured = {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "result": result.result,
        "error": asdict(error) if error else None,  # type, message, traceback
        "images": len(result.images),
        "restarted": result.restarted,
        "duration_ms": round(result.duration_ms, 1),
    }
    return _result(content, handle, structured, is_error=error is not None)


def _result(
    content: list[ContentBlock],
    handle: str | None,
    structured: dict[str, Any] | None = None,
    *,
    is_error: bool = False,
) -> CallToolResult:
    """The tool result, naming the handle where the protocol has no sessions."""
    if handle is not None:
        note = f'session: {handle} (pass session="{handle}" to later calls to keep this sandbox)'
        content = [*content, _text(note)]
        structured = {**(structured or {}), "session": handle}
    return CallToolResult(content=content, structured_content=structured, is_error=is_error)


def _text(text: str) -> TextContent:
    return TextContent(type="text", text=text)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _image_type(data: bytes) -> str | None:
    for magic, kind in (
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF8", "image/gif"),
    ):
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _instructions(settings: ServerSettings) -> str:
    """What the client's model is told about the sandbox."""
    mounts = ", ".join(
        f"/mnt/{name} ({'writable' if provider.writable else 'read-only'})"
        for name, provider in settings.mounts.items()
    )
    return (
        "run_python runs Python in a sandbox with no network and no access to the host; "
        "state and files in /workspace persist between calls. It sees only what it prints "
        f"or shows. Each call may run {settings.timeout:g} s and use {settings.memory_mb} MB. "
        + (f"Mounted folders: {mounts}." if mounts else "No folders are mounted.")
    )
