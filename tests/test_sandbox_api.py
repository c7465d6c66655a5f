"""What `Sandbox.run` and the file methods give back, seen by a user of the library."""

from __future__ import annotations

import asyncio
import glob
import os
import re
import struct
import uuid

import pytest

import throwaway
from throwaway import Sandbox, SandboxFileError, SandboxPool

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG (from its IHDR chunk); fails if data is not a PNG."""
    assert data[:8] == PNG_SIGNATURE, data[:16]
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def unique_dir() -> str:
    """A workspace folder of our own inside the shared sandbox."""
    return f"t-{uuid.uuid4().hex[:8]}"


# ---- start-up ------------------------------------------------------------------


async def test_sandbox_starts_from_the_memory_snapshot(sandbox):
    # snapshot=True is the default; a snapshot that cannot be made must not go unnoticed,
    # since every start then pays for a failed snapshot boot plus a cold one
    path = sandbox.snapshot_file
    assert path, "the sandbox started cold: no memory snapshot could be made or found"
    assert os.path.isfile(path)


# ---- run(): output, result, errors ------------------------------------------


async def test_stdout_and_stderr_are_captured_separately(sandbox):
    r = await sandbox.run("import sys\nprint('one')\nprint('two', file=sys.stderr)\nprint('three')")
    assert r.ok
    assert r.stdout == "one\nthree\n"
    assert r.stderr == "two\n"


async def test_result_is_the_repr_of_the_last_expression(sandbox):
    r = await sandbox.run("x = [1, 'a']\nx + [None]")
    assert r.ok
    assert r.result == "[1, 'a', None]"


async def test_result_is_none_when_the_code_ends_with_a_statement(sandbox):
    r = await sandbox.run("y = 40 + 2")
    assert r.ok
    assert r.result is None


async def test_result_is_none_when_the_last_expression_is_none(sandbox):
    r = await sandbox.run("print('side effect')")
    assert r.ok
    assert r.result is None
    assert r.stdout == "side effect\n"


async def test_error_has_type_message_and_traceback(sandbox):
    code = "def check(n):\n    raise ValueError(f'bad value {n}')\n\nprint('before')\ncheck(7)\n"
    r = await sandbox.run(code)
    assert not r.ok
    assert r.error.type == "ValueError"
    assert r.error.message == "bad value 7"
    assert r.error.traceback.startswith("Traceback (most recent call last):")
    assert re.search(r'File "<cell \d+>", line 5, in <module>\n    check\(7\)', r.error.traceback)
    assert re.search(r'File "<cell \d+>", line 2, in check\n    raise', r.error.traceback)
    assert r.error.traceback.rstrip().endswith("ValueError: bad value 7")
    assert r.stdout == "before\n"  # output before the error is kept
    assert r.result is None


async def test_traceback_shows_only_user_frames(sandbox):
    r = await sandbox.run("def f():\n    return 1 / 0\nf()")
    assert r.error.type == "ZeroDivisionError"
    tb = re.sub(r"<cell \d+>", "<cell>", r.error.traceback)
    frames = [line for line in tb.splitlines() if line.lstrip().startswith("File ")]
    assert frames == [
        '  File "<cell>", line 3, in <module>',
        '  File "<cell>", line 2, in f',
    ]


async def test_traceback_into_a_library_hides_the_sandbox_runtime(sandbox):
    r = await sandbox.run("import json\njson.loads('{')")
    assert r.error.type == "JSONDecodeError"
    tb = re.sub(r"<cell \d+>", "<cell>", r.error.traceback)
    frames = [line for line in tb.splitlines() if line.lstrip().startswith("File ")]
    assert frames[0] == '  File "<cell>", line 2, in <module>'
    for hidden in ("/lib/throwaway/", "_pyodide", "_throwaway_runner", "runner.py"):
        assert hidden not in r.error.traceback


async def test_syntax_error_is_reported_as_an_error(sandbox):
    r = await sandbox.run("def broken(:\n    pass")
    assert r.error.type == "SyntaxError"
    assert re.search(r'File "<cell \d+>", line 1', r.error.traceback)
    assert "SyntaxError" in r.error.traceback


async def test_duration_ms_is_reported(sandbox):
    r = await sandbox.run("sum(range(1000))")
    assert isinstance(r.duration_ms, float)
    assert r.duration_ms > 0


async def test_state_persists_across_runs(sandbox):
    await sandbox.run("import math\ncounter_api = 1\ndef double(n):\n    return 2 * n")
    await sandbox.run("counter_api += 1")
    r = await sandbox.run("double(counter_api) + math.floor(0.5)")
    assert r.ok
    assert r.result == "4"
    assert r.restarted is False


async def test_top_level_await_works(sandbox):
    r = await sandbox.run("import asyncio\nawait asyncio.sleep(0)\n'awaited'")
    assert r.ok, r.error
    assert r.result == "'awaited'"


async def test_zoneinfo_knows_new_york(sandbox):
    code = (
        "import datetime\nfrom zoneinfo import ZoneInfo\n"
        "datetime.datetime(2024, 7, 1, 12, tzinfo=ZoneInfo('America/New_York')).isoformat()"
    )
    r = await sandbox.run(code)
    assert r.ok, r.error
    assert r.result == "'2024-07-01T12:00:00-04:00'"


# ---- bundled packages, offline ---------------------------------------------

BUNDLED = {
    "numpy": ("import numpy as np\nint(np.arange(10).sum())", "45"),
    "pandas": (
        "import pandas as pd\nint(pd.DataFrame({'a': [1, 2, 3]})['a'].sum())",
        "6",
    ),
    "matplotlib": ("import matplotlib\nmatplotlib.get_backend()", "'module://_throwaway_backend'"),
    "pillow": ("from PIL import Image\nImage.new('RGB', (3, 2)).size", "(3, 2)"),
    "scipy": ("import scipy.stats\nround(float(scipy.stats.norm.cdf(0)), 3)", "0.5"),
}


@pytest.mark.parametrize("package", list(BUNDLED))
async def test_bundled_package_imports_offline(sandbox, package):
    code, expected = BUNDLED[package]
    r = await sandbox.run(code, timeout=60)
    assert r.ok, r.error
    assert r.result == expected


# ---- images ------------------------------------------------------------------


async def test_plt_show_returns_a_png(sandbox):
    r = await sandbox.run(
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()", timeout=60
    )
    assert r.ok, r.error
    assert len(r.images) == 1
    png_size(r.images[0])


async def test_each_plt_show_is_its_own_image(sandbox):
    code = (
        "import matplotlib.pyplot as plt\nfor i in range(2):\n    plt.plot([i, 1])\n    plt.show()"
    )
    r = await sandbox.run(code, timeout=60)
    assert r.ok, r.error
    assert len(r.images) == 2
    assert r.images[0] != r.images[1]


async def test_figure_as_last_expression_is_an_image_not_a_result(sandbox):
    code = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([3, 1, 2])\nfig"
    r = await sandbox.run(code, timeout=60)
    assert r.ok, r.error
    assert len(r.images) == 1
    png_size(r.images[0])
    assert r.result is None


async def test_pil_image_passed_to_display_is_an_image(sandbox):
    code = "from PIL import Image\ndisplay(Image.new('RGB', (10, 20), 'red'))"
    r = await sandbox.run(code, timeout=60)
    assert r.ok, r.error
    assert [png_size(i) for i in r.images] == [(10, 20)]


async def test_pil_image_as_last_expression_is_an_image(sandbox):
    r = await sandbox.run("from PIL import Image\nImage.new('L', (7, 5))", timeout=60)
    assert r.ok, r.error
    assert [png_size(i) for i in r.images] == [(7, 5)]
    assert r.result is None


async def test_display_prints_what_is_not_an_image(sandbox):
    r = await sandbox.run("display(1, 'a')")
    assert r.ok
    assert r.stdout == "1\n'a'\n"
    assert r.images == []


async def test_open_figures_not_shown_are_captured_at_the_end(sandbox):
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.figure()\nplt.plot([1, 2])\n"
        "plt.figure()\nplt.plot([2, 1])\n"
        "None"
    )
    r = await sandbox.run(code, timeout=60)
    assert r.ok, r.error
    assert len(r.images) == 2
    for png in r.images:
        png_size(png)
    after = await sandbox.run("import matplotlib.pyplot as plt\nlen(plt.get_fignums())")
    assert after.result == "0"  # captured figures are closed, not shown again
    assert after.images == []


async def test_a_shown_figure_is_not_captured_twice(sandbox):
    r = await sandbox.run("import matplotlib.pyplot as plt\nplt.plot([1])\nplt.show()", timeout=60)
    assert len(r.images) == 1


async def test_a_run_without_images_has_an_empty_image_list(sandbox):
    r = await sandbox.run("1 + 1")
    assert r.images == []


# ---- files -------------------------------------------------------------------


async def test_write_file_with_a_relative_path_lands_in_workspace(sandbox):
    folder = unique_dir()
    await sandbox.write_file(f"{folder}/notes.txt", "hello from the host")
    r = await sandbox.run(f"open('/workspace/{folder}/notes.txt').read()")
    assert r.result == "'hello from the host'"


async def test_code_runs_with_workspace_as_working_directory(sandbox):
    folder = unique_dir()
    await sandbox.write_file(f"{folder}/cwd.txt", "relative")
    r = await sandbox.run(f"import os\n(os.getcwd(), open('{folder}/cwd.txt').read())")
    assert r.result == "('/workspace', 'relative')"


async def test_read_file_returns_what_the_code_wrote(sandbox):
    folder = unique_dir()
    code = (
        f"import os\nos.makedirs('/workspace/{folder}')\n"
        f"open('/workspace/{folder}/out.bin', 'wb').write(bytes(range(256)))"
    )
    assert (await sandbox.run(code)).ok
    assert await sandbox.read_file(f"{folder}/out.bin") == bytes(range(256))
    assert await sandbox.read_file(f"/workspace/{folder}/out.bin") == bytes(range(256))


async def test_binary_files_round_trip(sandbox):
    folder = unique_dir()
    data = os.urandom(200_000)
    await sandbox.write_file(f"{folder}/blob.bin", data)
    assert await sandbox.read_file(f"/workspace/{folder}/blob.bin") == data


async def test_list_files_names_the_entries_sorted(sandbox):
    folder = unique_dir()
    for name in ("b.txt", "a.txt", "sub/c.txt"):
        await sandbox.write_file(f"{folder}/{name}", name)
    assert await sandbox.list_files(folder) == ["a.txt", "b.txt", "sub"]
    assert await sandbox.list_files(f"/workspace/{folder}/sub") == ["c.txt"]
    assert folder in await sandbox.list_files()


async def test_read_of_a_missing_file_raises_sandbox_file_error(sandbox):
    with pytest.raises(SandboxFileError):
        await sandbox.read_file(f"{unique_dir()}/missing.txt")


async def test_sandbox_file_error_is_an_oserror(sandbox):
    with pytest.raises(OSError):
        await sandbox.read_file("/no/such/file")


async def test_list_of_a_missing_folder_raises_sandbox_file_error(sandbox):
    with pytest.raises(SandboxFileError):
        await sandbox.list_files(f"/workspace/{unique_dir()}")


async def test_read_of_a_folder_raises_sandbox_file_error(sandbox):
    folder = unique_dir()
    await sandbox.write_file(f"{folder}/x.txt", "x")
    with pytest.raises(SandboxFileError):
        await sandbox.read_file(folder)


async def test_sandbox_still_runs_after_a_file_error(sandbox):
    with pytest.raises(SandboxFileError):
        await sandbox.read_file("missing-for-good.txt")
    assert (await sandbox.run("'fine'")).result == "'fine'"


# ---- the blocking facade -------------------------------------------------------


def test_sync_facade_runs_code_keeps_state_and_moves_files():
    with Sandbox.sync(timeout=10) as sb:
        assert isinstance(sb, throwaway.SyncSandbox)
        assert sb.run("x = 2").ok
        assert sb.run("x * 3").result == "6"
        sb.write_file("in.txt", "data")
        assert sb.run("open('in.txt').read().upper()").result == "'DATA'"
        assert sb.read_file("in.txt") == b"data"
        assert "in.txt" in sb.list_files()


async def test_sync_facade_works_inside_a_running_event_loop():
    sb = Sandbox.sync(timeout=10)
    try:
        sb.start()
        assert sb.run("6 * 7").result == "42"
    finally:
        sb.close()


# ---- the warm pool ---------------------------------------------------------------


def _deno_children() -> set[int]:
    """Live (not zombie) Deno processes whose parent is this test process."""
    found = set()
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        state, ppid = text[text.rindex(")") + 2 :].split()[:2]
        if name == "deno" and int(ppid) == os.getpid() and state != "Z":
            found.add(int(stat.split("/")[2]))
    return found


@pytest.fixture
def reap_deno():
    """Kill (by id) any Deno process a pool test leaves running, so it cannot outlive the test."""
    before = _deno_children()
    yield before
    for pid in _deno_children() - before:
        os.kill(pid, 9)


async def test_pool_hands_out_started_distinct_never_used_sandboxes(reap_deno):
    async with SandboxPool(size=2, timeout=10) as pool:
        first = await pool.acquire()
        second = await pool.acquire()
        try:
            assert first is not second
            assert first.pid is not None and second.pid is not None  # started
            assert first.pid != second.pid
            for sb in (first, second):  # never used: a clean namespace and workspace
                r = await sb.run("sorted(k for k in globals() if not k.startswith('__'))")
                assert r.result == "[]"
                assert r.restarted is False
                assert await sb.list_files() == []
            await first.run("mine = 'first'")
            r = await second.run("'mine' in globals()")
            assert r.result == "False"
        finally:
            await first.close()
            await second.close()


async def test_a_pool_is_ready_once_its_first_sandbox_is(reap_deno):
    async with SandboxPool(size=2, timeout=10) as pool:
        assert pool.ready >= 1
        sb = await pool.acquire()
        try:
            assert sb.pid is not None
            await pool.wait_full()
            assert pool.ready == 2
        finally:
            await sb.close()


async def test_a_pool_whose_sandboxes_cannot_start_raises_their_error(reap_deno):
    with pytest.raises(ValueError, match="memory_mb"):
        async with SandboxPool(size=1, memory_mb=1):
            pass
    pool = SandboxPool(size=1, memory_mb=1)
    try:
        for _ in range(2):  # each call tries again, and fails again
            with pytest.raises(ValueError, match="memory_mb"):
                await asyncio.wait_for(pool.acquire(), 60)  # a guard: it used to hang
    finally:
        await pool.close()


async def test_closing_the_pool_leaves_no_deno_process_behind(reap_deno):
    before = reap_deno
    pool = SandboxPool(size=1, timeout=10)
    taken = await pool.acquire()  # the pool now refills in the background
    try:
        mine = {taken.pid}
        for _ in range(600):  # wait until the refill has spawned its Deno process
            if _deno_children() - before - mine:
                break
            await asyncio.sleep(0.05)
        await pool.close()  # returns once the processes it ended are reaped
        leaked = _deno_children() - before - mine
        assert leaked == set(), f"Deno processes left running after pool.close(): {leaked}"
    finally:
        await pool.close()
        await taken.close()


# ---- argument validation -------------------------------------------------------


@pytest.mark.parametrize("timeout", [0, -1, -0.5])
def test_non_positive_timeout_is_refused(timeout):
    with pytest.raises(ValueError):
        Sandbox(timeout=timeout)


@pytest.mark.parametrize("memory_mb", [0, 64, 127, 4097, 100_000])
def test_memory_outside_128_to_4096_mb_is_refused(memory_mb):
    with pytest.raises(ValueError):
        Sandbox(memory_mb=memory_mb)


@pytest.mark.parametrize("memory_mb", [128, 4096])
def test_memory_at_the_bounds_is_accepted(memory_mb):
    assert Sandbox(memory_mb=memory_mb).memory_mb == memory_mb


def test_tiny_output_limit_is_refused():
    with pytest.raises(ValueError):
        Sandbox(output_limit=10)


def test_pool_of_size_zero_is_refused():
    with pytest.raises(ValueError):
        SandboxPool(size=0)


@pytest.mark.parametrize("timeout", [0, -1])
async def test_run_refuses_a_non_positive_timeout(sandbox, timeout):
    with pytest.raises(ValueError):
        await sandbox.run("1 + 1", timeout=timeout)


async def test_cancelling_a_run_ends_the_interpreter_and_the_next_run_starts_fresh(
    fresh_sandbox, tmp_path
):
    from throwaway.vfs.spec import MountSpec

    sb = await fresh_sandbox(
        timeout=60, mounts={"out": MountSpec("out", str(tmp_path), True).provider()}
    )
    await sb.run("x = 1\nopen('/workspace/kept.txt', 'w').write('kept')")
    code = "import time\nopen('/mnt/out/started', 'w').close()\ntime.sleep(50)"
    running = asyncio.create_task(sb.run(code))
    while not (tmp_path / "started").exists():
        await asyncio.sleep(0.02)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    after = await sb.run("open('/workspace/kept.txt').read(), 'x' in globals()")
    assert after.result == "('kept', False)"
    assert after.restarted is True
