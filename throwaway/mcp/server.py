"""throwaway as an MCP server: each client gets its own sandbox, reached through four tools.

What a client sees (the tools' docstrings below are their descriptions; run_python's with
the bundled packages filled in):

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
  and names its handle first thing in the result (``session: ...``, and ``session`` in
  the structured content); later calls that pass it as the ``session`` argument reach the
  same sandbox. Handles are unguessable, and a sandbox idle for ``idle_timeout`` seconds
  is closed.
- with ``session_header`` set (``--session-header NAME``), a sessionless call without a
  handle uses the sandbox of the value of that HTTP header, for clients that can send a
  fixed header but not pass a handle back (most agent frameworks' MCP clients).

Access: over HTTP with a ``token``, every request needs ``Authorization: Bearer TOKEN``
(401 otherwise); `listen` refuses an address off loopback without one.

Mount providers are shared: a writable mount is the same folder for every client.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import posixpath
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from typing import Annotated, Any, Literal, NotRequired

import anyio
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ContentBlock, ImageContent, TextContent
from mcp.types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from typing_extensions import TypedDict

from throwaway.errors import ThrowawayError
from throwaway.media import image_type
from throwaway.sandbox.assets import bundled_list
from throwaway.sandbox.result import ExecResult
from throwaway.sandbox.sandbox import Sandbox
from throwaway.sandbox.warmpool import warm_sandboxes
from throwaway.vfs.provider import MountProvider

SESSION_HEADER = "mcp-session-id"
HOST = "127.0.0.1"  # the default: elsewhere, whoever reaches the port can run code
PATH = "/mcp"
MIN_TOKEN = 16  # characters of a bearer token

SessionArg = Annotated[
    str | None,
    Field(
        description="The sandbox handle an earlier result named ('session: ...'): pass it "
        "on every later call, or you get a new, empty sandbox. Results name a handle only "
        "where the protocol has no sessions (2026-07-28 over HTTP); otherwise leave it out."
    ),
]
Encoding = Literal["text", "base64"]


class RunError(TypedDict):
    type: str  # the exception's class, or TimeoutError / SandboxCrashed
    message: str
    traceback: str


class RunOutput(TypedDict):
    """run_python's structured content (its outputSchema)."""

    stdout: str
    stderr: str
    result: str | None  # repr of the last expression
    error: RunError | None
    images: int  # how many images the content carries
    restarted: bool  # the interpreter was restarted: earlier variables are gone
    duration_ms: float
    session: NotRequired[str]  # the handle to pass back, where the protocol has no sessions


@dataclass(frozen=True)
class ServerSettings:
    """What every sandbox gets, and how many may be open at once."""

    timeout: float = 30.0  # seconds per run_python call
    memory_mb: int = 1024
    mounts: Mapping[str, MountProvider] = field(default_factory=dict)
    idle_timeout: float = 30 * 60  # HTTP only: close a sandbox unused for this long
    max_sandboxes: int = 32  # each is a Deno process with its own interpreter
    token: str | None = None  # HTTP: the bearer token every request must carry
    session_header: str | None = None  # HTTP: a header that names the sandbox (see above)
    warm: int = 0  # booted sandboxes kept ready for new sessions (throwaway.sandbox.warmpool)

    def new_sandbox(self) -> Sandbox:
        return Sandbox(timeout=self.timeout, memory_mb=self.memory_mb, mounts=dict(self.mounts))


