"""A durable run whose code calls an MCP tool in a loop, killed mid-loop and resumed by
another worker: every call that completed before the kill is not made again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THROWAWAY = str(Path(sys.executable).parent / "throwaway")

pytestmark = pytest.mark.e2e  # CLI and worker subprocesses

# A call returns to the code once its result is journaled: /mnt/out/returned counts those.
LOOP = """
import time
from tools import counter
for i in range(5):
    counter.record(label=f"call-{i}")
    open("/mnt/out/returned", "a").write(f"call-{i}\\n")
    time.sleep(1.5)
print("done")
"""


def start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [THROWAWAY, "worker", "--lease-seconds", "5"], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def wait_for(predicate, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def test_a_resumed_run_does_not_repeat_completed_mcp_calls(database, tmp_path):
    counter = tmp_path / "calls.txt"
    counter.touch()
    out = tmp_path / "out"
    out.mkdir()
    returned = out / "returned"
    script = tmp_path / "turns.json"
    script.write_text(json.dumps([
        {"tool_calls": [{"name": "run_python", "args": {"code": LOOP}}]},
        {"text": "finished"},
    ]))  # fmt: skip
    env = {**os.environ, "THROWAWAY_DATABASE_URL": database}
    server = f"counter=/usr/bin/env COUNTER_FILE={counter} {sys.executable} tests/mcp_counter.py"
    run_id = subprocess.run(
        [THROWAWAY, "run", "count", "--model", f"scripted:{script}", "--mcp", server,
         "--mount", f"out={out}:rw", "--detach"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip

    first = start_worker(env)
    wait_for(lambda: returned.exists() and len(returned.read_text().split()) >= 2, 90)
    # killed inside time.sleep: every call made so far is journaled
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    before = counter.read_text().split()

    second = start_worker(env)
    try:
        show = lambda: json.loads(subprocess.run(  # noqa: E731
            [THROWAWAY, "show", run_id, "--json"], env=env, cwd=ROOT,
            capture_output=True, text=True, check=True).stdout)  # fmt: skip
        wait_for(lambda: show()["status"] in ("completed", "failed"), 120)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait()

    view = show()
    assert view["status"] == "completed", view.get("error")
    assert view["answer"] == "finished"
    calls = counter.read_text().split()
    assert calls == [f"call-{i}" for i in range(5)]  # each made once, in order
    assert 2 <= len(before) < 5  # the kill really came in the middle
    from_code = [s for s in view["steps"] if s.get("from_code")]
    assert [s["args"]["label"] for s in from_code] == [f"call-{i}" for i in range(5)]
