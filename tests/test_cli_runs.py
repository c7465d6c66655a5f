"""The run commands as a person uses them: errors, id prefixes, `runs`, `show`, saved files.

Everything goes through Click's CliRunner on a fresh database of the Postgres server
(conftest.py's ``databases``), with real sandboxes. The model is a
loopback server speaking OpenAI's wire format (tests/provider_server.py), so tool arguments
arrive as a JSON string as they do from OpenAI; detached runs use the scripted model.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from provider_server import ProviderServer, openai_text, openai_tool_calls
from rich.console import Console

from throwaway.cli import main, render
from throwaway.durable import Durable

CLEARED = ("THROWAWAY_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY",
           "GOOGLE_API_KEY", "GEMINI_API_KEY", "THROWAWAY_DATA")  # fmt: skip

#: The code of the run's first cell: 60 lines of output and a file.
CELL = (
    "for i in range(60):\n"
    "    print('line', i)\n"
    "open('/workspace/report.csv', 'w').write('a,b\\n1,2\\n')\n"
)
#: The second cell shows an image.
IMAGE_CELL = "from PIL import Image\ndisplay(Image.new('RGB', (8, 8), 'red'))\n"


@pytest.fixture(scope="module")
def database_url(databases):
    """A new database on the server for this module, dropped afterwards."""
    with databases() as url:
        yield url


@pytest.fixture(scope="module")
def cli(database_url):
    """``cli(*args, **env)``: the throwaway command, in this process, on the module's database."""

    def invoke(*args: str, **env: str) -> Result:
        settings = {**dict.fromkeys(CLEARED), "THROWAWAY_DATABASE_URL": database_url, **env}
        return CliRunner().invoke(main, list(args), env=settings)

    return invoke


