"""Durable agent runs end to end: the real `throwaway` CLI, worker processes, Postgres, sandboxes.

Nothing is mocked. Runs are started with `throwaway run` (foreground, or `--detach` for a
`throwaway worker` subprocess to take), workers are killed with SIGKILL to their whole process
group (the worker and its Deno sandbox), and a second worker finishes the run once the first
one's lease (5 s, the CLI's minimum) has expired. Workers and foreground runs are
`.venv/bin/throwaway` processes; the short commands (`run --detach`, `show`, `artifacts`) run
the same click commands in the test process, which saves seconds of imports per call. Models
are the scripted model (`scripted:FILE`) or tests/provider_server.py speaking OpenAI's wire
format (`openai:NAME` with OPENAI_BASE_URL pointing at it).

Counting executions: every code step appends "<step> start" and "<step> end" to
/mnt/out/markers.txt, a writable host folder, so a re-executed step shows up twice.

Isolation: the CLI always uses the default queue, so each test gets a fresh database on the
Postgres server (the ``database`` fixture of conftest.py), dropped afterwards. One
crash test runs on the embedded Postgres instead (THROWAWAY_DATABASE_URL unset,
THROWAWAY_DATA a temporary folder), stopped at the end.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from provider_server import (
    ProviderServer,
    Reply,
    openai_error,
    openai_text,
    openai_tool_calls,
)

from throwaway.agent.runner import run_view
from throwaway.cli import main
from throwaway.durable import Durable, RunRecord, start_embedded, stop_embedded

THROWAWAY = Path(sys.executable).with_name("throwaway")
LEASE = 5  # seconds; the smallest --lease-seconds the CLI takes
SESSION = secrets.token_hex(3)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RESUMED_NOTE = "[The run was resumed in a new interpreter"

pytestmark = pytest.mark.e2e  # CLI and worker subprocesses

# --- the code the model runs -------------------------------------------------------------

MARK = (
    "def mark(what):\n"
    "    with open('/mnt/out/markers.txt', 'a') as f:\n"
    "        f.write(what + '\\n')\n"
)


def code_step(name: str, body: str = "") -> str:
    """Code that marks its start, appends its name to /workspace/notes.txt, runs ``body``
    and marks its end."""
    return (
        f"{MARK}mark('{name} start')\n"
        f"with open('/workspace/notes.txt', 'a') as f:\n    f.write('{name}\\n')\n"
        f"{body}mark('{name} end')\n"
    )


HOLD = "import os, time\nwhile os.path.exists('/mnt/ctl/hold'):\n    time.sleep(0.05)\n"
SHOW_RED = "from PIL import Image\ndisplay(Image.new('RGB', (8, 8), 'red'))\n"
SHOW_BLUE = "from PIL import Image\ndisplay(Image.new('RGB', (8, 8), 'blue'))\n"
PRINT_NOTES = "print(open('/workspace/notes.txt').read())\n"

#: Three code steps: A shows an image, B writes then waits while /mnt/ctl/hold exists and
#: shows another image, C prints what A and B left in /workspace.
CRASH_SCRIPT = [
    {"tool_calls": [{"name": "run_python", "args": {"code": code_step("A", SHOW_RED)}}]},
    {"tool_calls": [{"name": "run_python", "args": {"code": code_step("B", HOLD + SHOW_BLUE)}}]},
    {"tool_calls": [{"name": "run_python", "args": {"code": code_step("C", PRINT_NOTES)}}]},
    {"text": "done: A, B and C ran"},
]
CRASH_TOOL_STEPS = {"A": "tool:call-0-0", "B": "tool:call-1-0", "C": "tool:call-2-0"}
CRASH_STEP_NAMES = [
    "model", "tool:call-0-0", "model#2", "tool:call-1-0", "model#3", "tool:call-2-0", "model#4",
]  # fmt: skip


# --- processes and databases ---------------------------------------------------------------


#: Variables that would point a throwaway process elsewhere; cleared unless a test sets them.
CLEARED = (
    "THROWAWAY_DATABASE_URL", "THROWAWAY_DATA", "THROWAWAY_MODEL", "OPENAI_API_KEY",
    "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
)  # fmt: skip


@dataclass
class Throwaway:
    """The `throwaway` commands of one test, all on one database (``settings``: its variables).

    Workers and foreground runs are `.venv/bin/throwaway` subprocesses. Short commands
    (`run --detach`, `show`, `artifacts`, `runs`) run the same click commands in this process
    (in a thread of their own, since they call asyncio.run): a process would spend seconds
    importing the model libraries.
    """

    settings: dict[str, str]
    url: str
    tmp: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        return {**env, **self.settings, **extra}

    def cli(self, *args: str, check: bool = True, **extra: str) -> Result:
        env = {**dict.fromkeys(CLEARED), **self.settings, **extra}
        with ThreadPoolExecutor(1) as pool:
            result = pool.submit(CliRunner().invoke, main, list(args), env=env).result()
        if check:
            assert result.exit_code == 0, f"throwaway {args}: {result.output}{result.exception!r}"
        return result

    def run_json(self, *args: str, **extra: str) -> dict:
        """`throwaway run ... --json` in the foreground, as a process: the finished run."""
        proc = subprocess.run(
            [str(THROWAWAY), "run", *args, "--json"], env=self.env(**extra), capture_output=True,
            text=True, timeout=120, cwd=self.tmp,
        )  # fmt: skip
        assert proc.stdout.strip(), f"no JSON from throwaway run: {proc.stderr}"
        return json.loads(proc.stdout)

    def start_run(self, task: str, model: str, *mounts: str, **extra: str) -> str:
        """`throwaway run --detach`: the id of the queued run."""
        args = ["run", task, "--model", model, "--detach"]
        for mount in mounts:
            args += ["--mount", mount]
        return self.cli(*args, **extra).stdout.strip().splitlines()[-1]

    def worker(self, name: str, concurrency: int = 1, **extra: str) -> subprocess.Popen:
        """A `throwaway worker` in its own process group, logging to TMP/NAME.log."""
        log = (self.tmp / f"{name}.log").open("w")
        args = ["worker", "--lease-seconds", str(LEASE), "--concurrency", str(concurrency)]
        proc = subprocess.Popen(
            [str(THROWAWAY), *args], env=self.env(**extra), stdout=log, stderr=log,
            start_new_session=True, cwd=self.tmp,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def artifacts(self, run_id: str) -> dict[str, bytes]:
        """`throwaway artifacts`: the run's final /workspace files, by relative path."""
        target = self.tmp / f"artifacts-{run_id}"
        shutil.rmtree(target, ignore_errors=True)
        self.cli("artifacts", run_id, str(target))
        if not target.exists():
            return {}
        return {
            str(p.relative_to(target)): p.read_bytes() for p in target.rglob("*") if p.is_file()
        }

    def show(self, run_id: str) -> dict:
        return json.loads(self.cli("show", run_id, "--json").stdout)

    def close(self) -> None:
        for proc in self.procs:
            kill_group(proc)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of ``proc`` (the worker and its sandbox) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def write_script(directory: Path, turns: list[dict], name: str = "script.json") -> str:
    path = directory / name
    path.write_text(json.dumps(turns))
    return f"scripted:{path}"


