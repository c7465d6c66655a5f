"""`throwaway mcp`, driven by the official MCP client over stdio and streamable HTTP.

Every test talks to a real `throwaway mcp` process: stdio tests spawn their own, the
HTTP tests share one started with `--http PORT` on a free loopback port.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import fastmcp
import httpx
import jsonschema
import pytest
from click.testing import CliRunner
from fastmcp.client.transports import StreamableHttpTransport
from mcp import Client, ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import CallToolResult, ImageContent, TextContent
from mcp.types.version import MODERN_PROTOCOL_VERSIONS

from throwaway.cli import main
from throwaway.mcp.server import Sandboxes, ServerSettings
from throwaway.mcp.tools import McpError, McpServers, load_config
from throwaway.sandbox.assets import bundled_list

THROWAWAY = str(Path(sys.executable).with_name("throwaway"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 2  # for the timeout tests; the others allow slow imports on a busy machine
LIMIT = "30"
CHART = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    (folder / "notes.txt").write_text("mounted from the host\n")
    return folder


def text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def images(result: CallToolResult) -> list[bytes]:
    return [base64.b64decode(b.data) for b in result.content if isinstance(b, ImageContent)]


async def call(client: ClientSession | Client, tool: str, **args) -> CallToolResult:
    return await client.call_tool(tool, args)


# ---- stdio -------------------------------------------------------------------------


def stdio_server(*args: str) -> StdioServerParameters:
    """`throwaway mcp ARGS` with this process's environment, as a shell would start it (the
    SDK passes only HOME, PATH and a few more by default: THROWAWAY_HOME/_DATA would be lost)."""
    return StdioServerParameters(command=THROWAWAY, args=["mcp", *args], env=dict(os.environ))


@asynccontextmanager
async def stdio_session(*args: str) -> AsyncIterator[ClientSession]:
    params = stdio_server(*args)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@pytest.fixture
def stdio_args(data_dir) -> list[str]:
    return ["--timeout", LIMIT, "--mount", f"data={data_dir}"]


async def test_stdio_lists_the_four_tools_and_tells_the_model_the_limits(stdio_args):
    async with stdio_session(*stdio_args) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        instructions = session.initialize_result.instructions
    assert set(tools) == {"run_python", "read_file", "write_file", "list_files"}
    assert tools["run_python"].input_schema["required"] == ["code"]
    assert f"import offline: {bundled_list()}." in tools["run_python"].description
    assert f"{LIMIT} s" in instructions
    assert "/mnt/data (read-only)" in instructions


async def test_stdio_runs_code_and_keeps_state_between_calls(stdio_args):
    async with stdio_session(*stdio_args) as session:
        code = "import sys\nx = 41\nprint('hi')\nprint('oops', file=sys.stderr)\nx + 1"
        first = await call(session, "run_python", code=code)
        second = await call(session, "run_python", code="x * 2")
    assert not first.is_error
    assert text(first) == "stdout:\nhi\n\nstderr:\noops\n\nresult:\n42"
    assert first.structured_content["result"] == "42"
    assert text(second) == "result:\n82"


async def test_stdio_2026_protocol_needs_no_handle_the_process_is_the_session():
    async with Client(stdio_server()) as client:  # mode="auto": no sessions at 2026-07-28
        assert client.session.protocol_version in MODERN_PROTOCOL_VERSIONS
        await call(client, "run_python", code="kept = 'in the process'")
        kept = await call(client, "run_python", code="kept")
    assert text(kept) == "result:\n'in the process'"
    assert "session" not in kept.structured_content


async def test_stdio_returns_images_the_code_showed_and_image_files_it_saved(stdio_args):
    async with stdio_session(*stdio_args) as session:
        shown = await call(session, "run_python", code=CHART)
        await call(session, "run_python", code="plt.plot([2, 1]); plt.savefig('c.png')")
        saved = await call(session, "read_file", path="c.png")
    assert not shown.is_error
    assert shown.content[-1].mime_type == "image/png"
    for result in (shown, saved):
        [png] = images(result)
        assert png.startswith(PNG_SIGNATURE)


async def test_stdio_python_error_is_a_tool_error_with_the_traceback(stdio_args):
    async with stdio_session(*stdio_args) as session:
        result = await call(session, "run_python", code="print('partial')\n1 / 0")
    assert result.is_error
    assert "stdout:\npartial" in text(result)
    assert 'File "<cell 1>", line 2, in <module>\n    1 / 0' in text(result)
    assert "ZeroDivisionError: division by zero" in text(result)
    assert result.structured_content["error"]["type"] == "ZeroDivisionError"


async def test_stdio_timeout_is_a_tool_error_naming_the_limit_and_the_sandbox_goes_on():
    async with stdio_session("--timeout", str(TIMEOUT)) as session:
        await call(session, "run_python", code="kept = 'yes'")
        started = time.monotonic()
        result = await call(session, "run_python", code="while True: pass")
        elapsed = time.monotonic() - started
        after = await call(session, "run_python", code="kept")
    assert result.is_error
    assert f"the {TIMEOUT} s time limit" in text(result)
    assert result.structured_content["error"]["type"] == "TimeoutError"
    assert elapsed < TIMEOUT + 5
    assert text(after) == "result:\n'yes'"


async def test_stdio_memory_cap_from_the_command_line_gives_a_memory_error():
    async with stdio_session("--memory", "256") as session:
        result = await call(session, "run_python", code="block = bytearray(400 * 2**20)")
        after = await call(session, "run_python", code="6 * 7")
    assert result.is_error
    assert "MemoryError" in text(result)
    assert text(after) == "result:\n42"


async def test_stdio_mount_from_the_command_line_is_readable_and_read_only(stdio_args):
    async with stdio_session(*stdio_args) as session:
        by_code = await call(session, "run_python", code="open('/mnt/data/notes.txt').read()")
        by_tool = await call(session, "read_file", path="/mnt/data/notes.txt")
        listed = await call(session, "list_files", path="/mnt/data")
        refused = await call(session, "write_file", path="/mnt/data/new.txt", content="x")
    assert text(by_code) == "result:\n'mounted from the host\\n'"
    assert text(by_tool) == "mounted from the host\n"
    assert listed.structured_content["names"] == ["notes.txt"]
    assert refused.is_error


async def test_stdio_files_written_read_and_listed_are_the_codes_files(stdio_args):
    raw = bytes(range(256))
    async with stdio_session(*stdio_args) as session:
        wrote = await call(session, "write_file", path="in.csv", content="a,b\n1,2\n")
        encoded = base64.b64encode(raw).decode()
        await call(session, "write_file", path="raw.bin", content=encoded, encoding="base64")
        code = "import csv\nsum(map(int, list(csv.reader(open('in.csv')))[1]))"
        summed = await call(session, "run_python", code=code)
        await call(session, "run_python", code="open('out.txt', 'w').write('from code')")
        listed = await call(session, "list_files")
        read_back = await call(session, "read_file", path="out.txt")
        raw_back = await call(session, "read_file", path="raw.bin", encoding="base64")
        not_text = await call(session, "read_file", path="raw.bin")
        missing = await call(session, "read_file", path="nope.txt")
        bad_base64 = await call(session, "write_file", path="x", content="%%%", encoding="base64")
    assert text(wrote) == "wrote 8 bytes to /workspace/in.csv"
    assert text(summed) == "result:\n3"
    assert {"in.csv", "raw.bin", "out.txt"} <= set(listed.structured_content["names"])
    assert text(read_back) == "from code"
    assert base64.b64decode(text(raw_back)) == raw
    assert not_text.is_error and "encoding='base64'" in text(not_text)
    assert missing.is_error and "nope.txt" in text(missing)
    assert bad_base64.is_error and "base64" in text(bad_base64)


# ---- streamable HTTP ----------------------------------------------------------------


@dataclass
class HttpServer:
    url: str
    pid: int


@contextmanager
def start_http_server(*args: str) -> Iterator[HttpServer]:
    """`throwaway mcp --http PORT ...` on a free loopback port, stopped on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [THROWAWAY, "mcp", "--http", str(port), *args], stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stderr.readline()  # printed once the port is open
        assert f"http://127.0.0.1:{port}/mcp" in line, line + proc.stderr.read()
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # never let it block
        yield HttpServer(f"http://127.0.0.1:{port}/mcp", proc.pid)
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.fixture(scope="module")
def http_server(data_dir) -> Iterator[HttpServer]:
    with start_http_server("--timeout", LIMIT, "--mount", f"data={data_dir}") as server:
        yield server


