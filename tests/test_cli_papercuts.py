"""Small things a new user trips over: limits, bad input, error numbers, tracebacks.

Each test goes through the real command (CliRunner, or a process where the MCP client
needs one) with a real sandbox and Postgres.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import TextContent
from test_agent_runs import write_script

from throwaway.cli import main

THROWAWAY = str(Path(sys.executable).with_name("throwaway"))
CODE_TURN = {"tool_calls": [{"name": "run_python", "args": {"code": "print(1)"}}]}


def invoke(*args: str, input: str | None = None, **env: str):
    return CliRunner().invoke(main, list(args), input=input, env=env)


# ---- the turn limit ------------------------------------------------------------------


def test_run_help_documents_the_turn_limit():
    r = invoke("run", "--help")
    assert "--max-turns" in r.output and "default: 40" in r.output


def test_a_run_past_max_turns_fails_once_saying_which_limit(tw, tmp_path):
    script = write_script(tmp_path, [CODE_TURN] * 3 + [{"text": "too late"}])
    r = tw.cli("run", "count", "--model", script, "--max-turns", "2", check=False)
    assert r.exit_code == 1
    assert "no final answer in 2 turns" in r.stderr and "--max-turns N" in r.stderr
    run_id = r.stderr.split()[1]  # "run ID" heads the output
    view = tw.show(run_id)
    assert view["status"] == "failed" and view["attempts"] == 1
    assert [s["step"] for s in view["steps"] if s["kind"] == "model"] == ["model", "model#2"]


def test_the_config_file_sets_max_turns_for_run(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[run]\nmax_turns = 0\n")
    r = invoke("run", "a task", THROWAWAY_CONFIG=str(config))
    assert r.exit_code == 1
    assert f"{config}: max_turns (the default of --max-turns for `throwaway run`)" in r.stderr
    config.write_text("max_turns = 7\n")
    shown = invoke("config", THROWAWAY_CONFIG=str(config)).output
    assert "max_turns = 7  # config file" in shown.split("[run]")[1]


# ---- bad input -----------------------------------------------------------------------


def test_a_missing_help_dir_is_refused(tmp_path):
    r = invoke("run", "a task", "--help-dir", str(tmp_path / "missing"))
    assert r.exit_code == 2
    assert "--help-dir" in r.stderr and "does not exist" in r.stderr


@pytest.mark.parametrize("task", ["", "  \n"], ids=["empty", "blank"])
def test_an_empty_task_is_refused(task):
    r = invoke("run", task)
    assert r.exit_code == 2
    assert "the task is empty" in r.stderr


def test_an_unknown_mount_mode_is_named_with_the_valid_ones(tmp_path):
    r = invoke("exec", "--mount", f"data={tmp_path}:rx", "-", input="print(1)")
    assert r.exit_code == 2
    assert "':rx' is not a mount mode" in r.stderr
    assert ":ro (read-only, the default)" in r.stderr and ":rw (writable)" in r.stderr


def test_a_folder_whose_name_ends_like_a_mode_is_still_a_folder(tmp_path):
    folder = tmp_path / "a:rx"
    folder.mkdir()
    (folder / "f.txt").write_text("here")
    r = invoke("exec", "--mount", f"data={folder}", "-", input="open('/mnt/data/f.txt').read()")
    assert r.exit_code == 0, r.output
    assert r.stdout == "'here'\n"


@pytest.mark.parametrize("url", ["notaurl", "http://example.org/db"])
def test_a_malformed_database_url_is_one_error_line_saying_what_to_set(url):
    r = invoke("runs", THROWAWAY_DATABASE_URL=url)
    assert r.exit_code == 1
    line, hint = r.stderr.splitlines()  # the error, and the hint every database error gets
    assert hint.startswith("hint: ")
    assert "$THROWAWAY_DATABASE_URL is not a Postgres URL" in line
    assert "postgresql://USER@HOST:5432/DBNAME" in line
    assert url not in line.split("(")[0]  # the URL (maybe a password) is not echoed first


def test_an_unreachable_database_is_one_error_line_naming_the_variable():
    r = invoke("runs", THROWAWAY_DATABASE_URL="postgresql://root@127.0.0.1:1/x")
    assert r.exit_code == 1
    line, hint = r.stderr.splitlines()
    assert hint.startswith("hint: ")
    assert "cannot connect to the database" in line and "Connection refused" in line
    assert line.endswith("check $THROWAWAY_DATABASE_URL")


# ---- errno numbers and names, as on Linux --------------------------------------------

ERRNOS = """\
import errno, os
for action in (lambda: open('/mnt/ro/new.txt', 'w'), lambda: open('/mnt/ro/nope.txt'),
               lambda: os.rmdir('/mnt/rw/full')):
    try:
        action()
    except OSError as e:
        print(type(e).__name__, errno.errorcode[e.errno])  # the code's own numbers