def markers(out: Path) -> list[str]:
    path = out / "markers.txt"
    return path.read_text().splitlines() if path.exists() else []


def folders(tmp: Path, name: str) -> tuple[Path, Path]:
    """A writable `out` folder and a read-only `ctl` folder for one run."""
    out, ctl = tmp / name / "out", tmp / name / "ctl"
    out.mkdir(parents=True)
    ctl.mkdir(parents=True)
    return out, ctl


async def poll(durable: Durable, run_id: str, until: Callable[[RunRecord], bool], timeout: float):
    deadline = time.monotonic() + timeout
    while not until(record := await durable.get_run(run_id)):
        assert time.monotonic() < deadline, f"gave up waiting: run is {record.status}"
        await asyncio.sleep(0.01)
    return record


# --- a provider that can hold a reply or always fail -----------------------------------------


class Provider(ProviderServer):
    """tests/provider_server.py's server with two additions: ``always[model]`` answers every
    request for that model the same way, and ``hold(n)`` keeps the n-th request (1-based)
    waiting, without an answer, until ``release()``."""

    def __init__(self) -> None:
        super().__init__()
        self.always: dict[str, Reply] = {}
        self._hold: set[int] = set()
        self._released = threading.Event()
        self._replies = _Replies(self)

    def hold(self, number: int) -> None:
        self._hold.add(number)

    def release(self) -> None:
        self._released.set()

    def __exit__(self, *exc: object) -> None:
        self.release()
        super().__exit__(*exc)

    def requests_to(self, path_end: str = "/chat/completions") -> list[dict]:
        return [r.json for r in self.requests if r.path.endswith(path_end)]

    @property
    def env(self) -> dict[str, str]:
        return {"OPENAI_BASE_URL": f"{self.url}/v1"}


