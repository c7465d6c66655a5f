"""Overhead of one MCP tool call made from sandboxed code, beyond the server's own time.

Calls mcp-server-time's get_current_time N times from the host directly through
the MCP session (the baseline: the server's time plus the stdio round trip) and
N times from code in the sandbox (`from tools import time`); prints medians and
the difference. Nothing is asserted.

    .venv/bin/python bench/mcp_bench.py [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

from throwaway import Sandbox
from throwaway.mcp.tools import McpServers, ServerSpec

SPEC = f"time={Path(sys.executable).parent / 'mcp-server-time'} --local-timezone UTC"
PROBE = """
import json, time as clock
from tools import time
samples = []
for _ in range({n}):
    t = clock.perf_counter(); time.get_current_time(timezone="UTC")
    samples.append((clock.perf_counter() - t) * 1e3)
print(json.dumps(samples))
"""


async def main(calls: int) -> None:
    async with McpServers([ServerSpec.parse(SPEC)]) as servers:
        direct = []
        for _ in range(calls):
            started = time.perf_counter()
            await servers.call_tool("time", "get_current_time", {"timezone": "UTC"})
            direct.append((time.perf_counter() - started) * 1e3)
        async with Sandbox(functions=servers.functions(), timeout=600) as sandbox:
            result = await sandbox.run(PROBE.format(n=calls))
    from_code = json.loads(result.stdout)
    host, code = statistics.median(direct), statistics.median(from_code)
    print(f"{'MCP call, median of ' + str(calls):34} {'ms':>8}")
    print(f"{'host -> server (baseline)':34} {host:8.3f}")
    print(f"{'sandboxed code -> host -> server':34} {code:8.3f}")
    print(f"{'overhead of the sandbox bridge':34} {code - host:8.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    asyncio.run(main(parser.parse_args().calls))