def assert_user_error(result: Result, *lines: str) -> None:
    """Exit 1 with an `Error:` line and a `hint:` line, and no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert re.search(r"^Error: .+$", result.stderr, re.M), result.stderr
    assert re.search(r"^hint: .+$", result.stderr, re.M), result.stderr
    for line in lines:
        assert line in result.stderr


@pytest.fixture(scope="module")
def finished(cli, tmp_path_factory) -> tuple[str, Result, Path]:
    """A foreground run on the OpenAI-speaking server: its id, its result and its folder."""
    folder = tmp_path_factory.mktemp("run")
    data = folder / "data"
    data.mkdir()
    with ProviderServer() as server:
        server.reply(200, openai_tool_calls(("c1", "run_python", {"code": CELL})))
        server.reply(200, openai_tool_calls(("c2", "run_python", {"code": IMAGE_CELL})))
        server.reply(200, openai_text("Sixty lines, one chart."))
        env = {"OPENAI_BASE_URL": f"{server.url}/v1", "OPENAI_API_KEY": "sk-test"}
        cwd = Path.cwd()
        os.chdir(folder)  # the default --out is relative to where `run` is called
        try:
            result = cli("run", "count to sixty", "--model", "openai:gpt-test",
                         "--mount", f"data={data}", **env)  # fmt: skip
        finally:
            os.chdir(cwd)
    assert result.exit_code == 0, result.output
    run_id = re.search(r"^run (\S+)$", result.stderr, re.M).group(1)
    return run_id, result, folder


# --- errors --------------------------------------------------------------------------------


def test_an_unknown_run_is_one_line_and_a_hint(cli):
    assert_user_error(cli("show", "ffff"), "Error: no run 'ffff'", "throwaway runs")
    assert_user_error(cli("cancel", "not-an-id"), "Error: no run 'not-an-id'")


def test_database_errors_are_one_line_and_a_hint(cli):
    malformed = cli("runs", THROWAWAY_DATABASE_URL="nonsense=1")
    assert_user_error(malformed, "$THROWAWAY_DATABASE_URL is not a Postgres URL")
    closed = "postgresql://nobody@127.0.0.1:9/none"
    assert_user_error(cli("runs", THROWAWAY_DATABASE_URL=closed), "cannot connect")


def test_an_unreachable_mcp_server_is_one_line_and_a_hint(cli):
    result = cli("exec", "--mcp", "x=http://127.0.0.1:9/mcp", "-")
    assert_user_error(result)


def test_which_exceptions_are_user_errors():
    import psycopg

    from throwaway.cli.base import as_user_error
    from throwaway.errors import RunNotFound

    database = as_user_error(psycopg.OperationalError("server closed the connection\nmore"))
    assert database.format_message() == "database: server closed the connection"
    nested = ExceptionGroup("outer", [ValueError("a bug"), ExceptionGroup("inner", [
        ConnectionRefusedError(111, "Connection refused")])])  # fmt: skip
    assert as_user_error(nested).format_message().startswith("ConnectionRefusedError:")
    assert as_user_error(RunNotFound("ab")).hint.startswith("`throwaway runs`")
    assert as_user_error(ExceptionGroup("only bugs", [ValueError("x")])) is None
    assert as_user_error(KeyError("a bug")) is None


# --- run ids -------------------------------------------------------------------------------


def test_a_run_is_named_by_any_unique_start_of_its_id(cli, tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "never run"}]))
    ids = [
        cli("run", f"queued {i}", "--model", f"scripted:{script}", "--detach").stdout.strip()
        for i in range(3)
    ]
    for run_id in ids:
        prefix = next(run_id[:n] for n in range(1, 37) if
                      sum(i.startswith(run_id[:n]) for i in ids) == 1)  # fmt: skip
        shown = json.loads(cli("show", prefix, "--json").stdout)
        assert shown["id"] == run_id

    result = cli("show", ids[0][:4])  # uuid7: runs made together share their first digits
    assert_user_error(result, "more than one run", *ids)

    cancelled = cli("cancel", ids[1][:-4])
    assert cancelled.exit_code == 0
    assert cancelled.stdout == f"cancelled {ids[1]}: it will not start\n"

    piped = cli("runs", "--status", "cancelled", "--limit", "5").stdout.splitlines()
    assert [line.split("\t")[0] for line in piped] == [ids[1]]
    fields = piped[0].split("\t")
    assert fields[1:2] + fields[3:] == ["cancelled", f"scripted:{script}", "-", "0", "queued 1"]
    queued = cli("runs", "--status", "queued", "--limit", "1").stdout.splitlines()
    assert [line.split("\t")[0] for line in queued] == [ids[2]]


@pytest.mark.parametrize("width", [80, 140])
def test_the_runs_table_on_a_terminal_keeps_whole_ids(database_url, finished, width, monkeypatch):
    async def records():
        async with Durable(database_url) as durable:
            return await durable.list_runs(5)

    terminal = Console(width=width, file=io.StringIO(), highlight=False)
    monkeypatch.setattr(render, "out", terminal)
    render.print_runs(asyncio.run(records()), tty=True)
    table = terminal.file.getvalue().splitlines()
    assert max(len(line) for line in table) <= width
    [row] = [line for line in table if finished[0] in line]  # the whole id
    assert "completed" in row and re.search(r" [\d.]+ s +5 +count to", row), row
    if width == 140:  # where they fit: when it was made, and its model
        assert re.search(r"completed +\d{4}-\d\d-\d\d \d\d:\d\d +openai:gpt-test ", row), row


# --- a run's end and `show` ----------------------------------------------------------------


def test_run_saves_its_files_and_images_and_says_where(finished):
    run_id, result, folder = finished
    out = folder / "throwaway-out" / run_id[:13]
    assert (out / "report.csv").read_text() == "a,b\n1,2\n"
    [image] = (out / "images").iterdir()
    assert image.read_bytes().startswith(b"\x89PNG")
    assert f"files: {Path('throwaway-out') / run_id[:13]}{os.sep} (" in result.stderr
    assert "report.csv" in result.stderr and f"images/{image.name}" in result.stderr
    assert result.stdout == "Sixty lines, one chart.\n"


def test_show_prints_the_code_its_output_times_model_mounts_and_files(cli, finished):
    run_id, _, folder = finished
    shown = cli("show", run_id[:13])
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert CELL in text and IMAGE_CELL in text  # the code as written, not as escaped JSON
    assert "\\n" not in text.replace("'a,b\\n1,2\\n'", "")
    assert "line 38" in text and "line 59" not in text
    assert re.search(r"^… \d+ more lines, --full shows all$", text, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d \d+\.\d s run_python$", text, re.M), text
    assert "model:  openai:gpt-test" in text
    assert f"mounts: data={folder / 'data'}" in text
    assert "/workspace/report.csv  8 bytes" in text and "/workspace/.throwaway/images/" in text

    full = cli("show", run_id, "--full").stdout
    assert "line 59" in full and "more lines" not in full


def test_show_json_has_one_shape_of_tool_args_and_the_timings(cli, finished):
    view = json.loads(cli("show", finished[0], "--json").stdout)
    tools = [s for s in view["steps"] if s["kind"] == "tool"]
    assert [t["args"] for t in tools] == [{"code": CELL}, {"code": IMAGE_CELL}]
    calls = [c for s in view["steps"] if s["kind"] == "model" for c in s["tool_calls"]]
    assert [c["args"] for c in calls] == [{"code": CELL}, {"code": IMAGE_CELL}]
    assert all(isinstance(s["seconds"], float) and s["seconds"] >= 0 for s in view["steps"])
    assert view["seconds"] >= sum(s["seconds"] for s in view["steps"]) - 0.01
    assert view["params"]["model"] == "openai:gpt-test" and view["step_count"] == 5


def test_demo_runs_on_the_scripted_model_and_saves_its_chart(cli, tmp_path):
    result = cli("demo", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "running on the scripted model" in result.stderr
    assert (tmp_path / "forecast.png").read_bytes().startswith(b"\x89PNG")
    assert "throwaway show " in result.stderr