class _Replies(list):
    """Stands in for ProviderServer's reply queue, which its handler pops (under the server's
    lock) right after recording the request: so ``pop`` knows which request it answers."""

    def __init__(self, server: Provider) -> None:
        super().__init__()
        self.server = server

    def __bool__(self) -> bool:
        return True

    def pop(self, index: int = -1) -> Reply | None:
        server = self.server
        if len(server.requests) in server._hold:
            server._released.wait(120)  # the client is gone by then: this answer goes nowhere
            return Reply(503, json.dumps(openai_error("held")).encode(), {})
        try:
            model = server.requests[-1].json.get("model")
        except ValueError:
            model = None
        if model in server.always:
            return server.always[model]
        return super().pop(0) if len(self) else None


def tool_messages(request: dict) -> dict[str, str]:
    """The tool results in an OpenAI chat request, by tool call id."""
    out = {}
    for message in request["messages"]:
        if message["role"] == "tool":
            content = message["content"]
            if isinstance(content, list):
                content = "".join(part.get("text", "") for part in content)
            out[message["tool_call_id"]] = content
    return out


# --- the uninterrupted run to compare with --------------------------------------------------


@dataclass
class Outcome:
    answer: str
    steps: list[str]
    files: dict[str, bytes]
    markers: list[str]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, databases) -> Outcome:
    """CRASH_SCRIPT run once without interruption (foreground `throwaway run`)."""
    tmp = tmp_path_factory.mktemp("reference")
    with databases() as url:
        cl = Throwaway({"THROWAWAY_DATABASE_URL": url}, url, tmp)
        out, ctl = folders(tmp, "ref")
        model = write_script(tmp, CRASH_SCRIPT)
        run = cl.run_json("crash script", "--model", model, "--mount", f"out={out}:rw",
                          "--mount", f"ctl={ctl}")  # fmt: skip
        assert run["status"] == "completed", run
        outcome = Outcome(run["answer"], [s["step"] for s in run["steps"]], cl.artifacts(run["id"]),
                          markers(out))  # fmt: skip
    assert outcome.steps == CRASH_STEP_NAMES
    assert outcome.markers == ["A start", "A end", "B start", "B end", "C start", "C end"]
    assert outcome.files["notes.txt"] == b"A\nB\nC\n"
    assert len([f for f in outcome.files if f.endswith(".png")]) == 2
    return outcome


# --- 1. a worker killed with SIGKILL ----------------------------------------------------------