open('/mnt/ro/nope.txt')
"""


@pytest.fixture
def mounts(tmp_path) -> list[str]:
    """/mnt/ro, read-only and empty; /mnt/rw, writable, with the folder full/ holding a file."""
    (tmp_path / "ro").mkdir()
    (tmp_path / "rw" / "full").mkdir(parents=True)
    (tmp_path / "rw" / "full" / "f").write_text("x")
    return ["--mount", f"ro={tmp_path / 'ro'}", "--mount", f"rw={tmp_path / 'rw'}:rw"]


def test_oserrors_leave_the_sandbox_with_linux_numbers(mounts):
    r = invoke("exec", *mounts, "-", input=ERRNOS)
    assert r.exit_code == 1
    assert r.stdout.splitlines() == [
        "PermissionError EACCES", "FileNotFoundError ENOENT", "OSError ENOTEMPTY",
    ]  # fmt: skip
    assert r.stderr.splitlines()[-1] == (
        "FileNotFoundError: [Errno 2] No such file or directory: '/mnt/ro/nope.txt'"
    )


@pytest.mark.parametrize(
    ("code", "last_line"),
    [
        ("open('/mnt/ro/x', 'w')", "PermissionError: [Errno 13] Permission denied: '/mnt/ro/x'"),
        ("import os\nos.rmdir('/mnt/rw/full')", "OSError: [Errno 39] Directory not empty: "
         "'/mnt/rw/full'"),
        ("open('/workspace')", "IsADirectoryError: [Errno 21] Is a directory: '/workspace'"),
    ],
    ids=["EACCES", "ENOTEMPTY-from-the-host", "EISDIR"],
)  # fmt: skip
def test_each_error_has_its_linux_number_and_name(mounts, code, last_line):
    r = invoke("exec", *mounts, "-", input=code)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[-1] == last_line


def _text(result) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


async def test_mcp_file_tools_say_read_only_and_linux_numbers(tmp_path):
    params = StdioServerParameters(
        command=THROWAWAY, args=["mcp", "--mount", f"data={tmp_path}"], env=dict(os.environ)
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        refused = await session.call_tool("write_file", {"path": "/mnt/data/x", "content": "x"})
        missing = await session.call_tool("read_file", {"path": "nope.txt"})
        folder = await session.call_tool("read_file", {"path": "/mnt/data"})
    prefix = "Error executing tool {}: "  # the SDK's
    assert refused.is_error
    assert _text(refused) == prefix.format("write_file") + (
        "cannot write /mnt/data/x: /mnt/data is a read-only mount "
        "(mount it as data=SOURCE:rw to write there)"
    )
    assert missing.is_error
    assert _text(missing) == (
        prefix.format("read_file") + "[Errno 2] No such file or directory: '/workspace/nope.txt'"
    )
    assert _text(folder) == prefix.format("read_file") + "[Errno 21] Is a directory: '/mnt/data'"


# ---- tracebacks show the code ----------------------------------------------------------


async def test_tracebacks_show_the_lines_of_each_cell(fresh_sandbox):
    sandbox = await fresh_sandbox()
    await sandbox.run("def half(x):\n    return 1 / x\n")
    r = await sandbox.run("y = 2\nhalf(y - 2)")
    assert r.error.traceback == (
        "Traceback (most recent call last):\n"
        '  File "<cell 2>", line 2, in <module>\n'
        "    half(y - 2)\n"
        '  File "<cell 1>", line 2, in half\n'
        "    return 1 / x\n"
        "           ~~^~~\n"
        "ZeroDivisionError: division by zero\n"
    )


async def test_a_syntax_error_names_its_cell(fresh_sandbox):
    sandbox = await fresh_sandbox()
    r = await sandbox.run("x = (1,\n")
    assert r.error.type == "SyntaxError"
    assert r.error.traceback.startswith('  File "<cell 1>", line 1\n    x = (1,\n')


# ---- shell completion ------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_scripts_come_from_the_command(shell):
    env = {**os.environ, "_THROWAWAY_COMPLETE": f"{shell}_source"}
    proc = subprocess.run([THROWAWAY], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "_THROWAWAY_COMPLETE" in proc.stdout