@asynccontextmanager
async def http_session(server: HttpServer) -> AsyncIterator[ClientSession]:
    """A handshake-era session (Mcp-Session-Id), ended with DELETE on exit."""
    async with streamable_http_client(server.url) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        yield s


def deno_children(pid: int) -> set[int]:
    """Sandbox processes (Deno) started by the process pid."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, _, rest = stat.read_text().rpartition(")")
        except OSError:
            continue
        if head.endswith("(deno") and int(rest.split()[1]) == pid:
            found.add(int(stat.parent.name))
    return found


async def test_http_runs_code_keeps_state_and_returns_images(http_server):
    async with http_session(http_server) as session:
        await call(session, "run_python", code="total = sum(range(10))")
        kept = await call(session, "run_python", code="total")
        chart = await call(session, "run_python", code=CHART)
    assert text(kept) == "result:\n45"
    [png] = images(chart)
    assert png.startswith(PNG_SIGNATURE)


async def test_http_sessions_are_isolated(http_server):
    async with http_session(http_server) as one, http_session(http_server) as two:
        await call(one, "run_python", code="secret = 'only in one'")
        await call(one, "write_file", path="one.txt", content="one's file")
        theirs = await call(two, "run_python", code="secret")
        their_files = await call(two, "list_files")
        mine = await call(one, "run_python", code="secret")
    assert theirs.is_error and "NameError" in text(theirs)
    assert "one.txt" not in their_files.structured_content["names"]
    assert text(mine) == "result:\n'only in one'"


async def test_http_timeout_is_a_tool_error_naming_the_limit():
    with start_http_server("--timeout", str(TIMEOUT)) as server:
        async with http_session(server) as session:
            result = await call(session, "run_python", code="while True: pass")
    assert result.is_error
    assert f"the {TIMEOUT} s time limit" in text(result)


async def test_http_mount_and_file_tools(http_server):
    async with http_session(http_server) as session:
        mounted = await call(session, "read_file", path="/mnt/data/notes.txt")
        await call(session, "write_file", path="note.md", content="# hi")
        read_back = await call(session, "run_python", code="open('note.md').read()")
    assert text(mounted) == "mounted from the host\n"
    assert text(read_back) == "result:\n'# hi'"


async def test_http_sandbox_is_closed_when_the_session_ends(http_server):
    before = deno_children(http_server.pid)
    async with http_session(http_server) as session:
        await call(session, "run_python", code="1")
        ours = deno_children(http_server.pid) - before
    assert len(ours) == 1
    deadline = time.monotonic() + 10
    while ours & deno_children(http_server.pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not ours & deno_children(http_server.pid)


async def test_http_2026_protocol_keeps_state_through_the_session_handle(http_server):
    async with Client(http_server.url) as client:  # mode="auto": no sessions at 2026-07-28
        assert client.session.protocol_version in MODERN_PROTOCOL_VERSIONS
        first = await call(client, "run_python", code="kept = 'by handle'")
        handle = first.structured_content["session"]
        same = await call(client, "run_python", code="kept", session=handle)
        other = await call(client, "run_python", code="kept")
        unknown = await call(client, "run_python", code="1", session="not-a-handle")
    assert text(first).startswith(f'session: {handle}\n(pass session="{handle}"')
    assert text(same).startswith("result:\n'by handle'")
    assert other.is_error and "NameError" in text(other)
    assert other.structured_content["session"] != handle
    assert unknown.is_error and "leave `session` out" in text(unknown)


# ---- command line and bookkeeping ----------------------------------------------------


def test_help_says_how_to_serve_and_configure_a_client():
    r = CliRunner().invoke(main, ["mcp", "--help"])
    assert r.exit_code == 0
    for words in ("--http PORT", "--timeout", "--memory", "--mount", "mcpServers", "run_python"):
        assert words in r.output


def test_bad_mount_is_a_usage_error_with_an_example(tmp_path):
    r = CliRunner().invoke(main, ["mcp", "--mount", f"data={tmp_path / 'missing'}"])
    assert r.exit_code == 2
    assert "is not a folder" in r.output and "data=./data" in r.output


def test_a_port_in_use_is_refused_with_a_message():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = CliRunner().invoke(main, ["mcp", "--http", str(port)])
    assert r.exit_code == 1
    assert f"cannot serve on 127.0.0.1:{port}" in r.output


async def test_idle_sandboxes_are_closed_and_busy_ones_kept():
    now = [0.0]
    sandboxes = Sandboxes(ServerSettings(max_sandboxes=2), clock=lambda: now[0])
    async with sandboxes.use("idle"):
        pass
    async with sandboxes.use("busy"):
        now[0] = 100.0
        await sandboxes.close_idle(idle_timeout=50)
        assert "idle" not in sandboxes and "busy" in sandboxes
    async with sandboxes.use("again"), sandboxes.use("busy"):
        assert len(sandboxes) == 2
        with pytest.raises(Exception, match="the most this server allows"):
            async with sandboxes.use("one too many"):
                pass
    await sandboxes.close_all()
    assert len(sandboxes) == 0


# ---- what a client learns, sessionless clients, access -------------------------------

TOKEN = "a-test-token-of-32-characters-xx"


async def test_server_info_has_the_version_and_run_python_declares_its_output(stdio_args):
    async with stdio_session(*stdio_args) as session:
        info = session.initialize_result.server_info
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        ok = await call(session, "run_python", code="print('x')\n6 * 7")
        failed = await call(session, "run_python", code="1 / 0")
    assert info.version == version("throwaway")
    schema = tools["run_python"].output_schema
    assert {"stdout", "result", "error", "images"} <= set(schema["properties"])
    jsonschema.validate(ok.structured_content, schema)
    jsonschema.validate(failed.structured_content, schema)
    assert "session=" in tools["run_python"].description


async def fastmcp_client(url: str, headers: dict | None = None) -> fastmcp.Client:
    return fastmcp.Client(StreamableHttpTransport(url, headers=headers))


async def test_http_2026_protocol_handle_works_from_fastmcps_client_too(http_server):
    async with await fastmcp_client(http_server.url) as client:
        assert client.protocol_version in MODERN_PROTOCOL_VERSIONS
        first = await client.call_tool("run_python", {"code": "kept = 'by fastmcp'"})
        handle = first.structured_content["session"]
        same = await client.call_tool("run_python", {"code": "kept", "session": handle})
    assert text(first).startswith(f"session: {handle}\n")  # first thing the model reads
    assert same.structured_content["result"] == "'by fastmcp'"


@pytest.fixture(scope="module")
def header_server() -> Iterator[HttpServer]:
    with start_http_server("--timeout", LIMIT, "--session-header", "X-Session") as server:
        yield server


async def test_a_session_header_keeps_state_without_handles_in_both_clients(header_server):
    url = header_server.url
    async with await fastmcp_client(url, {"X-Session": "agent-a"}) as a_fast:
        await a_fast.call_tool("run_python", {"code": "who = 'a'"})
    http = create_mcp_http_client(headers={"X-Session": "agent-a"})
    async with http, Client(streamable_http_client(url, http_client=http)) as a_sdk:
        assert a_sdk.session.protocol_version in MODERN_PROTOCOL_VERSIONS
        again = await call(a_sdk, "run_python", code="who")
    async with await fastmcp_client(url, {"X-Session": "agent-b"}) as b_fast:
        other = await b_fast.call_tool("run_python", {"code": "who"}, raise_on_error=False)
    async with Client(url) as no_header:
        fresh = await call(no_header, "run_python", code="who")
    assert text(again) == "result:\n'a'"  # no handle needed, none shown
    assert "session" not in again.structured_content
    assert other.is_error and "NameError" in text(other)
    assert fresh.is_error and "session" in fresh.structured_content  # handles as before


def test_http_off_loopback_needs_a_token():
    for host in ("0.0.0.0", "::", "example.org"):
        r = CliRunner().invoke(main, ["mcp", "--http", "0", "--host", host], env={})
        assert r.exit_code == 2, r.output
        assert "--token or $THROWAWAY_MCP_TOKEN" in r.output
    short = CliRunner().invoke(main, ["mcp", "--http", "0", "--host", "0.0.0.0"],
                               env={"THROWAWAY_MCP_TOKEN": "short"})  # fmt: skip
    assert short.exit_code == 2 and "at least 16 characters" in short.output


@pytest.fixture(scope="module")
def token_server() -> Iterator[HttpServer]:
    with start_http_server("--timeout", LIMIT, "--token", TOKEN) as server:
        yield server


async def test_a_token_is_needed_on_every_request(token_server):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx.AsyncClient() as raw:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            response = await raw.post(token_server.url, json=body, headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
    async with http, Client(streamable_http_client(token_server.url, http_client=http)) as ok:
        result = await call(ok, "run_python", code="6 * 7")
    assert result.structured_content["result"] == "42"


async def test_mcp_config_headers_reach_an_http_server(token_server, tmp_path):
    config = tmp_path / "mcp.json"
    entry = {"url": token_server.url, "headers": {"Authorization": f"Bearer {TOKEN}"}}
    config.write_text(json.dumps({"mcpServers": {"remote": entry}}))
    async with McpServers(load_config(str(config))) as servers:
        result = await servers.call_tool("remote", "run_python", {"code": "6 * 7"})
    assert result.structured_content["result"] == "42"
    config.write_text(json.dumps({"mcpServers": {"remote": {"url": token_server.url}}}))
    with pytest.raises(McpError, match="failed to start"):
        await McpServers(load_config(str(config))).start()


async def test_pydantic_ais_mcp_client_keeps_a_sandbox_per_run_with_the_header(header_server):
    """The case that made pydantic-ai give up: its HTTP MCP client passes no handle back."""
    from pydantic_ai import Agent
    from pydantic_ai.mcp import MCPToolset
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart
    from pydantic_ai.models.function import FunctionModel

    seen: list = []
    script = {"count": ["n = 41", "n + 1"], "again": ["'n' in globals()"]}

    def respond(messages, info) -> ModelResponse:
        seen.extend(str(p.content) for p in messages[-1].parts if isinstance(p, ToolReturnPart))
        step = sum(isinstance(p, ToolCallPart) for m in messages for p in m.parts)
        codes = script[messages[0].parts[-1].content]
        if step == len(codes):
            return ModelResponse(parts=[TextPart("done")])
        return ModelResponse(parts=[ToolCallPart("run_python", {"code": codes[step]}, f"c{step}")])

    toolset = MCPToolset(header_server.url, headers=lambda ctx: {"X-Session": ctx.run_id})
    agent = Agent(FunctionModel(respond), toolsets=[toolset])
    await agent.run("count")
    await agent.run("again")  # a new run: a new sandbox
    # pydantic-ai shows the model the structured content of a text-only result
    assert "'result': '42'" in seen[1] and "session" not in seen[1]
    assert "'result': 'False'" in seen[2]