KILL_POINTS: dict[str, Callable[[list[str], list[str]], bool]] = {
    # code step B has started (and waits for /mnt/ctl/hold to go away)
    "in-a-code-step": lambda steps, marks: "B start" in marks,
    # step A's result is stored: the worker is at the model step that follows (or just past it)
    "after-a-tool-step": lambda steps, marks: CRASH_TOOL_STEPS["A"] in steps,
    # the model's second turn is stored: the worker is between it and code step B
    "after-a-model-step": lambda steps, marks: "model#2" in steps,
}


async def crash_and_finish(tw: Throwaway, durable: Durable, kill_point: str, reference: Outcome):
    """Run CRASH_SCRIPT, SIGKILL its worker at ``kill_point``, let a second worker finish it,
    and check it against the uninterrupted run."""
    out, ctl = folders(tw.tmp, "crash")
    (ctl / "hold").touch()  # code step B waits while it exists
    model = write_script(tw.tmp, CRASH_SCRIPT)
    run_id = tw.start_run("crash script", model, f"out={out}:rw", f"ctl={ctl}")

    first = tw.worker("worker1")
    should_kill = KILL_POINTS[kill_point]
    deadline = time.monotonic() + 60
    while True:
        record = await durable.get_run(run_id)
        if should_kill([s.name for s in record.steps], markers(out)):
            break
        assert first.poll() is None, f"worker died by itself:\n{tw.log('worker1')}"
        assert time.monotonic() < deadline, f"never reached {kill_point}:\n{tw.log('worker1')}"
        await asyncio.sleep(0.005)
    kill_group(first)

    # What the dead worker left: its stored steps, and which code steps had begun.
    stored = [s.name for s in (await durable.get_run(run_id)).steps]
    begun = Counter(markers(out))
    assert (await durable.get_run(run_id)).status in ("running", "queued")

    (ctl / "hold").unlink()
    tw.worker("worker2")
    record = await durable.wait(run_id, timeout=90)
    assert record.status == "completed", f"{record.error}\n{tw.log('worker2')}"
    assert record.attempts == 2

    view = run_view(record)  # what `throwaway show --json` prints
    assert view["answer"] == reference.answer
    assert [s["step"] for s in view["steps"]] == reference.steps  # no step stored twice
    final = Counter(markers(out))
    for name, tool_step in CRASH_TOOL_STEPS.items():
        assert final[f"{name} end"] == 1, (name, final)
        if tool_step in stored:  # finished before the kill: never ran again
            assert final[f"{name} start"] == 1, (name, kill_point, final)
        else:  # ran once more, from the start, after the kill
            assert final[f"{name} start"] == begun[f"{name} start"] + 1, (name, kill_point, final)
    if kill_point == "in-a-code-step":
        assert CRASH_TOOL_STEPS["B"] not in stored
        [step_b] = [s for s in view["steps"] if s["step"] == CRASH_TOOL_STEPS["B"]]
        assert step_b["result"].startswith(RESUMED_NOTE)  # the model is told variables are gone

    files = tw.artifacts(run_id)
    assert files["notes.txt"] == reference.files["notes.txt"]  # B re-ran on A's snapshot
    assert summary(files) == summary(reference.files)


def summary(files: dict[str, bytes]) -> dict[str, str]:
    """Path -> size and sha256 prefix, for readable comparisons of workspace files."""
    return {
        p: f"{len(d)} bytes {hashlib.sha256(d).hexdigest()[:12]}" for p, d in sorted(files.items())
    }


@pytest.mark.parametrize("kill_point", list(KILL_POINTS))
async def test_a_run_whose_worker_is_killed_is_finished_by_another_without_redoing_steps(
    tw, durable, reference, kill_point
):
    await crash_and_finish(tw, durable, kill_point, reference)


