"""Forged requests cannot balloon the host.

The honest worker makes one blocking call at a time. The host answers at most
MAX_SYNC_INFLIGHT of them at once (the rest are dropped: the caller times out),
at most MAX_CALLS_INFLIGHT asynchronous calls (the rest are refused), and waits
for the pipe to take each answer before it takes on another (backpressure).
"""

from __future__ import annotations

import asyncio
import json

import psutil
from adversarial.helpers import still_works
from snippets import js

from throwaway import mounts
from throwaway.sandbox.process import MAX_CALLS_INFLIGHT, MAX_SYNC_INFLIGHT

BIG = 8 << 20


def forge(kind: str, count: int, request: dict) -> str:
    """Code that posts ``count`` forged requests, then waits 3 s for the host to work."""
    body = json.dumps(json.dumps(request))
    seq = "seq" if kind == "sync" else "callId"
    return (
        js(
            f"for (let i = 0; i < {count}; i++) "
            f"postMessage({{type: '{kind}', {seq}: 1000 + i, op: 'install', json: {body}}})"
        )
        + "\nimport time\ntime.sleep(3)"
    )


async def test_forged_big_reads_do_not_grow_the_host(fresh_sandbox, tmp_path):
    (tmp_path / "big.bin").write_bytes(b"x" * BIG)
    sb = await fresh_sandbox(timeout=10, mounts={"data": mounts.LocalDir(tmp_path)})
    host = psutil.Process()
    before = host.memory_info().rss
    read = {"op": "read", "mount": "data", "path": "big.bin", "offset": 0, "size": BIG}
    r = await sb.run(forge("sync", 300, read))
    grown = host.memory_info().rss - before
    assert grown < (MAX_SYNC_INFLIGHT + 8) * BIG, f"host grew by {grown >> 20} MB"
    assert r.error is None or r.error.type != "ProtocolError"
    await still_works(sb)


async def test_forged_install_calls_are_bounded(fresh_sandbox):
    sb = await fresh_sandbox(timeout=10, allow_install=False)
    process = sb._process
    honest = process.on_call
    active = peak = 0

    async def counting(op, payload, blob):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            await asyncio.sleep(0.2)  # a slow package index
            return await honest(op, payload, blob)
        finally:
            active -= 1

    process.on_call = counting
    r = await sb.run(forge("call", 400, {"requirements": ["openpyxl"]}))
    assert r.error is None, r.error
    assert 1 <= peak <= MAX_CALLS_INFLIGHT
    await still_works(sb)
