"""MCP servers' tools inside the sandbox, against real servers others wrote:
mcp-server-time (PyPI, a dev extra) and @modelcontextprotocol/server-memory (npm, the Makefile)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from throwaway import Sandbox
from throwaway.agent.help import HelpIndex
from throwaway.mcp.tools import McpError, McpServers, ServerSpec, load_config

ROOT = Path(__file__).resolve().parent.parent
TIME = f"time={Path(sys.executable).parent / 'mcp-server-time'} --local-timezone UTC"
MEMORY_BIN = ROOT / ".mcp" / "node_modules" / ".bin" / "mcp-server-memory"


def memory_spec(store: Path) -> str:
    return f"memory={shutil.which('env')} MEMORY_FILE_PATH={store} {MEMORY_BIN}"


@pytest.fixture(scope="module")
async def servers(tmp_path_factory):
    store = tmp_path_factory.mktemp("memory") / "memory.jsonl"
    specs = [ServerSpec.parse(TIME), ServerSpec.parse(memory_spec(store))]
    async with McpServers(specs, policy={"time.convert_time": "deny"}) as started:
        yield started


@pytest.fixture(scope="module")
async def sb(servers):
    async with Sandbox(functions=servers.functions(), timeout=30) as sandbox:
        await sandbox.run("from tools import time, memory")
        yield sandbox


@pytest.mark.e2e
async def test_tools_become_functions_with_signatures_and_docstrings(sb):
    result = await sb.run("import inspect\nstr(inspect.signature(time.get_current_time))")
    assert result.result == "'(*, timezone: str) -> tools.time.TimeResult'"
    doc = (await sb.run("time.get_current_time.__doc__")).result
    assert "IANA timezone name" in doc


@pytest.mark.e2e
async def test_a_call_returns_the_structured_result(sb):
    result = await sb.run("r = time.get_current_time(timezone='Asia/Tokyo')\nr['timezone']")
    assert result.error is None, result.error
    assert result.result == "'Asia/Tokyo'"


@pytest.mark.e2e
async def test_a_server_error_is_a_tool_error_with_its_message(sb):
    result = await sb.run("time.get_current_time(timezone='Nowhere/Land')")
    assert result.error.type == "ToolError"
    assert "Nowhere/Land" in result.error.message


@pytest.mark.e2e
async def test_a_denied_tool_raises_in_the_sandbox(sb):
    result = await sb.run(
        "time.convert_time(source_timezone='UTC', time='12:00', target_timezone='Asia/Tokyo')"
    )
    assert result.error.type == "ToolError"
    assert "denied" in result.error.message


@pytest.mark.e2e
async def test_a_node_server_keeps_state_across_calls(sb):
    result = await sb.run(
        "memory.create_entities(entities=[{'name': 'Ada', 'entityType': 'person',"
        " 'observations': ['wrote the first program']}])\n"
        "[e['name'] for e in memory.read_graph()['entities']]"
    )
    assert result.error is None, result.error
    assert "Ada" in result.result


@pytest.mark.e2e
async def test_the_prompt_index_is_short_and_help_has_the_details(servers):
    index = servers.index(limit=4)
    assert "time.get_current_time" in index
    assert index.count("\n") <= 4
    help_index = HelpIndex(texts=servers.docs(), builtin=False)
    assert "convert_time" in help_index.answer("time convert timezones")


@pytest.mark.e2e
async def test_tools_that_need_approval_ask_each_call(servers, tmp_path):
    asked = []

    async def approve(name: str, args: dict) -> bool:
        asked.append(name)
        return args.get("timezone") == "UTC"

    asking = McpServers([ServerSpec.parse(TIME)], policy={"time.*": "ask"}, approve=approve)
    async with asking as started, Sandbox(functions=started.functions()) as sandbox:
        ok = await sandbox.run("from tools import time\ntime.get_current_time(timezone='UTC')")
        refused = await sandbox.run("time.get_current_time(timezone='Europe/Rome')")
    assert ok.error is None
    assert "needs approval" in refused.error.message
    assert asked == ["time.get_current_time", "time.get_current_time"]


async def test_a_server_that_fails_to_start_is_a_clear_error():
    with pytest.raises(McpError, match="nope"):
        await McpServers([ServerSpec.parse("nope=/nonexistent/mcp-server")]).start()


async def test_a_server_that_dies_at_start_shows_the_end_of_its_stderr(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("import sys\nprint('starting up', file=sys.stderr)\nimport no_such_module\n")
    with pytest.raises(McpError) as caught:
        await McpServers([ServerSpec.parse(f"broken={sys.executable} {script}")]).start()
    message = str(caught.value)
    assert message.startswith(f"MCP server 'broken' ({sys.executable} {script}) failed to start: ")
    assert "starting up" in message
    assert message.rstrip().endswith("ModuleNotFoundError: No module named 'no_such_module'")


async def test_an_unreachable_http_server_is_one_line_naming_the_cause():
    with pytest.raises(McpError) as caught:
        await McpServers([ServerSpec.parse("x=http://127.0.0.1:9/mcp")]).start()
    assert str(caught.value) == (
        "MCP server 'x' (http://127.0.0.1:9/mcp) failed to start: "
        "ConnectError: All connection attempts failed"
    )


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"time.get_curent_time": "deny"},
         "'time.get_curent_time': server 'time' has no tool 'get_curent_time'; "
         "did you mean time.get_current_time?"),
        ({"tiem.*": "deny"}, "'tiem.*': no MCP server 'tiem' in this run; did you mean time?"),
        ({"time.nothing_like_it": "ask"}, "(its tools: get_current_time, convert_time)"),
    ],
    ids=["tool", "server", "no-close-match"],
)  # fmt: skip
async def test_a_policy_naming_unknown_tools_is_an_error_with_the_close_matches(policy, message):
    servers = McpServers([ServerSpec.parse(TIME)], policy=policy)
    with pytest.raises(McpError) as caught:
        await servers.start()
    assert str(caught.value).startswith("--tool-policy: ")
    assert message in str(caught.value)


async def test_a_chatty_server_keeps_only_the_last_lines_of_stderr(tmp_path):
    script = tmp_path / "chatty.py"
    script.write_text(
        "import sys\nfor i in range(5000): print(f'line {i}', 'x' * 2000, file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    with pytest.raises(McpError) as caught:
        await McpServers([ServerSpec.parse(f"chatty={sys.executable} {script}")]).start()
    message = str(caught.value)
    assert "line 4999" in message and "line 4000" not in message
    assert len(message) < 30_000


def test_specs_and_config_files(tmp_path):
    assert ServerSpec.parse("gh=http://127.0.0.1:9/mcp").url == "http://127.0.0.1:9/mcp"
    assert ServerSpec.parse("t=uvx mcp-server-time --x 'a b'").command == [
        "uvx", "mcp-server-time", "--x", "a b"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="NAME=COMMAND"):
        ServerSpec.parse("not a name=cmd")
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {
        "time": {"command": "mcp-server-time", "args": ["--local-timezone", "UTC"],
                 "env": {"TZ": "UTC"}, "cwd": "/tmp"},
        "web": {"url": "https://example.org/mcp", "headers": {"Authorization": "Bearer t"}},
    }}))  # fmt: skip
    specs = load_config(str(config))
    assert specs == [
        ServerSpec("time", command=["mcp-server-time", "--local-timezone", "UTC"],
                   env={"TZ": "UTC"}, cwd="/tmp"),
        ServerSpec("web", url="https://example.org/mcp", headers={"Authorization": "Bearer t"}),
    ]  # fmt: skip
    assert [ServerSpec.load(s.to_json()) for s in specs] == specs  # as a run keeps them
    for bad in ({"env": {"TOKEN": 1}, "command": "x"}, {"args": "--x"}, {"url": "ftp://x"}, []):
        config.write_text(json.dumps({"mcpServers": {"bad": bad}}))
        with pytest.raises(McpError, match="MCP server 'bad'"):
            load_config(str(config))


@pytest.mark.e2e
async def test_a_streamable_http_server_works_too(tmp_path):
    """Over HTTP, with `throwaway mcp --http` as the server: code asks another sandbox."""
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "throwaway"), "mcp", "--http", "0"],
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        line = proc.stderr.readline()
        url = line[line.index("http://") :].split()[0]
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        remote = McpServers([ServerSpec.parse(f"remote={url}")])
        async with remote as started, Sandbox(functions=started.functions()) as sb:
            result = await sb.run("from tools import remote\nremote.run_python(code='6 * 7')")
        assert result.error is None, result.error
        assert "42" in json.dumps(result.result)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.e2e
def test_exec_asks_for_approval_and_refuses_without_a_terminal(tmp_path):
    from click.testing import CliRunner

    from throwaway.cli import main

    script = tmp_path / "ask.py"
    script.write_text("from tools import time\ntime.get_current_time(timezone='UTC')\n")
    result = CliRunner().invoke(main, ["exec", "--mcp", TIME, "--tool-policy", "time.*=ask",
                                       str(script)])  # fmt: skip
    assert result.exit_code == 1
    assert "needs approval" in result.output


def test_results_without_structured_content_keep_their_images():
    from mcp import types

    from throwaway.mcp.tools import _result_value

    result = types.CallToolResult(content=[
        types.TextContent(type="text", text="a chart"),
        types.ImageContent(type="image", data="iVBORw0KGgo=", mime_type="image/png"),
    ])  # fmt: skip
    assert _result_value("s", "t", result) == [
        "a chart", {"image": "iVBORw0KGgo=", "mime_type": "image/png"}
    ]  # fmt: skip
    only_json = types.CallToolResult(content=[types.TextContent(type="text", text='{"n": 1}')])
    assert _result_value("s", "t", only_json) == {"n": 1}


@pytest.mark.e2e
async def test_an_output_schema_becomes_a_typed_dict(sb):
    result = await sb.run(
        "import typing\nfrom tools.time import TimeResult as R\n"
        "{k: getattr(v, '__name__', str(v)) for k, v in typing.get_type_hints(R).items()}"
    )
    assert result.error is None, result.error
    hints = eval(result.result)
    assert hints["timezone"] == "str"
    assert hints["is_dst"] == "bool"


# ---- a server on the MCP SDK's MCPServer: the shapes schemas take ----------------------

CALC = f"calc={sys.executable} {ROOT / 'tests' / 'mcp_calc.py'}"


@pytest.fixture(scope="module")
async def calc(tmp_path_factory):
    servers = McpServers([ServerSpec.parse(CALC)])
    async with servers as started, Sandbox(functions=started.functions(), timeout=30) as sandbox:
        await sandbox.run("from tools import calc\nimport inspect, typing")
        yield sandbox


@pytest.mark.e2e
async def test_a_plain_value_comes_back_unwrapped(calc):
    result = await calc.run("calc.add(a=2, b=40)")
    assert result.error is None, result.error
    assert result.result == "42"
    assert (
        await calc.run("inspect.signature(calc.add).return_annotation")
    ).result == "<class 'int'>"


@pytest.mark.e2e
async def test_stubs_are_typed_from_the_schema(calc):
    result = await calc.run("str(inspect.signature(calc.shout))")
    assert result.result == repr(
        "(*, text: str, times: int = 1, mode: Literal['loud', 'quiet'] = 'loud', "
        "where: tools.calc.Address | None = None, tags: list[str] | None = None) "
        "-> tools.calc.ShoutResult"
    )
    hints = await calc.run("{k: str(v) for k, v in typing.get_type_hints(calc.Address).items()}")
    assert eval(hints.result) == {"street": "<class 'str'>", "city": "<class 'str'>"}


@pytest.mark.e2e
async def test_help_reads_like_a_real_functions_help(calc):
    result = await calc.run("help(calc.shout)")
    assert result.error is None, result.error
    assert "shout(*, text: str, times: int = 1" in result.stdout
    assert "Shout a text, maybe more than once." in result.stdout
    assert "text: what to shout" in result.stdout


@pytest.mark.e2e
async def test_nested_and_recursive_types_work_both_ways(calc):
    tree = "{'label': 'a', 'children': [{'label': 'b', 'children': [{'label': 'c'}]}]}"
    result = await calc.run(
        f"print(calc.depth(tree={tree}))\n"
        "print(calc.shout(text='hi', where={'street': 'Main', 'city': 'Oslo'}, times=2))\n"
        "typing.get_type_hints(calc.Node)['children']"
    )
    assert result.error is None, result.error
    assert result.stdout == "3\n{'text': 'HIHI at Oslo', 'length': 4}\n"
    assert result.result == "list[tools.calc.Node]"


@pytest.mark.e2e
async def test_colliding_names_are_kept_apart_and_say_so(calc):
    result = await calc.run("calc.get_time(), calc.get_time_2(), calc.get_time_2.__doc__")
    first, second, doc = eval(result.result)
    assert {first, second} == {"dashed", "plain"}
    renamed = "'get-time'" if second == "dashed" else "'get_time'"
    assert f"The MCP tool {renamed}: named get_time_2" in doc
    async with McpServers([ServerSpec.parse(CALC)]) as servers:
        index = servers.index()
    assert f"calc.get_time_2: The time, by its {second} name. (MCP tool {renamed})" in index


@pytest.mark.e2e
async def test_a_tool_error_carries_the_servers_text_as_it_is(calc):
    result = await calc.run("calc.divide(a=1, b=0)")
    assert result.error.type == "ToolError"
    assert result.error.message == "Error executing tool divide: b must not be zero (try b=1)"


@pytest.mark.e2e
async def test_stdio_servers_get_our_environment_and_their_entrys_env(tmp_path, monkeypatch):
    monkeypatch.setenv("THROWAWAY_TEST_INHERITED", "from the shell")
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"calc": {
        "command": sys.executable, "args": [str(ROOT / "tests" / "mcp_calc.py")],
        "env": {"GITHUB_TOKEN": "ghp_secret"},
    }}}))  # fmt: skip
    async with McpServers(load_config(str(config))) as started:
        token = await started.call_tool("calc", "env", {"name": "GITHUB_TOKEN"})
        inherited = await started.call_tool("calc", "env", {"name": "THROWAWAY_TEST_INHERITED"})
    assert token.structured_content == {"result": "ghp_secret"}
    assert inherited.structured_content == {"result": "from the shell"}


async def test_schemas_the_renderer_cannot_take_still_give_a_module_that_imports():
    """A hostile or broken server: refs outside the schema, names that would run code or
    hide builtins, parts that are not schemas. Each tool still gets a callable stub."""
    from mcp import types

    from throwaway.mcp.tools import _render_module

    odd = {
        "not_a_schema": {"type": "object", "properties": {"a": 5}},
        "not_a_map": {"type": "object", "properties": [1]},
        "code_in_a_ref": {"type": "object",
                          "properties": {"a": {"$ref": "#/$defs/__import__('os').getpid()"}}},
        "keyword_title": {"type": "object", "properties": {"a": {
            "type": "object", "title": "class", "properties": {"b": {"$ref": "#"}}}}},
        "builtin_name": {"type": "object", "$defs": {"str": {
            "type": "object", "properties": {"x": {"type": "integer"}}}},
            "properties": {"a": {"$ref": "#/$defs/str"}}},
    }  # fmt: skip
    tools = [types.Tool(name=name, input_schema=schema) for name, schema in odd.items()]

    def echo(server: str, tool: types.Tool):
        async def run(args: list, kwargs: dict) -> dict:
            return {"tool": tool.name, "got": kwargs}

        return run

    functions = _render_module("odd", tools, echo)
    async with Sandbox(functions=functions) as sandbox:
        result = await sandbox.run(
            "from tools import odd\n"
            "[odd.not_a_schema(a=1), odd.code_in_a_ref(a=2), odd.keyword_title(a={'b': 3}),"
            " odd.builtin_name(a={'x': 4}), odd.not_a_map(b=5)]"
        )
    assert result.error is None, result.error
    assert eval(result.result) == [
        {"tool": "not_a_schema", "got": {"a": 1}},
        {"tool": "code_in_a_ref", "got": {"a": 2}},
        {"tool": "keyword_title", "got": {"a": {"b": 3}}},
        {"tool": "builtin_name", "got": {"a": {"x": 4}}},
        {"tool": "not_a_map", "got": {"b": 5}},
    ]


@pytest.mark.e2e
def test_exec_with_an_mcp_config_gives_the_server_its_env(tmp_path):
    from click.testing import CliRunner

    from throwaway.cli import main

    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"calc": {
        "command": sys.executable, "args": [str(ROOT / "tests" / "mcp_calc.py")],
        "env": {"CALC_TOKEN": "from the config"},
    }}}))  # fmt: skip
    script = tmp_path / "env.py"
    script.write_text("from tools import calc\nprint(calc.env(name='CALC_TOKEN'))\n")
    result = CliRunner().invoke(main, ["exec", "--mcp-config", str(config), str(script)])
    assert result.exit_code == 0, result.output
    assert "from the config" in result.output