async def test_the_crash_test_on_the_embedded_postgres(tmp_path, reference):
    data = Path(tempfile.mkdtemp(prefix="tw-agent-"))  # short: the server's socket lives here
    tw = Throwaway({"THROWAWAY_DATA": str(data)}, "", tmp_path)
    try:
        tw.cli("runs")  # starts the embedded server, detached from this CLI process
        tw.url = start_embedded(data)
        async with Durable(tw.url) as durable:
            await crash_and_finish(tw, durable, "in-a-code-step", reference)
    finally:
        tw.close()
        stop_embedded(data)
        shutil.rmtree(data, ignore_errors=True)


async def test_a_worker_killed_while_the_model_request_is_in_flight(tw, durable, tmp_path):
    out, _ = folders(tmp_path, "run")
    replies = [
        openai_tool_calls(("c1", "run_python", {"code": code_step("A", SHOW_RED)})),
        openai_tool_calls(("c2", "run_python", {"code": code_step("C", PRINT_NOTES)})),
        openai_text("finished"),
    ]
    with Provider() as ref_server:
        for body in replies:
            ref_server.reply(200, body)
        ref_out, _ = folders(tmp_path, "ref")
        ref = tw.run_json("in flight", "--model", "openai:gpt-test", "--mount",
                          f"out={ref_out}:rw", **ref_server.env)  # fmt: skip
    assert ref["status"] == "completed", ref
    assert markers(ref_out) == ["A start", "A end", "C start", "C end"]

    with Provider() as server:
        server.hold(2)  # the model's second turn gets no answer
        for body in replies:
            server.reply(200, body)
        run_id = tw.start_run("in flight", "openai:gpt-test", f"out={out}:rw", **server.env)
        first = tw.worker("worker1", **server.env)
        deadline = time.monotonic() + 60
        while len(server.requests) < 2:
            assert first.poll() is None, tw.log("worker1")
            assert time.monotonic() < deadline, tw.log("worker1")
            await asyncio.sleep(0.01)
        kill_group(first)
        assert [s.name for s in (await durable.get_run(run_id)).steps] == ["model", "tool:c1"]
        server.release()

        tw.worker("worker2", **server.env)
        record = await durable.wait(run_id, timeout=90)
        assert record.status == "completed", f"{record.error}\n{tw.log('worker2')}"
        requests = server.requests_to()

    assert [s.name for s in record.steps] == [s["step"] for s in ref["steps"]]
    assert record.result["answer"] == ref["answer"] == "finished"
    assert markers(out) == ["A start", "A end", "C start", "C end"]  # A did not run again
    # one request for each model step, plus the one that was in flight when the worker died,
    # asked again with the same conversation rebuilt from the journal
    assert len(requests) == 4
    assert requests[2]["messages"] == requests[1]["messages"]
    assert tool_messages(requests[3])["c2"].startswith(RESUMED_NOTE)
    assert summary(tw.artifacts(run_id)) == summary(tw.artifacts(ref["id"]))


# --- 2. two workers racing -----------------------------------------------------------------


async def test_two_workers_racing_finish_each_run_exactly_once(tw, durable, tmp_path):
    script = write_script(tmp_path, [
        {"tool_calls": [{"name": "run_python", "args": {"code": code_step("A")}}]},
        {"tool_calls": [{"name": "run_python", "args": {"code": code_step("B", PRINT_NOTES)}}]},
        {"text": "raced"},
    ])  # fmt: skip
    outs = [folders(tmp_path, f"run{i}")[0] for i in range(5)]
    ids = [tw.start_run(f"race {i}", script, f"out={out}:rw") for i, out in enumerate(outs)]
    tw.worker("worker1")
    tw.worker("worker2")
    records = [await durable.wait(run_id, timeout=120) for run_id in ids]

    for record, out in zip(records, outs, strict=True):
        assert record.status == "completed", record.error
        assert record.attempts == 1
        assert record.result["answer"] == "raced"
        assert [s.name for s in record.steps] == [
            "model", "tool:call-0-0", "model#2", "tool:call-1-0", "model#3",
        ]  # fmt: skip
        assert markers(out) == ["A start", "A end", "B start", "B end"]


