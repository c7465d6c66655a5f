"""`throwaway exec`: run a file or stdin in a fresh sandbox; the exit status says how it went."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from throwaway.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def exec_(*args: str, input: str | None = None):
    return CliRunner().invoke(main, ["exec", *args], input=input)


def test_stdout_and_last_expression_pass_through_with_status_0():
    r = exec_("-", input="print('hello')\n6 * 7\n")
    assert r.exit_code == 0, r.output
    assert r.stdout == "hello\n42\n"


def test_stderr_of_the_code_goes_to_stderr():
    r = exec_("-", input="import sys\nprint('to stderr', file=sys.stderr)\nprint('to stdout')")
    assert r.exit_code == 0, r.output
    assert r.stdout == "to stdout\n"
    assert "to stderr" in r.stderr


def test_python_error_exits_1_with_the_traceback_on_stderr():
    r = exec_("-", input="print('partial')\n1 / 0\n")
    assert r.exit_code == 1
    assert r.stdout == "partial\n"
    assert "ZeroDivisionError: division by zero" in r.stderr
    assert 'File "<cell 1>", line 2, in <module>\n    1 / 0' in r.stderr


def test_timeout_exits_124():
    r = exec_("--timeout", "1", "-", input="while True:\n    pass\n")
    assert r.exit_code == 124
    assert "time limit" in r.stderr


def test_sys_exit_code_passes_through():
    r = exec_("-", input="import sys\nprint('bye')\nsys.exit(3)\n")
    assert r.exit_code == 3
    assert r.stdout == "bye\n"


def test_sys_exit_0_is_success():
    r = exec_("-", input="import sys\nsys.exit(0)\n")
    assert r.exit_code == 0, r.output


def test_sys_exit_with_a_message_exits_1_and_prints_it():
    r = exec_("-", input="import sys\nsys.exit('giving up')\n")
    assert r.exit_code == 1
    assert "giving up" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--timeout", "0", "-"],
        ["--timeout", "-3", "-"],
        ["--memory", "64", "-"],
        ["--memory", "5000", "-"],
        ["--no-such-option", "-"],
        ["/nonexistent/script.py"],
        [],
    ],
    ids=["timeout-0", "timeout-negative", "memory-low", "memory-high", "unknown-option",
         "missing-file", "no-file"],
)  # fmt: skip
def test_bad_usage_exits_2(args):
    r = exec_(*args, input="print('never runs')\n")
    assert r.exit_code == 2
    assert "never runs" not in r.stdout


def test_reads_the_code_from_stdin_with_dash():
    r = exec_("-", input="import sys\nprint(sys.version_info[:2])\n")
    assert r.exit_code == 0, r.output
    assert r.stdout == "(3, 12)\n"


def test_runs_a_script_file(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("total = sum(range(5))\nprint('total', total)\n")
    r = exec_(str(script))
    assert r.exit_code == 0, r.output
    assert r.stdout == "total 10\n"


def test_images_are_saved_under_out_and_their_paths_reported(tmp_path):
    out = tmp_path / "images"
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3])\nplt.show()\n"
        "from PIL import Image\ndisplay(Image.new('RGB', (4, 4)))\n"
    )
    r = exec_("--out", str(out), "-", input=code)
    assert r.exit_code == 0, r.output
    saved = sorted(out.glob("*.png"))
    assert len(saved) == 2
    for path in saved:
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        assert str(path) in r.stderr
    assert r.stdout == ""


def test_no_image_folder_is_made_without_images(tmp_path):
    out = tmp_path / "images"
    r = exec_("--out", str(out), "-", input="print('no pictures')\n")
    assert r.exit_code == 0, r.output
    assert not out.exists()


#: A fresh interpreter runs `exec` of pandas code, then lists the heavy stacks it loaded.
EXEC_PANDAS = """
import sys
from click.testing import CliRunner
from throwaway.cli import main
code = "import pandas, sys\\n[m for m in ('matplotlib.pyplot', 'pandas') if m in sys.modules]"
print(CliRunner().invoke(main, ["exec", "-"], input=code).output.strip())
print(sorted({m.split(".")[0] for m in sys.modules} & {"mcp", "pydantic_ai", "psycopg"}))
"""


def test_exec_of_pandas_code_boots_with_pandas_imported_and_loads_no_agent_or_mcp_stack():
    run = [sys.executable, "-c", EXEC_PANDAS]
    out = subprocess.run(run, capture_output=True, text=True, env=os.environ, timeout=300)
    assert out.returncode == 0, out.stderr
    # matplotlib came along with pandas: the sandbox booted from the preload snapshot
    assert out.stdout.splitlines() == ["['matplotlib.pyplot', 'pandas']", "[]"]
