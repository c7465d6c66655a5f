"""Controlling runs from the command line: Ctrl-C, cancel, resume, and a foreground run that
keeps to its own run. Real `throwaway` processes, real Postgres, real sandboxes; the model is
the scripted one. Helpers (databases, processes) come from test_agent_runs.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_agent_runs import THROWAWAY, Throwaway, kill_group, write_script

from throwaway.agent.runner import RunSpec

#: Code that marks /mnt/out/started, then waits while /mnt/ctl/hold exists.
WAIT = (
    "import os, time\nopen('/mnt/out/started', 'w').close()\n"
    "while os.path.exists('/mnt/ctl/hold'):\n    time.sleep(0.05)\nprint('released')\n"
)
WAIT_SCRIPT = [
    {"tool_calls": [{"name": "run_python", "args": {"code": WAIT}}]},
    {"text": "waited"},
]
QUICK_SCRIPT = [
    {"tool_calls": [{"name": "run_python", "args": {"code": "print(6 * 7)"}}]},
    {"text": "42"},
]


@pytest.fixture
def held(tmp_path) -> tuple[Path, Path, list[str]]:
    """A writable out folder, a ctl folder holding `hold`, and the --mount options for both."""
    out, ctl = tmp_path / "out", tmp_path / "ctl"
    out.mkdir()
    ctl.mkdir()
    (ctl / "hold").touch()
    return out, ctl, ["--mount", f"out={out}:rw", "--mount", f"ctl={ctl}"]


def foreground(tw: Throwaway, *args: str) -> subprocess.Popen:
    """`throwaway run ...` as a process in its own process group (as a shell starts it)."""
    err = (tw.tmp / "run.log").open("w")
    proc = subprocess.Popen(
        [str(THROWAWAY), "run", *args], env=tw.env(), cwd=tw.tmp, stdout=subprocess.PIPE,
        stderr=err, text=True, start_new_session=True,
    )  # fmt: skip
    tw.procs.append(proc)
    return proc


def until_exists(path: Path, proc: subprocess.Popen, tw: Throwaway, name: str = "run") -> None:
    deadline = time.monotonic() + 90
    while not path.exists():
        assert proc.poll() is None, f"exited early:\n{tw.log(name)}"
        assert time.monotonic() < deadline, f"{path} never appeared:\n{tw.log(name)}"
        time.sleep(0.02)


def only_run_id(tw: Throwaway) -> str:
    [record] = json.loads(tw.cli("runs", "--json").stdout)
    return record["id"]


async def test_ctrl_c_stops_the_code_cancels_the_run_and_says_how_to_resume(tw, durable, held):
    out, ctl, mounts = held
    proc = foreground(tw, "wait", "--model", write_script(tw.tmp, WAIT_SCRIPT), *mounts)
    until_exists(out / "started", proc, tw)

    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    code = proc.wait(30)
    elapsed = time.monotonic() - sent

    assert code == 130
    assert elapsed < 3, f"took {elapsed:.1f} s to stop"
    run_id = only_run_id(tw)
    record = await durable.get_run(run_id)
    assert record.status == "cancelled"
    assert "tool:call-0-0" not in [s.name for s in record.steps]  # the code step never ended
    err = tw.log("run")
    assert f"interrupted (Ctrl-C): run {run_id} is cancelled" in err
    assert f"throwaway resume {run_id}" in err

    (ctl / "hold").unlink()
    resumed = tw.cli("resume", run_id, "--json")
    assert json.loads(resumed.stdout)["answer"] == "waited"


async def test_a_foreground_run_leaves_an_older_queued_run_to_the_workers(tw, durable):
    older = tw.start_run("someone else's", write_script(tw.tmp, WAIT_SCRIPT, "wait.json"))
    mine = tw.run_json("six times seven", "--model", write_script(tw.tmp, QUICK_SCRIPT))
    assert mine["status"] == "completed" and mine["answer"] == "42"
    record = await durable.get_run(older)
    assert record.status == "queued" and record.steps == []


async def test_cancel_of_a_running_run_stops_it_at_its_next_step(tw, durable, held):
    out, _, mounts = held
    proc = foreground(tw, "wait", "--model", write_script(tw.tmp, WAIT_SCRIPT), *mounts)
    until_exists(out / "started", proc, tw)
    run_id = only_run_id(tw)

    said = tw.cli("cancel", run_id).stdout
    assert said.startswith(f"cancel requested: the worker running {run_id} stops it")
    assert proc.wait(30) == 1
    record = await durable.get_run(run_id)
    assert record.status == "cancelled"
    assert "tool:call-0-0" not in [s.name for s in record.steps]
    assert f"run {run_id} is cancelled; `throwaway resume {run_id}`" in tw.log("run")


def test_cancel_says_what_it_did_and_refuses_a_finished_run(tw):
    queued = tw.start_run("never", write_script(tw.tmp, QUICK_SCRIPT))
    assert tw.cli("cancel", queued).stdout == f"cancelled {queued}: it will not start\n"
    assert tw.cli("cancel", queued).stdout == f"run {queued} was already cancelled\n"

    done = tw.run_json("six times seven", "--model", write_script(tw.tmp, QUICK_SCRIPT, "q.json"))
    refused = tw.cli("cancel", done["id"], check=False)
    assert refused.exit_code == 1
    assert f"run {done['id']} has already completed" in refused.stderr
    assert "nothing was changed" in refused.stderr
    assert tw.show(done["id"])["status"] == "completed"


async def test_resume_of_a_run_whose_worker_died_says_when_it_is_taken_over(tw, durable, held):
    out, _, mounts = held
    run_id = tw.start_run("wait", write_script(tw.tmp, WAIT_SCRIPT), *mounts[1::2])
    worker = tw.worker("worker")
    until_exists(out / "started", worker, tw, "worker")
    kill_group(worker)

    refused = tw.cli("resume", run_id, check=False)
    assert refused.exit_code == 1
    message = refused.stderr
    assert f"run {run_id} is running on worker" in message or "went silent" in message
    assert "takes the run over then" in message or "takes it over" in message
    assert (await durable.get_run(run_id)).status in ("running", "queued")


async def test_a_script_that_runs_out_of_turns_fails_the_run_once(tw, durable):
    script = write_script(tw.tmp, QUICK_SCRIPT[:1])
    proc = subprocess.run(
        [str(THROWAWAY), "run", "no final answer", "--model", script], env=tw.env(), cwd=tw.tmp,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "has 1 turns and the run asked for turn 2" in proc.stderr
    record = await durable.get_run(only_run_id(tw))
    assert record.status == "failed" and record.attempts == 1


DEAD_AT_START = "import sys\nprint('no token in $TOKEN', file=sys.stderr)\nsys.exit(3)\n"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--mcp", "x=http://127.0.0.1:9/mcp"],
         "Error: MCP server 'x' (http://127.0.0.1:9/mcp) failed to start: ConnectError: "
         "All connection attempts failed\n"),
        (["--mcp", "dead={python} {script}"], "its stderr ended with:\n  no token in $TOKEN\n"),
        (["--tool-policy", "ctr.delete_everythin=deny"],
         "Error: --tool-policy: 'ctr.delete_everythin': no MCP server 'ctr' in this run"),
    ],
    ids=["unreachable", "dies-at-start", "policy-without-servers"],
)  # fmt: skip
def test_run_checks_its_mcp_servers_and_policy_before_queuing(tw, options, message):
    script = tw.tmp / "dead.py"
    script.write_text(DEAD_AT_START)
    options = [o.format(python=sys.executable, script=script) for o in options]
    model = write_script(tw.tmp, QUICK_SCRIPT)
    result = tw.cli("run", "t", "--model", model, "--detach", *options, check=False)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output and "TaskGroup" not in result.output
    assert json.loads(tw.cli("runs", "--json").stdout) == []


async def test_a_run_whose_mcp_server_cannot_start_fails_once_with_the_reason(tw, durable):
    spec = RunSpec("t", write_script(tw.tmp, QUICK_SCRIPT), mcp=["x=http://127.0.0.1:9/mcp"])
    run_id = await durable.start_run(spec.task, spec.params())  # queued without the CLI's check
    tw.worker("worker")
    record = await durable.wait(run_id, timeout=90)
    assert record.status == "failed" and record.attempts == 1
    assert record.error == (
        "RunFailed: MCP server 'x' (http://127.0.0.1:9/mcp) failed to start: "
        "ConnectError: All connection attempts failed"
    )