# --- 3. provider errors --------------------------------------------------------------------


async def test_a_rate_limited_request_is_retried_and_the_run_completes(tw):
    with Provider() as server:
        server.reply(429, openai_error("slow down", "rate_limit_exceeded"), {"retry-after": "1"})
        server.reply(200, openai_text("after the rate limit"))
        run = tw.run_json("rate limited", "--model", "openai:gpt-test", **server.env)
        requests = server.requests_to()
    assert run["status"] == "completed", run
    assert run["answer"] == "after the rate limit"
    assert len(requests) == 2 and requests[0] == requests[1]
    assert [s["step"] for s in run["steps"]] == ["model"]


async def test_a_provider_that_keeps_failing_fails_the_run_and_the_worker_goes_on(
    tw, durable, tmp_path
):
    with Provider() as server:
        server.always["always-500"] = Reply(500, json.dumps(openai_error("boom")).encode(), {})
        server.always["always-garbage"] = Reply(200, b'{"id": "chatcmpl-1", "choices": [', {})
        worker = tw.worker("worker", concurrency=3, **server.env)
        server_error = tw.start_run("t", "openai:always-500", **server.env)
        malformed = tw.start_run("t", "openai:always-garbage", **server.env)

        # Wait until each run has ended or its first attempt has given up.
        ended = {}
        for run_id in (server_error, malformed):
            ended[run_id] = await poll(
                durable, run_id, lambda r: r.done or r.attempts > 1, timeout=120
            )
        assert worker.poll() is None, tw.log("worker")  # not a crashed worker

        # The same worker takes the next run.
        script = write_script(tmp_path, [{"text": "next run done"}])
        following = tw.start_run("next", script)
        record = await durable.wait(following, timeout=60)
        assert record.status == "completed" and record.result["answer"] == "next run done"
        assert worker.poll() is None

        requests = {m: len([r for r in server.requests_to() if r["model"] == m])
                    for m in ("always-500", "always-garbage")}  # fmt: skip

    # A run that cannot go on ends `failed` with the reason, once the model layer's retries
    # are spent, instead of being executed again from the start by the durable layer.
    for run_id, word in ((server_error, "500"), (malformed, "malformed")):
        record = ended[run_id]
        facts = (record.status, record.attempts, record.error, requests)
        assert record.status == "failed", facts
        assert record.attempts == 1, facts
        assert word in (record.error or "").lower(), facts


async def test_bad_tool_calls_are_reported_to_the_model_and_the_run_completes(tw):
    bad = openai_tool_calls(
        ("c1", "no_such_tool", {"x": 1}),
        ("c2", "run_python", {"source": "print(1)"}),
        ("c3", "run_python", {"code": "placeholder"}),
    )
    bad["choices"][0]["message"]["tool_calls"][2]["function"]["arguments"] = '{"code": "pri'
    with Provider() as server:
        server.reply(200, bad)
        server.reply(200, openai_tool_calls(("c4", "run_python", {"code": "print(6 * 7)"})))
        server.reply(200, openai_text("recovered"))
        run = tw.run_json("bad calls", "--model", "openai:gpt-test", **server.env)
        requests = server.requests_to()

    assert run["status"] == "completed", run
    assert run["answer"] == "recovered"
    results = tool_messages(requests[1])
    assert set(results) == {"c1", "c2", "c3"}
    assert "no_such_tool" in results["c1"] and "run_python" in results["c1"]
    assert "'code'" in results["c2"]
    assert results["c3"]  # the reason the arguments could not be read
    assert tool_messages(requests[2])["c4"] == "stdout:\n42"
    tools = {s["step"]: s for s in run["steps"] if s["kind"] == "tool"}
    assert [tools[f"tool:c{i}"]["ok"] for i in (1, 2, 3, 4)] == [False, False, False, True]


