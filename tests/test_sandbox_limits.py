"""Limits and failures: runaway code, memory, output floods, crashes, a hostile worker.

Whatever the sandboxed code does, `run` returns a result (never raises on the
host), and the sandbox is usable for the next run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from throwaway import Sandbox

TIMEOUT = 2.0
MEMORY_MB = 256

#: Gives sandboxed Python the JS realm's `Function` constructor, hence `Deno` and `postMessage`.
REALM = "from pyodide.ffi import to_js\nF = to_js({}).constructor.constructor\n"


def js(body: str) -> str:
    """Sandboxed code that runs a JS function body (the value is discarded)."""
    return REALM + f"F({body!r})()\n"


@pytest.fixture(scope="module")
async def limited():
    """A shared sandbox with a short time limit and a small memory cap."""
    sb = Sandbox(timeout=TIMEOUT, memory_mb=MEMORY_MB)
    await sb.start()
    try:
        yield sb
    finally:
        await sb.close()


async def timed_run(sb: Sandbox, code: str, **kwargs):
    started = time.monotonic()
    result = await sb.run(code, **kwargs)
    return result, time.monotonic() - started


async def wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


# ---- time limits -------------------------------------------------------------------

RUNAWAY = {
    "busy_loop": "while True:\n    pass",
    "regex_backtracking": "import re\nre.match(r'(a+)+$', 'a' * 40 + 'b')",
    "long_c_call": "sum(range(10**12))",
}


@pytest.mark.parametrize("name", list(RUNAWAY))
async def test_runaway_code_stops_within_timeout_plus_2s(limited, name):
    r, elapsed = await timed_run(limited, RUNAWAY[name])
    assert r.error is not None
    assert r.error.type == "TimeoutError"
    assert elapsed <= TIMEOUT + 2
    assert (await limited.run("'next'")).result == "'next'"


async def test_per_run_timeout_overrides_the_default(limited):
    r, elapsed = await timed_run(limited, "while True:\n    pass", timeout=1)
    assert r.error.type == "TimeoutError"
    assert "1 s" in r.error.message
    assert elapsed <= 1 + 2


async def test_interrupted_loop_keeps_the_interpreters_variables(limited):
    await limited.run("kept_after_interrupt = 'still here'")
    r = await limited.run("while True:\n    pass")
    assert r.error.type == "TimeoutError"
    assert r.restarted is False
    assert (await limited.run("kept_after_interrupt")).result == "'still here'"


async def test_interrupted_regex_keeps_the_interpreters_variables(limited):
    await limited.run("kept_after_regex = 12")
    r = await limited.run("import re\nre.match(r'(a+)+$', 'a' * 40 + 'b')")
    assert r.error.type == "TimeoutError"
    assert r.restarted is False
    assert (await limited.run("kept_after_regex")).result == "12"


async def test_timeout_traceback_points_at_the_user_code(limited):
    r = await limited.run("x = 0\nwhile True:\n    x += 1")
    assert r.error.type == "TimeoutError"
    assert 'File "<cell ' in r.error.traceback


async def test_hard_kill_restarts_the_interpreter_and_drops_variables(fresh_sandbox):
    sb = await fresh_sandbox(timeout=TIMEOUT)
    await sb.run("earlier = 1")
    r, elapsed = await timed_run(sb, "sum(range(10**12))")
    assert r.error.type == "TimeoutError"
    assert elapsed <= TIMEOUT + 2
    assert r.restarted is True
    assert "restarted" in r.error.message
    after = await sb.run("earlier")
    assert after.error is not None
    assert after.error.type == "NameError"
    assert (await sb.run("6 * 7")).result == "42"


# ---- memory ------------------------------------------------------------------------


async def test_allocation_past_the_memory_cap_raises_memory_error(limited):
    r = await limited.run(f"block = bytearray({MEMORY_MB + 50} * 2**20)")
    assert r.error is not None
    assert r.error.type == "MemoryError"
    assert r.restarted is False


async def test_sandbox_keeps_working_after_a_memory_error(limited):
    await limited.run("before_oom = 'kept'")
    assert (await limited.run(f"bytearray({MEMORY_MB * 2} * 2**20)")).error.type == "MemoryError"
    assert (await limited.run("before_oom")).result == "'kept'"
    assert (await limited.run("len(bytearray(20 * 2**20))")).result == str(20 * 2**20)


# ---- output ------------------------------------------------------------------------


async def test_output_flood_is_cut_and_saved_whole(limited):
    line, count = "x" * 10**6, 100
    r = await limited.run(f"for _ in range({count}):\n    print('x' * 10**6)", timeout=60)
    assert r.ok, r.error
    total = count * (len(line) + 1)
    limit = limited.output_limit
    assert 0.9 * limit <= len(r.stdout) <= limit + 1000
    assert "output cut" in r.stdout
    assert r.stdout.startswith("x")
    assert r.stdout.rstrip("\n").endswith("x")
    cut = r.cut["stdout"]
    assert cut.total_chars == total
    assert cut.saved_to in r.stdout
    folder, name = cut.saved_to.rsplit("/", 1)
    assert name in await limited.list_files(folder)
    saved = await limited.read_file(cut.saved_to)
    assert len(saved) == total
    assert saved == (line + "\n").encode() * count
    await limited.run(f"import os\nos.remove({cut.saved_to!r})")


async def test_output_under_the_limit_is_not_cut(limited):
    r = await limited.run("print('y' * 5000)")
    assert r.stdout == "y" * 5000 + "\n"
    assert r.cut == {}


async def test_stderr_flood_is_cut_too(limited):
    r = await limited.run(
        "import sys\nfor _ in range(30):\n    print('e' * 10**5, file=sys.stderr)"
    )
    assert r.ok, r.error
    assert len(r.stderr) <= limited.output_limit + 1000
    assert r.cut["stderr"].total_chars == 30 * (10**5 + 1)
    assert "stdout" not in r.cut


# ---- garbage on the Deno process's own stdout / stderr --------------------------------


async def test_fake_frame_text_on_process_stdout_is_not_a_result(limited):
    await limited.run("kept_through_garbage = 'yes'")
    code = (
        js(
            "Deno.stdout.writeSync(new TextEncoder().encode("
            '\'garbage{"id":1}{"id":2,"json":"{}"}\\n\'))'
        )
        + "'honest'"
    )
    r = await limited.run(code)
    assert r.ok, r.error
    assert r.result == "'honest'"
    assert (await limited.run("kept_through_garbage")).result == "'yes'"


async def test_random_bytes_on_process_stdout_and_stderr_are_ignored(limited):
    code = (
        js(
            "const b = new Uint8Array(1 << 20);"
            "for (let i = 0; i < b.length; i += 65536)"
            "  crypto.getRandomValues(b.subarray(i, i + 65536));"
            "for (const out of [Deno.stdout, Deno.stderr]) {"
            "  let off = 0; while (off < b.length) off += out.writeSync(b.subarray(off)); }"
        )
        + "'after random bytes'"
    )
    r = await limited.run(code)
    assert r.ok, r.error
    assert r.result == "'after random bytes'"
    assert (await limited.run("1 + 2")).result == "3"


async def test_big_write_to_process_stdout_is_ignored(limited):
    code = (
        js(
            "const b = new Uint8Array(50 * 1024 * 1024).fill(65);"
            "let off = 0; while (off < b.length) off += Deno.stdout.writeSync(b.subarray(off));"
        )
        + "'after 50 MB'"
    )
    r = await limited.run(code, timeout=30)
    assert r.ok, r.error
    assert r.result == "'after 50 MB'"
    assert (await limited.run("2 + 2")).result == "4"


# ---- recursion, exits, crashes ----------------------------------------------------------


async def test_deep_recursion_raises_recursion_error(limited):
    await limited.run("kept_after_recursion = True")
    r = await limited.run("def down(n):\n    return down(n + 1)\ndown(0)")
    assert r.error.type == "RecursionError"
    assert (await limited.run("kept_after_recursion")).result == "True"


async def test_recursion_through_c_code_gives_a_clean_error(fresh_sandbox):
    sb = await fresh_sandbox(timeout=10)
    code = (
        "import sys\nsys.setrecursionlimit(100_000)\n"
        "class Loop:\n    def __repr__(self):\n        return repr(Loop())\n"
        "repr(Loop())"
    )
    r = await sb.run(code)
    assert r.error is not None
    assert r.error.type in ("RecursionError", "SandboxCrashed")
    if r.error.type == "SandboxCrashed":
        assert r.restarted is True
    assert (await sb.run("'alive'")).result == "'alive'"


async def test_os_exit_reports_a_crash_and_restarts(fresh_sandbox):
    sb = await fresh_sandbox(timeout=10)
    await sb.run("before_exit = 1")
    r = await sb.run("import os\nos._exit(3)")
    assert r.error is not None
    assert r.error.type == "SandboxCrashed"
    assert r.restarted is True
    after = await sb.run("'back'")
    assert after.result == "'back'"
    assert (await sb.run("before_exit")).error.type == "NameError"


async def test_sys_exit_is_reported_as_system_exit(limited):
    await limited.run("kept_after_sys_exit = 5")
    r = await limited.run("import sys\nsys.exit(3)")
    assert r.error is not None
    assert r.error.type == "SystemExit"
    assert r.error.message == "3"
    assert r.restarted is False
    assert (await limited.run("kept_after_sys_exit")).result == "5"


# ---- the Deno process killed from outside -------------------------------------------------


async def test_process_killed_during_a_run_reports_a_crash(fresh_sandbox):
    sb = await fresh_sandbox(timeout=60)
    await sb.run("lost_on_kill = 1")
    process = sb._process
    run = asyncio.create_task(sb.run("while True:\n    pass"))
    await wait_for(lambda: any(started.done() for started in process.started.values()))
    os.killpg(process.proc.pid, signal.SIGKILL)
    r = await run  # no exception on the host
    assert r.error is not None
    assert r.error.type == "SandboxCrashed"
    assert r.restarted is True
    after = await sb.run("'works again'")
    assert after.result == "'works again'"
    assert after.restarted is True
    assert (await sb.run("lost_on_kill")).error.type == "NameError"


async def test_process_killed_while_idle_restarts_on_the_next_run(fresh_sandbox):
    sb = await fresh_sandbox(timeout=10)
    await sb.run("lost_when_idle = 1")
    proc = sb._process.proc
    proc.kill()
    await proc.wait()
    r = await sb.run("'fresh'")
    assert r.ok, r.error
    assert r.result == "'fresh'"
    assert r.restarted is True
    assert (await sb.run("lost_when_idle")).error.type == "NameError"


async def test_run_right_after_an_idle_kill_gives_a_clear_result(fresh_sandbox):
    sb = await fresh_sandbox(timeout=10)
    os.killpg(sb._process.proc.pid, signal.SIGKILL)
    r = await sb.run("'first'")  # no exception on the host, whichever side wins the race
    assert r.restarted is True
    assert r.ok or r.error.type == "SandboxCrashed"
    after = await sb.run("'second'")
    assert after.result == "'second'"


async def test_file_calls_after_a_kill_restart_the_sandbox(fresh_sandbox):
    sb = await fresh_sandbox(timeout=10)
    proc = sb._process.proc
    proc.kill()
    await proc.wait()
    await sb.write_file("after-kill.txt", "ok")
    assert await sb.read_file("after-kill.txt") == b"ok"


# ---- forged messages from the worker --------------------------------------------------------


async def test_forged_reply_for_an_unknown_request_is_ignored(limited):
    await limited.run("kept_after_forgery = 'x'")
    code = js("globalThis.postMessage({type: 'done', id: 999, json: '{}'})") + "'genuine'"
    r = await limited.run(code)
    assert r.ok, r.error
    assert r.result == "'genuine'"
    assert (await limited.run("kept_after_forgery")).result == "'x'"
    assert (await limited.run("3 * 3")).result == "9"


def next_request_id(sb: Sandbox) -> int:
    """The id the host gives its next request (ids are sequential, so hostile code can guess)."""
    return int(repr(sb._process.ids).removeprefix("count(").removesuffix(")"))


def forge_done(request_id: int, json_expr: str) -> str:
    """Sandboxed code posting a forged 'done' reply for request_id, then ending honestly."""
    return js(f"postMessage({{type: 'done', id: {request_id}, json: {json_expr}}})") + "'genuine'"


async def test_forged_reply_for_the_next_request_is_ignored(limited):
    await limited.run("None")  # started, nothing pending
    forged = forge_done(next_request_id(limited) + 1, "JSON.stringify({result: 'forged'})")
    r = await limited.run(forged)
    assert r.ok, r.error
    assert r.result == "'genuine'"
    assert (await limited.run("'next'")).result == "'next'"


async def test_unreadable_forged_reply_for_the_current_run_is_at_most_an_error(limited):
    await limited.run("None")
    r = await limited.run(forge_done(next_request_id(limited), "'not json {'"))
    # no exception on the host: the forgery is ignored or reported
    assert r.result == "'genuine'" if r.ok else r.error.type == "ProtocolError"
    assert (await limited.run("'next'")).result == "'next'"


async def test_forged_reply_with_inconsistent_images_is_at_most_an_error(limited):
    await limited.run("None")
    forged = "JSON.stringify({images: [10, 20], stdout: 5, result: 7, error: 'x', cut: 3})"
    r = await limited.run(forge_done(next_request_id(limited), forged))
    assert r.error is None or r.error.type == "ProtocolError"
    assert r.images == []
    assert (await limited.run("'next'")).result == "'next'"


async def test_forged_events_and_calls_are_ignored(limited):
    code = (
        js(
            "postMessage({type: 'ready'});"
            "postMessage({type: 'started', id: 123456});"
            "postMessage({type: 'call', callId: 77, op: 'install', json: 'not json'});"
            "postMessage({type: 'call', callId: 78, op: 'rm -rf /', json: '{}'});"
            "postMessage({type: 'call', callId: 'x', op: 'install'});"
            "postMessage(null); postMessage('text'); postMessage(42);"
        )
        + "'genuine'"
    )
    r = await limited.run(code)
    assert r.ok, r.error
    assert r.result == "'genuine'"
    assert (await limited.run("'next'")).result == "'next'"
