"""`throwaway exec` streams what the code prints, uncut; Ctrl-C keeps it; --json and --keep.

Streaming and Ctrl-C go through a real `throwaway exec` process; the rest through
CliRunner and the Sandbox API.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
from click.testing import CliRunner

from throwaway.cli import main

THROWAWAY = str(Path(sys.executable).parent / "throwaway")


def start_exec(folder: Path, *args: str, code: str, **popen) -> subprocess.Popen:
    script = folder / "code.py"
    script.write_text(code)
    return subprocess.Popen(
        [THROWAWAY, "exec", *args, str(script)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=os.environ, **popen,
    )  # fmt: skip


def test_the_first_line_is_out_while_the_code_still_runs(tmp_path):
    """The code waits for a file the test creates only once it has read the first line."""
    code = (
        "import os, time\nprint('first')\n"
        "while not os.path.exists('/mnt/ctl/go'):\n    time.sleep(0.02)\nprint('second')\n"
    )
    control = tmp_path / "ctl"
    control.mkdir()
    proc = start_exec(tmp_path, "--mount", f"ctl={control}", code=code)
    try:
        assert proc.stdout.readline() == "first\n"
        assert proc.poll() is None  # still waiting for "go"
        (control / "go").touch()
        rest, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert rest == "second\n"


def test_output_past_100_000_characters_is_written_whole(tmp_path):
    code = (
        "import sys\nfor i in range(30_000):\n    print(f'{i},{i * i}')\n"
        "_ = sys.stderr.write('e' * 150_000)\n"
    )
    out, err = tmp_path / "data.csv", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        done = subprocess.run([THROWAWAY, "exec", "-"], input=code, stdout=stdout,
                              stderr=stderr, text=True, env=os.environ, timeout=300)  # fmt: skip
        # as a shell's `exec gen.py > data.csv 2> err.txt`
    assert done.returncode == 0, err.read_text()
    assert out.read_text() == "".join(f"{i},{i * i}\n" for i in range(30_000))
    assert "e" * 150_000 in err.read_text()
    assert "cut" not in err.read_text()


def test_ctrl_c_stops_the_code_keeps_what_it_printed_and_exits_130(tmp_path):
    code = "print('working')\nwhile True:\n    pass\n"
    proc = start_exec(tmp_path, code=code, start_new_session=True)
    try:
        assert proc.stdout.readline() == "working\n"
        children = psutil.Process(proc.pid).children(recursive=True)  # Deno
        assert children
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
        rest, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert rest == ""
    assert "interrupted" in err
    assert "Traceback" not in err
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive  # the sandbox went with it


def test_json_gives_the_whole_result_as_one_object(tmp_path):
    code = (
        "import sys\nprint('x' * 120_000)\nprint('warn', file=sys.stderr)\n"
        "from PIL import Image\ndisplay(Image.new('RGB', (2, 2)))\n6 * 7\n"
    )
    r = CliRunner().invoke(main, ["exec", "--json", "--out", str(tmp_path), "-"], input=code)
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["stdout"] == "x" * 120_000 + "\n"
    assert got["stderr"] == "warn\n"
    assert got["value"] == "42"
    assert got["error"] is None
    assert got["exit_status"] == 0
    assert [Path(p).name for p in got["images"]] == ["image-1.png"]
    assert Path(got["images"][0]).read_bytes()[:4] == b"\x89PNG"
    assert got["duration_ms"] > 0


def test_json_reports_an_error_and_its_exit_status():
    r = CliRunner().invoke(main, ["exec", "--json", "-"], input="print('so far')\n1 / 0\n")
    assert r.exit_code == 1
    got = json.loads(r.stdout)
    assert got["stdout"] == "so far\n"
    assert got["error"]["type"] == "ZeroDivisionError"
    assert "line 2" in got["error"]["traceback"]
    assert got["exit_status"] == 1


def test_keep_copies_the_workspace_out(tmp_path):
    code = (
        "import os\nos.makedirs('sub', exist_ok=True)\nopen('sub/a.txt', 'w').write('A')\n"
        "open('b.bin', 'wb').write(bytes(range(256)))\n"
    )
    keep = tmp_path / "kept"
    r = CliRunner().invoke(main, ["exec", "--keep", str(keep), "-"], input=code)
    assert r.exit_code == 0, r.output
    assert (keep / "sub" / "a.txt").read_text() == "A"
    assert (keep / "b.bin").read_bytes() == bytes(range(256))
    assert f"in {keep}" in r.stderr


async def test_a_streamed_run_hands_over_output_in_order_and_keeps_none(sandbox):
    seen: list[tuple[str, str]] = []
    code = "import sys\nprint('a')\nprint('b', file=sys.stderr)\nprint('c', end='')\n"
    r = await sandbox.run(code, on_output=lambda stream, text: seen.append((stream, text)))
    assert seen == [("stdout", "a\n"), ("stderr", "b\n"), ("stdout", "c")]
    assert (r.stdout, r.stderr, r.error) == ("", "", None)
    plain = await sandbox.run("print('x' * 200_000)")  # the agent's path: cut as before
    assert len(plain.stdout) < 200_000 and "stdout" in plain.cut
