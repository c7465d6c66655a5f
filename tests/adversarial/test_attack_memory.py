"""memory_mb bounds the whole process, not only the wasm heap.

Inside: every JavaScript way of making a WebAssembly.Memory is clamped, and each
JS heap has V8's limit. Outside: the host's watchdog ends a process whose resident
memory passes memory_mb + RSS_MARGIN_MB; the run gets a MemoryError naming the cap.
"""

from __future__ import annotations

import psutil
import pytest
from adversarial.helpers import still_works
from snippets import js

from throwaway.sandbox.watchdog import RSS_MARGIN_MB

MEMORY_MB = 256
PAGES = MEMORY_MB * 16  # 64 KiB pages


@pytest.fixture(scope="module")
async def small():
    from throwaway import Sandbox

    sb = Sandbox(timeout=20, memory_mb=MEMORY_MB)
    await sb.start()
    try:
        yield sb
    finally:
        await sb.close()


@pytest.mark.parametrize(
    "make",
    [
        "new WebAssembly.Memory({initial: 1, maximum: 65536})",
        "new WebAssembly.Memory({initial: 1})",
        "new (WebAssembly.Memory.prototype.constructor)({initial: 1, maximum: 65536})",
        "new (new WebAssembly.Memory({initial: 1}).constructor)({initial: 1, maximum: 65536})",
        "new (class extends WebAssembly.Memory {})({initial: 1, maximum: 65536})",
        "new WebAssembly.Memory({initial: 1, maximum: 65536, shared: true})",
        "Reflect.construct(WebAssembly.Memory, [{initial: 1, maximum: 65536}])",
    ],
)
async def test_every_way_of_making_a_memory_is_clamped(small, make):
    r = await small.run(js(f"const m = {make}; try {{ m.grow({PAGES}); return 'grew' }} "
                           "catch (e) { return e.name }"))  # fmt: skip
    assert r.result == "'RangeError'", (r.result, r.error)


async def test_the_clamp_cannot_be_undone(small):
    body = (
        "const N = WebAssembly.Memory; try { WebAssembly.Memory = function () {} } catch {}"
        "try { N.prototype.constructor = function () {} } catch {}"
        "return WebAssembly.Memory === N && N.prototype.constructor === N"
    )
    assert (await small.run(js(body))).result == "True"


async def test_memory_past_the_cap_at_once_is_refused(small):
    r = await small.run(js(f"new WebAssembly.Memory({{initial: {PAGES + 16}}})"))
    assert r.error is not None and "RangeError" in r.error.message
    await still_works(small)


async def test_no_nested_workers_in_the_sandbox(small):
    r = await small.run(js("return typeof Worker"))
    assert r.result == "'undefined'"


@pytest.mark.parametrize(
    "attack",
    [
        # typed arrays live outside the wasm heap
        js("globalThis.hog = []; for (;;) globalThis.hog.push(new Uint8Array(64 << 20).fill(7))"),
        # a big in-memory file in /workspace
        "with open('big.bin', 'wb') as f:\n"
        "    for _ in range(10_000):\n"
        "        f.write(b'x' * (16 << 20))",
    ],
    ids=["typed_arrays", "workspace_file"],
)
async def test_resident_memory_past_the_cap_ends_the_process(fresh_sandbox, attack):
    sb = await fresh_sandbox(timeout=60, memory_mb=MEMORY_MB)
    pid = sb.pid
    r = await sb.run(attack)
    assert r.error is not None and r.error.type == "MemoryError", r.error
    assert f"memory_mb={MEMORY_MB}" in r.error.message and r.restarted
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    await still_works(sb)


def test_the_margin_is_documented():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert f"{RSS_MARGIN_MB} MB" in readme