@dataclass(frozen=True)
class Handle:
    """A sandbox's handle, for protocols without sessions; ``new`` on the call that made it."""

    value: str
    new: bool


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
            version=version("throwaway"),
            instructions=_instructions(self.settings, single_client),
            lifespan=self._lifespan,
            log_level="WARNING",
        )
        about = self.run_python.__doc__.format(packages=bundled_list())
        self.server.add_tool(self.run_python, description=about)  # its outputSchema: RunOutput
        for tool in (self.read_file, self.write_file, self.list_files):
            self.server.add_tool(tool, structured_output=False)

    # ---- tools -------------------------------------------------------------

    async def run_python(
        self,
        code: Annotated[str, Field(description="Python source to run")],
        ctx: Context,
        session: SessionArg = None,
    ) -> Annotated[CallToolResult, RunOutput]:
        """Run Python code in a sandbox (Pyodide: CPython 3.12 in WebAssembly) with no network.

        Variables, imports and files in /workspace (the working directory) persist between
        calls. You get stdout, stderr and the value of the last expression as text, and
        images the code showed (plt.show(), display(img)) as images. These packages
        import offline: {packages}. An exception, a timeout or running out of memory makes
        the call an error carrying the traceback.

        If a result begins with 'session: HANDLE', pass session="HANDLE" on every later
        call (this tool and the file tools): without it each call gets a new, empty sandbox.
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
        elif media_type := image_type(data):
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
    ) -> AsyncIterator[tuple[Sandbox, Handle | None]]:
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

    def _session_key(self, ctx: Context, handle: str | None) -> tuple[str, Handle | None]:
        if self.single_client:
            return "stdio", None
        # Only the handshake era has sessions; there the SDK answers 404 to an unknown
        # Mcp-Session-Id before a tool runs, so a header that reaches us is a live session.
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            session_id = (ctx.headers or {}).get(SESSION_HEADER)
            if session_id:
                return f"http:{session_id}", None
        if not handle and self.settings.session_header:
            client = (ctx.headers or {}).get(self.settings.session_header.lower())
            if client:
                return f"client:{client}", None
        if handle:
            if f"handle:{handle}" not in self.sandboxes:
                raise ToolError(
                    f"no open sandbox has the handle {handle!r} (sandboxes are closed after "
                    f"{self.settings.idle_timeout:g} s unused); leave `session` out to start "
                    "a new one"
                )
            return f"handle:{handle}", Handle(handle, new=False)
        handle = secrets.token_urlsafe(18)
        return f"handle:{handle}", Handle(handle, new=True)

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

    def http_app(self, host: str = HOST) -> ASGIApp:
        """The streamable HTTP app (at /mcp); on loopback it checks Host and Origin headers
        (DNS rebinding), and with a token every request must carry it."""
        app = self.server.streamable_http_app(
            streamable_http_path=PATH,
            host=host,
            session_idle_timeout=self.settings.idle_timeout,
        )
        app = _CloseOnDelete(app, self.sandboxes)
        return _BearerToken(app, self.settings.token) if self.settings.token else app

    async def serve_http(self, sock: socket.socket) -> None:
        """Serve streamable HTTP on a socket from `listen` until interrupted (SIGINT, SIGTERM)."""
        host = sock.getsockname()[0]
        config = uvicorn.Config(self.http_app(host), log_level="warning", lifespan="on")
        await uvicorn.Server(config).serve(sockets=[sock])


class TokenRequired(ValueError):
    """Serving off loopback without a bearer token (or with one too short to be one)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def listen(port: int, host: str = HOST, token: str | None = None) -> tuple[socket.socket, str]:
    """A listening socket on host:port (0: any free port) and the endpoint's URL.

    TokenRequired for an address off loopback without a token, or for a short token;
    OSError if the port is taken or not ours to bind.
    """
    if token is not None and len(token) < MIN_TOKEN:
        raise TokenRequired(f"the token must have at least {MIN_TOKEN} characters")
    if token is None and not is_loopback(host):
        raise TokenRequired(
            f"serving on {host} lets anyone who reaches it run code: give a bearer token "
            "(--token or $THROWAWAY_MCP_TOKEN), e.g. from "
            "python -c 'import secrets; print(secrets.token_urlsafe())'"
        )
    sock = socket.create_server((host, port), family=_family(host))
    shown = f"[{host}]" if ":" in host else host
    return sock, f"http://{shown}:{sock.getsockname()[1]}{PATH}"


def _family(host: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return socket.AF_INET


class _BearerToken:
    """ASGI wrapper: an HTTP request without ``Authorization: Bearer <token>`` gets 401."""

    def __init__(self, app: ASGIApp, token: str):
        self.app, self.expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer"),
                ]})  # fmt: skip
                await send({"type": "http.response.body", "body": b"a bearer token is needed"})
                return
        await self.app(scope, receive, send)


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


def _run_result(result: ExecResult, handle: Handle | None) -> CallToolResult:
    """run_python's answer: the result as text (as throwaway's agent reads it), then the images."""
    content: list[ContentBlock] = [_text(result.text())]
    content += [
        ImageContent(type="image", data=_b64(png), mime_type="image/png") for png in result.images
    ]
    error = result.error
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
    handle: Handle | None,
    structured: dict[str, Any] | None = None,
    *,
    is_error: bool = False,
) -> CallToolResult:
    """The tool result, naming the handle where the protocol has no sessions: first, with
    what to do with it, when the call made the sandbox."""
    if handle is not None:
        if handle.new:
            note = (
                f'session: {handle.value}\n(pass session="{handle.value}" on every later call to '
                "keep this sandbox: without it, a call gets a new, empty one)"
            )
            content = [_text(note), *content]
        else:
            content = [*content, _text(f"session: {handle.value}")]
        structured = {**(structured or {}), "session": handle.value}
    return CallToolResult(content=content, structured_content=structured, is_error=is_error)


def _text(text: str) -> TextContent:
    return TextContent(type="text", text=text)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _instructions(settings: ServerSettings, single_client: bool) -> str:
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
        + (
            ""
            if single_client
            else " If a result begins with 'session: HANDLE', pass session=\"HANDLE\" on "
            "every later call, or the next call starts over in a new sandbox."
        )
    )
