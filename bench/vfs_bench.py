"""Mount benchmarks, against the targets in DESIGN.md (nothing is asserted).

Timed inside the sandbox with ``time.perf_counter``, on a LocalDir mount and, as
the baseline in the same run, on /workspace (the interpreter's own memory):

1. small-file read: ``open(p, 'rb').read()`` of a 1 KiB file, warm: p50 / p90;
2. large file: reading and writing 200 MiB: MB/s;
3. ``os.listdir`` of a folder with 1,000 entries, and ``os.stat`` of each;
4. ``os.walk`` with ``os.stat`` of every file over 10,000 files in 10 folders;
5. peak memory of the sandbox process (Deno's RSS, sampled every 64 MiB) while
   one file of 1 GiB is written in 8 MiB pieces, each side in a fresh sandbox.

    .venv/bin/python bench/vfs_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path

from throwaway import Sandbox, mounts

PROBE = """
import json, os, statistics, time
def timed(fn, n):
    out = []
    for _ in range(n):
        t = time.perf_counter(); fn(); out.append((time.perf_counter() - t) * 1e3)
    return out
def read(p):
    with open(p, "rb") as f: return f.read()
def figures(base, n, big_mb):
    small, big, folder = f"{base}/small.bin", f"{base}/big.bin", f"{base}/many"
    lat = sorted(timed(lambda: read(small), n))
    t = time.perf_counter(); size = len(read(big)); read_s = time.perf_counter() - t
    data = os.urandom(big_mb << 20)
    t = time.perf_counter()
    with open(f"{base}/written.bin", "wb") as f: f.write(data)
    write_s = time.perf_counter() - t
    ls = statistics.median(timed(lambda: os.listdir(folder), 5))
    st = statistics.median(timed(lambda: [os.stat(f"{folder}/{n}") for n in os.listdir(folder)], 3))
    walk_stat = lambda: [os.stat(f"{d}/{f}") for d, _, fs in os.walk(base + "/tree") for f in fs]
    walk = statistics.median(timed(walk_stat, 3))
    return {"small_p50_ms": lat[len(lat) // 2], "small_p90_ms": lat[int(len(lat) * .9)],
            "read_MBps": size / read_s / 1e6, "write_MBps": len(data) / write_s / 1e6,
            "listdir_1000_ms": ls, "stat_1000_ms": st, "walk_stat_10000_ms": walk}
mount, memory = figures("/mnt/data", N, BIG), figures("/workspace", N, BIG)
print(json.dumps({"mount": mount, "workspace": memory}))
"""

#: Writes PIECES × 8 MiB (1 GiB) to PATH; prints the peak RSS of the sandbox's Deno process, in MiB.
BIG_WRITE = """
import json, pyodide.ffi
usage = pyodide.ffi.to_js({}).constructor.constructor("return Deno.memoryUsage().rss")
piece, peak = bytes(8 << 20), usage()
with open(PATH, "wb") as f:
    for i in range(PIECES):
        f.write(piece)
        if i % 8 == 7:
            peak = max(peak, usage())
peak = max(peak, usage())
print(json.dumps(peak / 2**20))
"""

TARGETS = {"small_p50_ms": "≤ 0.5 ms", "read_MBps": "≥ 200 MB/s", "write_MBps": "≥ 200 MB/s"}


def prepare(folder: Path, big_mb: int) -> None:
    (folder / "small.bin").write_bytes(os.urandom(1024))
    (folder / "big.bin").write_bytes(os.urandom(big_mb << 20))
    (folder / "many").mkdir()
    for i in range(1000):
        (folder / "many" / f"f{i:04}.txt").write_bytes(b"x")
    for d in range(10):
        (folder / "tree" / f"d{d}").mkdir(parents=True)
        for i in range(1000):
            (folder / "tree" / f"d{d}" / f"f{i:04}.txt").write_bytes(b"x" * (i % 7))


async def main(quick: bool) -> None:
    n, big_mb = (200, 32) if quick else (1000, 200)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prepare(folder, big_mb)
        sandbox = Sandbox(timeout=600, memory_mb=4096,
                          mounts={"data": mounts.LocalDir(folder, writable=True)})  # fmt: skip
        async with sandbox:
            setup = (
                "import os, shutil\nshutil.copytree('/mnt/data', '/workspace', dirs_exist_ok=True)"
            )
            await sandbox.run(setup)
            result = await sandbox.run(PROBE.replace("N, BIG", f"{n}, {big_mb}"))
        pieces = 32 if quick else 128
        peaks = {side: await peak_write_mib(folder, path, pieces) for side, path in
                 (("mount", "/mnt/data/gib.bin"), ("workspace", "/workspace/gib.bin"))}  # fmt: skip
    if result.error:
        raise SystemExit(str(result.error))
    figures = json.loads(result.stdout)
    for side, peak in peaks.items():
        figures[side]["write_1GiB_peak_MiB"] = peak
    print(f"{'figure':22} {'mount':>12} {'/workspace':>12}  target")
    for key in figures["mount"]:
        mount, memory = figures["mount"][key], figures["workspace"][key]
        print(f"{key:22} {mount:12.3f} {memory:12.3f}  {TARGETS.get(key, '')}")
    print(f"(file size {big_mb} MiB, {n} small reads; /workspace is the in-memory baseline)")


async def peak_write_mib(folder: Path, path: str, pieces: int) -> float:
    sandbox = Sandbox(timeout=600, memory_mb=4096,
                      mounts={"data": mounts.LocalDir(folder, writable=True)})  # fmt: skip
    sandbox.mounts.max_file_bytes = 2 << 30  # past the default 512 MiB per file
    async with sandbox:
        code = BIG_WRITE.replace("PATH", repr(path)).replace("PIECES", str(pieces))
        result = await sandbox.run(code)
    if result.error:
        raise SystemExit(str(result.error))
    (folder / "gib.bin").unlink(missing_ok=True)
    return json.loads(result.stdout)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, smaller files")
    asyncio.run(main(parser.parse_args().quick))