# --- 4. describe through a real provider -----------------------------------------------------

PLOT = (
    "import matplotlib.pyplot as plt\n"
    "plt.plot([1, 2, 3], [1, 4, 9])\n"
    "plt.title('squares')\n"
    "plt.show()\n"
)
IMAGE = "/workspace/.throwaway/images/c1-1.png"  # named after the tool call


async def test_describe_sends_the_chart_to_the_provider_as_an_image(tw):
    question = "What does this chart show?"
    with Provider() as server:
        server.reply(200, openai_tool_calls(("c1", "run_python", {"code": PLOT})))
        server.reply(200, openai_tool_calls(("c2", "describe",
                                             {"path": IMAGE, "question": question})))  # fmt: skip
        server.reply(200, openai_text("A rising curve titled squares."))  # the describe call
        server.reply(200, openai_text("The chart shows squares."))
        run = tw.run_json("plot and look", "--model", "openai:gpt-test", **server.env)
        requests = server.requests_to()

    assert run["status"] == "completed", run
    assert run["answer"] == "The chart shows squares."
    assert len(requests) == 4
    assert IMAGE in tool_messages(requests[1])["c1"]  # where the model was told the image is

    describe = requests[2]
    [user] = [m for m in describe["messages"] if m["role"] == "user"]
    texts = [p["text"] for p in user["content"] if p["type"] == "text"]
    images = [p["image_url"]["url"] for p in user["content"] if p["type"] == "image_url"]
    assert any(question in text for text in texts)
    assert len(images) == 1
    prefix = "data:image/png;base64,"
    assert images[0].startswith(prefix)
    png = base64.b64decode(images[0].removeprefix(prefix))
    assert png.startswith(PNG_SIGNATURE)
    assert png == tw.artifacts(run["id"])[IMAGE.removeprefix("/workspace/")]

    assert tool_messages(requests[3])["c2"] == "A rising curve titled squares."
    [step] = [s for s in run["steps"] if s.get("step") == "tool:c2"]
    assert step["name"] == "describe" and step["result"] == "A rising curve titled squares."


# --- 5. show --json ------------------------------------------------------------------------


async def test_show_json_has_the_run_and_its_steps(tw, tmp_path):
    script = write_script(tmp_path, [
        {"text": "Let me try.", "tool_calls": [
            {"name": "no_such_tool", "args": {"x": 1}},
            {"name": "run_python", "args": "not json"},
        ]},
        {"tool_calls": [{"name": "run_python", "args": {"code": "print(6 * 7)"}}]},
        {"text": "It is 42."},
    ])  # fmt: skip
    run_id = tw.start_run("what is six times seven?", script)
    tw.worker("worker")
    async with Durable(tw.url) as durable:
        assert (await durable.wait(run_id, timeout=60)).status == "completed"

    view = tw.show(run_id)
    assert view["id"] == run_id
    assert view["task"] == "what is six times seven?"
    assert view["status"] == "completed"
    assert view["answer"] == "It is 42."
    steps = view["steps"]
    assert [s["kind"] for s in steps] == ["model", "tool", "tool", "model", "tool", "model"]
    unknown, bad_args, good = (s for s in steps if s["kind"] == "tool")
    assert (unknown["name"], unknown["args"], unknown["ok"]) == ("no_such_tool", {"x": 1}, False)
    assert "no_such_tool" in unknown["result"]
    assert (bad_args["name"], bad_args["ok"]) == ("run_python", False)
    assert bad_args["args"] == {"INVALID_JSON": "not json"}  # always a dict
    assert bad_args["result"]
    assert good["name"] == "run_python" and good["args"] == {"code": "print(6 * 7)"}
    assert good["ok"] is True and good["result"] == "stdout:\n42"
    assert steps[0]["text"] == "Let me try."
    assert [c["name"] for c in steps[0]["tool_calls"]] == ["no_such_tool", "run_python"]
