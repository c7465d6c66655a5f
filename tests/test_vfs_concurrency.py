"""Sandboxes wait on the host's providers without waiting on each other."""

from __future__ import annotations

import asyncio
import threading

from throwaway import Sandbox, mounts


async def test_two_sandboxes_reading_at_once_do_not_block_each_other():
    """Each read waits until the other sandbox's read has arrived: serialized, it deadlocks."""
    arrived = {"a": asyncio.Event(), "b": asyncio.Event()}

    def provider(me: str, other: str) -> mounts.Callable:
        async def read(path: str) -> str:
            arrived[me].set()
            await asyncio.wait_for(arrived[other].wait(), 20)
            return f"{me} saw {other}"

        return mounts.Callable(read=read, list=lambda path: ["x.txt"])

    a = Sandbox(mounts={"m": provider("a", "b")}, mount_timeout=30)
    b = Sandbox(mounts={"m": provider("b", "a")}, mount_timeout=30)
    async with a, b:
        ra, rb = await asyncio.gather(
            a.run("open('/mnt/m/x.txt').read()"), b.run("open('/mnt/m/x.txt').read()")
        )
    assert (ra.result, rb.result) == ("'a saw b'", "'b saw a'")


async def test_a_blocking_provider_does_not_stall_the_host_loop():
    """A sync provider runs in a thread: the event loop keeps serving while it blocks."""
    release = threading.Event()

    def read(path: str) -> bytes:
        release.wait(20)
        return b"done"

    async with Sandbox(mounts={"m": mounts.Callable(read=read)}) as sb:
        run = asyncio.create_task(sb.run("open('/mnt/m/slow').read()"))
        ticks = 0
        while not run.done() and ticks < 5:
            await asyncio.sleep(0.05)  # the loop is free while the provider blocks
            ticks += 1
        release.set()
        result = await run
    assert ticks == 5
    assert result.result == "'done'"


async def test_fsync_commits_an_open_file_at_once(tmp_path):
    """Seen through a second mount of the same folder, which reads what the host has."""
    out = tmp_path / "out"
    out.mkdir()
    both = {"out": mounts.LocalDir(out, writable=True), "again": mounts.LocalDir(out)}
    async with Sandbox(mounts=both) as sb:
        r = await sb.run(
            "import os\nf = open('/mnt/out/log.txt', 'w'); f.write('early'); f.flush()\n"
            "before = open('/mnt/again/log.txt').read()\nos.fsync(f.fileno())\n"
            "(before, open('/mnt/again/log.txt').read())"
        )
        assert r.result == repr(("", "early"))
        await sb.run("f.write(' late'); f.close()")
        assert (out / "log.txt").read_text() == "early late"
