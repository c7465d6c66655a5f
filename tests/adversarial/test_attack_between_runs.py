"""Between runs nothing of the sandbox runs.

A busy timer or asyncio task left behind by a run, or a nested worker, would
keep burning CPU after the run returned. The host's watchdog ends a process
that uses CPU while the host waits for nothing; the next run starts a fresh one
with /workspace restored. Mount requests that arrive between runs are refused.
"""

from __future__ import annotations

import asyncio

import pytest
from adversarial.helpers import cpu_over, still_works
from snippets import js

from throwaway import mounts

LEFT_BEHIND = {
    "busy_interval": js(
        "setInterval(() => { const t = Date.now(); while (Date.now() - t < 95) {} }, 100)"
    ),
    "busy_timeout_chain": js(
        "const spin = () => { const t = Date.now(); while (Date.now() - t < 50) {} "
        "setTimeout(spin, 0) }; setTimeout(spin, 0)"
    ),
    "asyncio_task": (
        "import asyncio, time\n"
        "async def spin():\n"
        "    while True:\n"
        "        t = time.time()\n"
        "        while time.time() - t < 0.05: pass\n"
        "        await asyncio.sleep(0)\n"
        "keep = asyncio.ensure_future(spin())"
    ),
}


@pytest.mark.parametrize("name", list(LEFT_BEHIND))
async def test_code_left_running_after_a_run_is_stopped(fresh_sandbox, name):
    sb = await fresh_sandbox(timeout=3)
    await sb.run("open('kept.txt', 'w').write('files survive')\nx = 1")
    pid = sb.pid
    r = await sb.run(LEFT_BEHIND[name])
    assert r.error is None, r.error
    await asyncio.sleep(3)  # the watchdog's window, twice over
    assert await cpu_over(pid, 1.0) < 0.15
    r = await sb.run("open('kept.txt').read()")
    assert r.result == "'files survive'" and r.restarted
    await still_works(sb)


async def test_idle_sandbox_is_left_alone(fresh_sandbox):
    sb = await fresh_sandbox(timeout=3)
    await sb.run("import asyncio\nx = 1\nkeep = asyncio.ensure_future(asyncio.sleep(60))")
    await asyncio.sleep(2.5)
    r = await sb.run("x")
    assert r.result == "1" and not r.restarted


async def test_a_mount_write_after_the_run_returned_is_refused(fresh_sandbox, tmp_path):
    sb = await fresh_sandbox(timeout=3, mounts={"out": mounts.LocalDir(tmp_path, writable=True)})
    code = (
        "import asyncio\n"
        "async def late():\n"
        "    await asyncio.sleep(0.5)\n"
        "    try:\n"
        "        open('/mnt/out/late.txt', 'w').write('late')\n"
        "        print('written')\n"
        "    except OSError as e:\n"
        "        globals()['late_error'] = e.errno\n"
        "keep = asyncio.ensure_future(late())"
    )
    r = await sb.run(code)
    assert r.ok and r.changes.created == []
    await asyncio.sleep(1.0)
    assert not (tmp_path / "late.txt").exists()
    r = await sb.run("late_error > 0")  # refused with an OSError (how hostfs maps it varies)
    assert r.result == "True", r.error
    assert (await sb.run("1")).changes.created == []
